/* The transfer (fetch/fetch.h): one URL's body pushed into the caller's
 * sink by libcurl, attempt after attempt, resumed with Range and If-Range,
 * with backoff between attempts. What each attempt's outcome means is
 * classify.c's table; header values are read by http.c. */
#include "fetch/fetch.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <mcu-ota/cleanup.h>

#include "fetch/job.h"
#include "util/format.h"
#include "util/log.h"
#include "util/trusted_file.h"

/* The body of an error response is read (so the connection stays usable)
 * up to this much, then the transfer stops. */
#define ERROR_BODY_MAX (64u * 1024u)

/* Forget what the sink holds. counted: a change on the server, of which at
 * most max_restarts are taken; else a start over that every retry may need
 * (nothing to resume from safely), bounded by the attempts. */
static int sink_reset(struct job *j, const char *why, bool counted)
{
	if (!j->o->reset) {
		j->stop = counted ? STOP_CHANGED_NO_RESET : STOP_NO_VALIDATOR;
		return -1;
	}
	if (counted && j->res->restarts >= j->max_restarts) {
		j->stop = STOP_RESTARTS;
		return -1;
	}
	log_debug("fetch %s: %s; starting over from byte 0", j->url, why);
	j->sink_err[0] = '\0';
	int rc = j->o->reset(j->o->ctx, j->sink_err, sizeof(j->sink_err));
	if (rc < 0) {
		j->stop = STOP_SINK;
		j->sink_rc = rc;
		return -1;
	}
	j->res->restarts++;
	j->offset = 0;
	j->total = 0;
	j->etag[0] = j->last_modified[0] = '\0';
	if (j->o->progress)
		j->o->progress(j->o->ctx, 0, 0);
	return 0;
}

/* A 206: whether it is the rest of the content the sink holds (and its
 * size noted), or something else (the stop set). */
static bool same_rest(struct job *j)
{
	struct response *r = &j->r;
	bool etag_differs = j->etag[0] && strcmp(j->etag, r->etag) != 0;
	bool date_differs =
	    !j->etag[0] && j->last_modified[0] && strcmp(j->last_modified, r->last_modified) != 0;
	/* we asked for "offset-": the rest, to the end of the same size */
	bool range_differs = !r->has_range || r->range_start != j->offset ||
	                     (r->range_total && r->range_end != r->range_total - 1) ||
	                     (j->total && r->range_total != j->total) ||
	                     (r->has_length && r->length != r->range_end - r->range_start + 1);
	if (range_differs || etag_differs || date_differs) {
		log_debug("fetch %s: 206 for another version or range (%" PRIu64 "-%" PRIu64
		          "/%" PRIu64 ", want %" PRIu64 "-/%" PRIu64 ")",
		          j->url, r->range_start, r->range_end, r->range_total, j->offset,
		          j->total);
		j->stop = STOP_CHANGED;
		return false;
	}
	if (r->range_total)
		j->total = r->range_total;
	return true;
}

/* The header block of a response is complete: decide what its body is. */
static int headers_done(struct job *j)
{
	struct response *r = &j->r;
	j->deliver = false;
	if (r->status >= 300 && r->status < 400 && r->has_location)
		return 0; /* a redirect: libcurl follows it */
	if (r->status == 206) {
		if (!same_rest(j))
			return -1;
	} else if (r->status >= 200 && r->status < 300) {
		/* the whole content from byte 0 */
		if (j->offset > 0) {
			bool changed = (j->etag[0] && strcmp(j->etag, r->etag) != 0) ||
			               (j->last_modified[0] &&
			                strcmp(j->last_modified, r->last_modified) != 0);
			if (sink_reset(j,
			               changed ? "the file changed on the server"
			                       : "the server ignored the range request",
			               true) < 0)
				return -1;
		}
		snprintf(j->etag, sizeof(j->etag), "%s", r->etag);
		snprintf(j->last_modified, sizeof(j->last_modified), "%s", r->last_modified);
		j->total = r->has_length ? r->length : 0;
	} else {
		return 0; /* 304, or an error: the body is not ours */
	}
	if (j->total > j->max_size) {
		j->too_big_size = j->total;
		j->stop = STOP_TOO_BIG_DECLARED;
		return -1;
	}
	if (r->status != 206 && j->o->content) {
		j->sink_err[0] = '\0';
		int rc = j->o->content(j->o->ctx, j->etag, j->last_modified, j->total, j->sink_err,
		                       sizeof(j->sink_err));
		if (rc < 0) {
			j->stop = STOP_SINK;
			j->sink_rc = rc;
			return -1;
		}
	}
	j->deliver = true;
	if (j->o->progress)
		j->o->progress(j->o->ctx, j->offset, j->total);
	return 0;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct job *j = userdata;
	size_t n = size * nitems;
	struct response *r = &j->r;
	if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		memset(r, 0, sizeof(*r));
		j->deliver = false;
		size_t i = 5;
		while (i < n && buf[i] != ' ')
			i++;
		long status = 0;
		for (i++; i < n && buf[i] >= '0' && buf[i] <= '9' && status < 1000; i++)
			status = status * 10 + (buf[i] - '0');
		r->status = status;
		return n;
	}
	if (n <= 2 && (buf[0] == '\r' || buf[0] == '\n'))
		return headers_done(j) < 0 ? 0 : n;
	const char *colon = memchr(buf, ':', n);
	if (!colon)
		return n;
	size_t name_len = (size_t)(colon - buf);
	const char *v = colon + 1;
	size_t vlen = n - name_len - 1;
	while (vlen && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
#define IS(name) (name_len == sizeof(name) - 1 && strncasecmp(buf, name, name_len) == 0)
	if (IS("etag"))
		copy_value(r->etag, sizeof(r->etag), v, vlen);
	else if (IS("last-modified"))
		copy_value(r->last_modified, sizeof(r->last_modified), v, vlen);
	else if (IS("retry-after"))
		copy_value(r->retry_after, sizeof(r->retry_after), v, vlen);
	else if (IS("content-length"))
		r->has_length = parse_u64(v, vlen, &r->length);
	else if (IS("content-range"))
		parse_content_range(r, v, vlen);
	else if (IS("location"))
		r->has_location = true;
#undef IS
	return n;
}

static uint64_t now_ms(void);
static bool wait_ms(const struct fetch_options *o, uint64_t ms);

/* libcurl's CURLOPT_MAX_RECV_SPEED_LARGE averages over seconds and lets a
 * fast start through whole (libcurl 7.88 drains the socket before it looks);
 * holding the write callback back to the rate keeps even the first seconds
 * under the cap, and the full TCP window slows the sender down. */
static bool pace(struct job *j, size_t n)
{
	uint64_t now = now_ms();
	if (!j->pace_start_ms)
		j->pace_start_ms = now;
	j->pace_bytes += n;
	uint64_t due = j->pace_start_ms + j->pace_bytes * 1000u / j->o->max_recv_speed;
	return due <= now || wait_ms(j->o, due - now);
}

static size_t on_body(char *buf, size_t size, size_t nmemb, void *userdata)
{
	struct job *j = userdata;
	size_t n = size * nmemb;
	if (j->stop != STOP_NONE)
		return 0;
	if (!j->deliver) {
		j->discarded += n;
		if (j->discarded > ERROR_BODY_MAX) {
			j->stop = STOP_ERROR_BODY;
			return 0;
		}
		return n;
	}
	j->res->transferred += n;
	if (j->offset + n > j->max_size) {
		j->stop = STOP_TOO_BIG;
		return 0;
	}
	j->sink_err[0] = '\0';
	int rc = j->o->sink(j->o->ctx, (const uint8_t *)buf, n, j->sink_err, sizeof(j->sink_err));
	if (rc < 0) {
		j->stop = STOP_SINK;
		j->sink_rc = rc;
		return 0;
	}
	j->offset += n;
	if (j->o->progress)
		j->o->progress(j->o->ctx, j->offset, j->total);
	if (j->o->max_recv_speed && !pace(j, n))
		return 0; /* canceled while waiting */
	return n;
}

static int on_xferinfo(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	struct job *j = userdata;
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return j->o->cancel && *j->o->cancel ? 1 : 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Sleep ms, waking every 100 ms to look at the cancel flag. */
static bool wait_ms(const struct fetch_options *o, uint64_t ms)
{
	uint64_t end = now_ms() + ms;
	for (;;) {
		if (o->cancel && *o->cancel)
			return false;
		uint64_t now = now_ms();
		if (now >= end)
			return true;
		uint64_t step = end - now < 100 ? end - now : 100;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(step * 1000000u)};
		nanosleep(&ts, NULL);
	}
}

static _Thread_local uint64_t jitter_state;

static uint64_t random_u64(void)
{
	if (!jitter_state)
		jitter_state =
		    (now_ms() << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)&jitter_state;
	/* xorshift64*: spreading clients apart needs no more than this */
	jitter_state ^= jitter_state >> 12;
	jitter_state ^= jitter_state << 25;
	jitter_state ^= jitter_state >> 27;
	return jitter_state * 2685821657736338717ull;
}

/* Options that stay the same for every attempt. */
static int setup(CURL *c, struct job *j, const char *url, char *curl_msg, char *err, size_t errlen)
{
	const struct fetch_options *o = j->o;
	unsigned lsl = low_speed_limit(o);
	unsigned lst = o->low_speed_time_s ? o->low_speed_time_s : FETCH_DEFAULT_LOW_SPEED_TIME_S;
	const char *protocols = o->allow_http ? "https,http" : "https";
	CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(c, opt, val);                                        \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, protocols);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, protocols);
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, curl_msg);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (o->ca_file || o->ca_dir) {
		/* the given CAs replace the system's: an operator pinning its own
		 * CA does not want every public CA trusted too */
		SET(CURLOPT_CAINFO, o->ca_file);
		SET(CURLOPT_CAPATH, o->ca_dir);
	}
	if (o->client_cert) {
		SET(CURLOPT_SSLCERT, o->client_cert);
		SET(CURLOPT_SSLCERTTYPE, "PEM");
		SET(CURLOPT_SSLKEY, o->client_key ? o->client_key : o->client_cert);
		SET(CURLOPT_SSLKEYTYPE, "PEM");
		if (o->client_key_password)
			SET(CURLOPT_KEYPASSWD, o->client_key_password);
	}
	if (o->proxy)
		SET(CURLOPT_PROXY, o->proxy);
	SET(CURLOPT_USERAGENT, o->user_agent ? o->user_agent : "mcu-ota");
	SET(CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(o->connect_timeout_ms ? o->connect_timeout_ms
	                                 : FETCH_DEFAULT_CONNECT_TIMEOUT_MS));
	SET(CURLOPT_LOW_SPEED_LIMIT, (long)lsl);
	SET(CURLOPT_LOW_SPEED_TIME, (long)lst);
	if (o->max_recv_speed)
		SET(CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)o->max_recv_speed);
	SET(CURLOPT_BUFFERSIZE, 64L * 1024L);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, j);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, j);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_xferinfo);
	SET(CURLOPT_XFERINFODATA, j);
#undef SET
	if (rc != CURLE_OK) {
		mcu_ota_set_error(err, errlen, "%s: libcurl refused an option (%s)", j->url,
		                  curl_easy_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

/* Readable, and changeable by nobody but root or us (util/trusted_file.h): a
 * CA others may write lets them vouch for any server; a client key others
 * may read lets them pass for this device. */
static int check_readable(const char *what, const char *path, enum trusted_kind kind,
                          const char *url, char *err, size_t errlen)
{
	char why[768];
	if (path && access(path, R_OK) < 0) {
		int e = errno;
		mcu_ota_set_error(err, errlen, "%s: cannot read the %s %s: %s", url, what, path,
		                  strerror(e));
		return -e;
	}
	int r = path ? trusted_file_check(what, path, kind, why, sizeof(why)) : 0;
	if (r < 0)
		mcu_ota_set_error(err, errlen, "%s: %s", url, why);
	return r;
}

/* Before any request: what the options and the URL allow. 0, or a code
 * with err set. */
static int preflight(struct job *j, const char *url, char *err, size_t errlen)
{
	const struct fetch_options *o = j->o;
	bool is_https = strncasecmp(url, "https://", 8) == 0;
	bool is_http = strncasecmp(url, "http://", 7) == 0;
	int r = 0;
	if (!o->sink)
		j->stop = STOP_NO_SINK;
	else if (!is_https && !(is_http && o->allow_http))
		j->stop = is_http ? STOP_PLAIN_HTTP : STOP_NOT_HTTPS;
	/* without a client key the certificate's file holds the key too */
	enum trusted_kind cert_kind = o->client_key ? TRUSTED_PUBLIC : TRUSTED_SECRET;
	if (j->stop == STOP_NONE &&
	    ((r = check_readable("CA file", o->ca_file, TRUSTED_PUBLIC, j->url, err, errlen)) < 0 ||
	     (r = check_readable("CA directory", o->ca_dir, TRUSTED_PUBLIC, j->url, err, errlen)) <
	         0 ||
	     (r = check_readable("client certificate", o->client_cert, cert_kind, j->url, err,
	                         errlen)) < 0 ||
	     (r = check_readable("client key", o->client_key, TRUSTED_SECRET, j->url, err,
	                         errlen)) < 0)) {
		j->res->error = FETCH_ERR_LOCAL;
		return r;
	}
	if (j->stop == STOP_NONE && o->client_key && !o->client_cert)
		j->stop = STOP_KEY_WITHOUT_CERT;
	if (j->stop != STOP_NONE)
		classify(j, NULL, CURLE_OK, "", false, &r, err, errlen);
	return r;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* libcurl, set up for this job. */
static int open_curl(CURL **out, struct job *j, const char *url, char *curl_msg, char *err,
                     size_t errlen)
{
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		j->res->error = FETCH_ERR_LOCAL;
		mcu_ota_set_error(err, errlen, "%s: libcurl cannot start (%s)", j->url,
		                  curl_easy_strerror(global_rc));
		return -ENOMEM;
	}
	if (!(*out = curl_easy_init())) {
		j->res->error = FETCH_ERR_LOCAL;
		mcu_ota_set_error(err, errlen, "%s: out of memory for libcurl", j->url);
		return -ENOMEM;
	}
	int r = setup(*out, j, url, curl_msg, err, errlen);
	if (r < 0)
		j->res->error = FETCH_ERR_USAGE;
	return r;
}

/* If-Range: a changed file comes back whole (200). NULL when nothing ties
 * the bytes held to what the server has now. */
static const char *resume_validator(const struct job *j)
{
	if (j->etag[0] && strncmp(j->etag, "W/", 2) != 0)
		return j->etag;
	return j->last_modified[0] ? j->last_modified : NULL;
}

static bool add_header(struct curl_slist **h, const char *name, const char *value)
{
	char line[FETCH_MAX_VALIDATOR + 32];
	snprintf(line, sizeof(line), "%s: %s", name, value);
	struct curl_slist *l = curl_slist_append(*h, line);
	if (l)
		*h = l;
	return l != NULL;
}

/* The request headers of an attempt: the range's validator when the sink
 * holds a part, else the conditional ones. -ENOMEM, or 0. */
static int request_headers(const struct job *j, const char *validator, struct curl_slist **h)
{
	const struct fetch_options *o = j->o;
	bool ok = true;
	if (j->offset)
		ok = add_header(h, "If-Range", validator);
	if (!j->offset && o->if_none_match)
		ok = add_header(h, "If-None-Match", o->if_none_match);
	if (!j->offset && o->if_modified_since && ok)
		ok = add_header(h, "If-Modified-Since", o->if_modified_since);
	return ok ? 0 : -ENOMEM;
}

/* One request, from the bytes the sink holds on: its verdict, *code and
 * err as classify() gives them. */
static enum verdict attempt(struct job *j, CURL *c, char *curl_msg, uint64_t deadline, int *code,
                            char *err, size_t errlen)
{
	_cleanup_(curl_slist_freep) struct curl_slist *headers = NULL;
	char range[48];
	/* without a validator a Range request could splice two files */
	const char *validator = resume_validator(j);
	if (j->offset && !validator &&
	    sink_reset(j, "no ETag or Last-Modified to resume with", false) < 0)
		return classify(j, c, CURLE_OK, "", false, code, err, errlen);
	if (request_headers(j, validator, &headers) < 0) {
		j->res->error = FETCH_ERR_LOCAL;
		mcu_ota_set_error(err, errlen, "%s: out of memory", j->url);
		*code = -ENOMEM;
		return FINAL;
	}
	snprintf(range, sizeof(range), "%" PRIu64 "-", j->offset);
	uint64_t now = now_ms();
	curl_easy_setopt(c, CURLOPT_RANGE, j->offset ? range : NULL);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, deadline > now ? (long)(deadline - now) : 1L);

	memset(&j->r, 0, sizeof(j->r));
	j->pace_bytes = j->pace_start_ms = 0;
	j->deliver = false;
	j->discarded = 0;
	j->stop = STOP_NONE;
	curl_msg[0] = '\0';
	j->res->attempts++;
	log_debug("fetch %s: attempt %u%s%s", j->url, j->res->attempts,
	          j->offset ? ", from byte " : "", j->offset ? range : "");
	CURLcode rc = curl_easy_perform(c);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status)
		j->r.status = status;
	j->res->http_status = j->r.status;
	enum verdict v = classify(j, c, rc, curl_msg, now_ms() >= deadline, code, err, errlen);
	log_debug("fetch %s: curl %d, HTTP %ld, %" PRIu64 " bytes held: %s", j->url, rc,
	          j->r.status, j->offset, *code ? err : "ok");
	return v;
}

/* The result of the last attempt, for the caller. */
static int done(struct job *j, int code)
{
	const struct fetch_options *o = j->o;
	struct fetch_result *res = j->res;
	res->size = j->offset;
	res->total = j->total;
	if (res->not_modified) {
		snprintf(res->etag, sizeof(res->etag), "%s",
		         j->r.etag[0]       ? j->r.etag
		         : o->if_none_match ? o->if_none_match
		                            : "");
		snprintf(res->last_modified, sizeof(res->last_modified), "%s",
		         j->r.last_modified[0]  ? j->r.last_modified
		         : o->if_modified_since ? o->if_modified_since
		                                : "");
	} else if (code == 0) {
		snprintf(res->etag, sizeof(res->etag), "%s", j->etag);
		snprintf(res->last_modified, sizeof(res->last_modified), "%s", j->last_modified);
		res->error = FETCH_ERR_NONE;
	}
	return code;
}

/* The last attempt's error, and why there is no other. */
static int gave_up(struct job *j, int code, const char *why, char *err, size_t errlen)
{
	size_t l = strlen(err);
	mcu_ota_set_error(err + l, errlen > l ? errlen - l : 0, " (gave up after %u attempt%s%s)",
	                  j->res->attempts, j->res->attempts == 1 ? "" : "s", why);
	return done(j, code);
}

/* How long to wait before the next attempt: Retry-After when the server
 * said so, else exponential backoff with jitter. */
static uint64_t backoff_ms(const struct job *j, unsigned *step)
{
	const struct fetch_options *o = j->o;
	uint64_t base = o->retry_base_ms ? o->retry_base_ms : FETCH_DEFAULT_RETRY_BASE_MS;
	uint64_t most = o->retry_max_ms ? o->retry_max_ms : FETCH_DEFAULT_RETRY_MAX_MS;
	uint64_t after_max =
	    o->retry_after_max_ms ? o->retry_after_max_ms : FETCH_DEFAULT_RETRY_AFTER_MAX_MS;
	long status = j->r.status;
	long long ra =
	    status == 429 || status == 503 || status == 408 ? retry_after_ms(j->r.retry_after) : -1;
	if (ra >= 0)
		return (uint64_t)ra < after_max ? (uint64_t)ra : after_max;
	uint64_t d = base << (*step < 20 ? *step : 20);
	if (d > most)
		d = most;
	(*step)++;
	return d / 2 + random_u64() % (d / 2 + 1);
}

int fetch_url(const char *url, const struct fetch_options *o, struct fetch_result *result,
              char *err, size_t errlen)
{
	struct fetch_result local;
	struct fetch_result *res = result ? result : &local;
	memset(res, 0, sizeof(*res));
	mcu_ota_set_error(err, errlen, "%s", "");

	struct job j = {.o = o, .res = res};
	fetch_redact_url(url, j.url, sizeof(j.url));
	j.max_size = o->max_size ? o->max_size : FETCH_DEFAULT_MAX_SIZE;
	j.max_restarts = o->max_restarts ? o->max_restarts : FETCH_DEFAULT_MAX_RESTARTS;
	unsigned max_attempts = o->max_attempts ? o->max_attempts : FETCH_DEFAULT_MAX_ATTEMPTS;
	uint64_t deadline =
	    now_ms() + 1000ull * (o->max_time_s ? o->max_time_s : FETCH_DEFAULT_MAX_TIME_S);
	if (o->resume_offset) {
		j.offset = o->resume_offset;
		j.total = o->resume_total;
		snprintf(j.etag, sizeof(j.etag), "%s", o->resume_etag ? o->resume_etag : "");
		snprintf(j.last_modified, sizeof(j.last_modified), "%s",
		         o->resume_last_modified ? o->resume_last_modified : "");
	}
	int code = preflight(&j, url, err, errlen);
	_cleanup_(curl_easy_cleanupp) CURL *c = NULL;
	char curl_msg[CURL_ERROR_SIZE];
	if (code < 0 || (code = open_curl(&c, &j, url, curl_msg, err, errlen)) < 0)
		return code;

	for (unsigned step = 0;;) {
		uint64_t offset_before = j.offset;
		enum verdict v = attempt(&j, c, curl_msg, deadline, &code, err, errlen);
		if (v == FINAL)
			return done(&j, code);
		/* another version of the file: start over at once */
		if (v == RESTART && j.offset &&
		    sink_reset(&j, "the file changed on the server", true) < 0) {
			classify(&j, c, CURLE_OK, "", false, &code, err, errlen);
			return done(&j, code);
		}
		if (v == RESTART && res->attempts < max_attempts + j.max_restarts)
			continue;
		if (res->attempts >= max_attempts)
			return gave_up(&j, code, "", err, errlen);
		if (j.offset > offset_before)
			step = 0; /* progress: start low again */
		uint64_t delay = backoff_ms(&j, &step);
		if (now_ms() + delay >= deadline)
			return gave_up(&j, code, ": the time limit is near", err, errlen);
		log_debug("fetch %s: retrying in %" PRIu64 " ms", j.url, delay);
		if (!wait_ms(o, delay)) {
			j.stop = STOP_CANCELED;
			classify(&j, c, CURLE_OK, "", false, &code, err, errlen);
			return done(&j, code);
		}
	}
}
