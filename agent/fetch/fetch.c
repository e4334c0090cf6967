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
#include <openssl/x509_vfy.h>

#include "util/trusted_file.h"
#include "util/format.h"
#include "util/log.h"

/* The body of an error response is read (so the connection stays usable)
 * up to this much, then the transfer stops. */
#define ERROR_BODY_MAX (64u * 1024u)
#define MAX_REDIRECTS  5

/* What the response being received says, reset at each status line (a
 * redirect or a 100 Continue brings several header blocks). */
struct response {
	long status;
	bool has_length, has_range, has_location;
	uint64_t length;                              /* Content-Length */
	uint64_t range_start, range_end, range_total; /* Content-Range; total 0 when "*" */
	char etag[FETCH_MAX_VALIDATOR];
	char last_modified[FETCH_MAX_VALIDATOR];
	char retry_after[64];
};

enum stop {
	STOP_NONE,
	STOP_TOO_BIG,      /* content length or bytes over the cap */
	STOP_CHANGED,      /* 206 of another version, or a range we did not ask for */
	STOP_SINK,         /* the sink or reset refused */
	STOP_RESTARTS,     /* changed more often than max_restarts (or no reset) */
	STOP_NO_VALIDATOR, /* cannot resume safely and cannot start over (no reset) */
	STOP_ERROR_BODY    /* enough of an error page */
};

struct job {
	const struct fetch_options *o;
	char url[512]; /* redacted, for messages */
	uint64_t max_size;
	unsigned max_restarts;

	/* The content the sink holds: its first `offset` bytes, and the
	 * validators it came with. */
	uint64_t offset, total;
	char etag[FETCH_MAX_VALIDATOR];
	char last_modified[FETCH_MAX_VALIDATOR];

	struct response r;
	bool deliver; /* this response's body goes to the sink */
	uint64_t discarded;
	enum stop stop;
	int sink_rc;
	uint64_t too_big_size; /* what hit the cap: a declared size, or 0 */
	/* bandwidth cap: body bytes and start time of this attempt */
	uint64_t pace_bytes, pace_start_ms;
	char sink_err[1024];

	struct fetch_result *res;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void fetch_redact_url(const char *url, char *out, size_t outlen)
{
	const char *p = url, *scheme_end = strstr(url, "://");
	size_t used = 0;
	if (!outlen)
		return;
	out[0] = '\0';
#define PUT(s, n)                                                                                  \
	do {                                                                                       \
		size_t n_ = (n);                                                                   \
		if (used + n_ >= outlen)                                                           \
			n_ = outlen - 1 - used;                                                    \
		memcpy(out + used, (s), n_);                                                       \
		used += n_;                                                                        \
		out[used] = '\0';                                                                  \
	} while (0)
	if (scheme_end) {
		PUT(url, (size_t)(scheme_end + 3 - url));
		p = scheme_end + 3;
		size_t auth_len = strcspn(p, "/?#");
		const char *at = NULL;
		for (size_t i = 0; i < auth_len; i++)
			if (p[i] == '@')
				at = p + i;
		if (at) {
			auth_len -= (size_t)(at + 1 - p);
			p = at + 1;
		}
		PUT(p, auth_len);
		p += auth_len;
	}
	size_t path_len = strcspn(p, "?#");
	PUT(p, path_len);
	if (p[path_len] == '?')
		PUT("?...", 4);
#undef PUT
}

static void copy_value(char *dst, size_t dstlen, const char *v, size_t n)
{
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* "bytes START-END/TOTAL" or "bytes START-END/ *". The last Content-Range
 * counts: one that does not parse leaves no range (not half of one over an
 * earlier header's). */
static void parse_content_range(struct response *r, const char *v, size_t n)
{
	uint64_t start, end, total = 0;
	r->has_range = false;
	if (n < 6 || strncasecmp(v, "bytes ", 6) != 0)
		return;
	v += 6;
	n -= 6;
	size_t a = 0;
	while (a < n && v[a] != '-')
		a++;
	size_t slash = a;
	while (slash < n && v[slash] != '/')
		slash++;
	if (a == n || slash == n || !parse_u64(v, a, &start) ||
	    !parse_u64(v + a + 1, slash - a - 1, &end) || end < start)
		return;
	if (!(slash + 2 == n && v[slash + 1] == '*') &&
	    !parse_u64(v + slash + 1, n - slash - 1, &total))
		return;
	r->range_start = start;
	r->range_end = end;
	r->range_total = total;
	r->has_range = true;
}

/* Forget what the sink holds. counted: a change on the server, of which at
 * most max_restarts are taken; else a start over that every retry may need
 * (nothing to resume from safely), bounded by the attempts. */
static int sink_reset(struct job *j, const char *why, bool counted)
{
	if (!j->o->reset) {
		j->stop = counted ? STOP_RESTARTS : STOP_NO_VALIDATOR;
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

/* The header block of a response is complete: decide what its body is. */
static int headers_done(struct job *j)
{
	struct response *r = &j->r;
	j->deliver = false;
	if (r->status >= 300 && r->status < 400 && r->has_location)
		return 0; /* a redirect: libcurl follows it */
	if (r->status == 206) {
		/* the rest of the content the sink holds, or something else */
		bool etag_differs = j->etag[0] && strcmp(j->etag, r->etag) != 0;
		bool date_differs = !j->etag[0] && j->last_modified[0] &&
		                    strcmp(j->last_modified, r->last_modified) != 0;
		/* we asked for "offset-": the rest, to the end of the same size */
		bool range_differs =
		    !r->has_range || r->range_start != j->offset ||
		    (r->range_total && r->range_end != r->range_total - 1) ||
		    (j->total && r->range_total != j->total) ||
		    (r->has_length && r->length != r->range_end - r->range_start + 1);
		if (range_differs || etag_differs || date_differs) {
			log_debug("fetch %s: 206 for another version or range (%" PRIu64 "-%" PRIu64
			          "/%" PRIu64 ", want %" PRIu64 "-/%" PRIu64 ")",
			          j->url, r->range_start, r->range_end, r->range_total, j->offset,
			          j->total);
			j->stop = STOP_CHANGED;
			return -1;
		}
		if (r->range_total)
			j->total = r->range_total;
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
		j->stop = STOP_TOO_BIG;
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
		j->too_big_size = 0;
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

/* Retry-After: delay-seconds or an HTTP date; ms to wait, or -1. */
static long long retry_after_ms(const char *v)
{
	uint64_t secs;
	if (!v[0])
		return -1;
	if (parse_u64(v, strlen(v), &secs))
		return secs > 86400 ? 86400000ll : (long long)secs * 1000;
	time_t when = curl_getdate(v, NULL);
	if (when < 0)
		return -1;
	time_t now = time(NULL);
	/* a date far ahead (year 2123456789) is a day too: times 1000 it would overflow */
	if (when <= now)
		return 0;
	return when - now > 86400 ? 86400000ll : (long long)(when - now) * 1000;
}

/* The sentence for a TLS verification failure, from OpenSSL's verdict. */
static void tls_error(char *err, size_t errlen, const char *url, const char *host, long verify,
                      const char *curl_msg, const struct fetch_options *o)
{
	const char *ca = o->ca_file ? o->ca_file : o->ca_dir ? o->ca_dir : "the system's CA store";
	/* libcurl checks the host name itself, after OpenSSL accepted the
	 * chain: then the verify result says nothing (OK or "unspecified") */
	if ((verify == X509_V_OK || verify == X509_V_ERR_UNSPECIFIED) &&
	    strstr(curl_msg, "host name"))
		verify = X509_V_ERR_HOSTNAME_MISMATCH;
	switch (verify) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		mcu_ota_set_error(
		    err, errlen,
		    "%s: the server's certificate is not for host \"%s\" (%s): use the host "
		    "name the certificate was issued for, or ask the server's operator for "
		    "a certificate that names \"%s\"",
		    url, host, curl_msg, host);
		break;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		mcu_ota_set_error(
		    err, errlen,
		    "%s: the server's certificate has expired: the server's operator must "
		    "renew it (or this device's clock is wrong: check the date)",
		    url);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		mcu_ota_set_error(
		    err, errlen,
		    "%s: the server's certificate is not valid yet: check this device's "
		    "clock (the date may be unset)",
		    url);
		break;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		mcu_ota_set_error(
		    err, errlen,
		    "%s: the server's certificate is not signed by a trusted CA (%s, checked "
		    "against %s): give the CA that issued it with --tls-ca or --tls-ca-dir",
		    url, X509_verify_cert_error_string(verify), ca);
		break;
	case X509_V_ERR_CERT_REVOKED:
		mcu_ota_set_error(err, errlen, "%s: the server's certificate has been revoked",
		                  url);
		break;
	default:
		mcu_ota_set_error(
		    err, errlen,
		    "%s: the server's certificate does not verify (%s, checked against %s)", url,
		    X509_verify_cert_error_string(verify), ca);
		break;
	}
}

/* Host (and port) of url for messages, without user info. */
static void url_host(const char *url, char *out, size_t outlen)
{
	CURLU *u = curl_url();
	char *host = NULL;
	out[0] = '\0';
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		snprintf(out, outlen, "%s", host);
	curl_free(host);
	curl_url_cleanup(u);
}

/* A bandwidth cap below the low-speed limit would make every transfer a
 * "stall": the limit is then half the cap. */
static unsigned low_speed_limit(const struct fetch_options *o)
{
	uint64_t l = o->low_speed_limit ? o->low_speed_limit : FETCH_DEFAULT_LOW_SPEED_LIMIT;
	if (o->max_recv_speed && l > o->max_recv_speed / 2)
		l = o->max_recv_speed / 2 ? o->max_recv_speed / 2 : 1;
	return (unsigned)l;
}

enum verdict { FINAL, RETRY, RESTART };

/* Turn one attempt's outcome into an error sentence and a verdict. */
static enum verdict classify(struct job *j, CURL *c, CURLcode rc, const char *curl_msg,
                             bool deadline_passed, int *code, char *err, size_t errlen)
{
	const struct fetch_options *o = j->o;
	char host[256], sz[32];
	url_host(j->url, host, sizeof(host));
	const char *msg = curl_msg[0] ? curl_msg : curl_easy_strerror(rc);
	long status = j->r.status;

	switch (j->stop) {
	case STOP_SINK:
		*code = j->sink_rc;
		j->res->error = FETCH_ERR_SINK;
		mcu_ota_set_error(err, errlen, "%s",
		                  j->sink_err[0] ? j->sink_err : "stopped by the reader");
		return FINAL;
	case STOP_TOO_BIG:
		*code = -EFBIG;
		j->res->error = FETCH_ERR_TOO_BIG;
		format_size(j->max_size, sz, sizeof(sz));
		if (j->too_big_size)
			mcu_ota_set_error(err, errlen,
			                  "%s: the server announces %" PRIu64
			                  " bytes, more than the size limit of %s: raise the limit "
			                  "(--max-size) if the bundle is really that large",
			                  j->url, j->too_big_size, sz);
		else
			mcu_ota_set_error(
			    err, errlen,
			    "%s: the server sent more than the size limit of %s; the download "
			    "was cut off: raise the limit (--max-size) if the bundle is really "
			    "that large",
			    j->url, sz);
		return FINAL;
	case STOP_RESTARTS:
		*code = -ESTALE;
		j->res->error = FETCH_ERR_CHANGED;
		if (!o->reset)
			mcu_ota_set_error(
			    err, errlen,
			    "%s: the file changed on the server (or the server ignored the "
			    "range request) while it was being downloaded: try again",
			    j->url);
		else
			mcu_ota_set_error(
			    err, errlen,
			    "%s: the file changed on the server %u times during the download: "
			    "try again once the server's copy stays the same",
			    j->url, j->res->restarts + 1);
		return FINAL;
	case STOP_NO_VALIDATOR:
		*code = -ESTALE;
		j->res->error = FETCH_ERR_CHANGED;
		mcu_ota_set_error(err, errlen,
		                  "%s: the download was interrupted and the server sent no ETag or "
		                  "Last-Modified that would make resuming it safe: try again",
		                  j->url);
		return FINAL;
	case STOP_CHANGED:
		*code = -ESTALE;
		j->res->error = FETCH_ERR_CHANGED;
		mcu_ota_set_error(
		    err, errlen,
		    "%s: the file changed on the server during the download: try again", j->url);
		return RESTART;
	case STOP_ERROR_BODY:
	case STOP_NONE:
		break;
	}

	if (o->cancel && *o->cancel) {
		*code = -ECANCELED;
		j->res->error = FETCH_ERR_CANCELED;
		mcu_ota_set_error(err, errlen, "%s: download canceled", j->url);
		return FINAL;
	}

	if (rc == CURLE_OK || j->stop == STOP_ERROR_BODY) {
		if (status >= 200 && status < 300) {
			if (j->total && j->offset < j->total) {
				*code = -EPROTO;
				j->res->error = FETCH_ERR_NETWORK;
				mcu_ota_set_error(err, errlen,
				                  "%s: the server ended the response after %" PRIu64
				                  " of %" PRIu64 " bytes",
				                  j->url, j->offset, j->total);
				return RETRY;
			}
			*code = 0;
			return FINAL;
		}
		if (status == 304 && (o->if_none_match || o->if_modified_since) && !j->offset) {
			*code = 0;
			j->res->not_modified = true;
			return FINAL;
		}
		if (status == 416 && j->offset) {
			*code = -ESTALE;
			j->res->error = FETCH_ERR_CHANGED;
			mcu_ota_set_error(
			    err, errlen,
			    "%s: the file on the server is shorter than the part already "
			    "received: it changed; try again",
			    j->url);
			return RESTART;
		}
		j->res->error = FETCH_ERR_HTTP;
		*code = -EIO;
		const char *hint = "";
		if (!o->client_cert && (status == 400 || status == 401 || status == 403))
			hint =
			    " (a server that requires a client certificate answers this when none "
			    "is sent: give one with --client-cert and --client-key)";
		if (status == 404 || status == 410) {
			*code = -ENOENT;
			mcu_ota_set_error(
			    err, errlen,
			    "%s: not found on the server (HTTP %ld): check the URL, the file "
			    "may have been moved or not published yet",
			    j->url, status);
			return FINAL;
		}
		if (status == 401 || status == 403) {
			*code = -EACCES;
			mcu_ota_set_error(err, errlen, "%s: the server refused access (HTTP %ld)%s",
			                  j->url, status, hint);
			return FINAL;
		}
		if (status == 408 || status == 429 || status >= 500) {
			mcu_ota_set_error(
			    err, errlen,
			    status == 429   ? "%s: the server is busy (HTTP %ld, too many "
			                      "requests): try again later"
			    : status == 408 ? "%s: the server timed out waiting for the request "
			                      "(HTTP %ld): check the network"
			                    : "%s: the server failed (HTTP %ld): try again later; "
			                      "if it lasts, tell the server's operator",
			    j->url, status);
			*code = -EIO;
			return RETRY;
		}
		if (status >= 300 && status < 400)
			mcu_ota_set_error(
			    err, errlen,
			    "%s: the server answered with a redirect (HTTP %ld) that cannot "
			    "be followed: use the final URL",
			    j->url, status);
		else
			mcu_ota_set_error(err, errlen,
			                  "%s: the server rejected the request (HTTP %ld)%s",
			                  j->url, status, hint);
		return FINAL;
	}

	j->res->error = FETCH_ERR_NETWORK;
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION: {
		long verify = 0;
		curl_easy_getinfo(c, CURLINFO_SSL_VERIFYRESULT, &verify);
		*code = -EKEYREJECTED;
		j->res->error = FETCH_ERR_TLS;
		tls_error(err, errlen, j->url, host, verify, msg, o);
		return FINAL;
	}
	case CURLE_SSL_CACERT_BADFILE:
		*code = -ENOENT;
		j->res->error = FETCH_ERR_LOCAL;
		mcu_ota_set_error(err, errlen, "%s: cannot load the CA certificates from %s (%s)",
		                  j->url,
		                  o->ca_file  ? o->ca_file
		                  : o->ca_dir ? o->ca_dir
		                              : "the system",
		                  msg);
		return FINAL;
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ENGINE_INITFAILED:
		*code = -EINVAL;
		j->res->error = FETCH_ERR_LOCAL;
		mcu_ota_set_error(
		    err, errlen,
		    "%s: cannot use the client certificate %s or its key (%s): check that "
		    "both are PEM, that they belong together and the key's password",
		    j->url, o->client_cert ? o->client_cert : "(none)", msg);
		return FINAL;
	case CURLE_UNSUPPORTED_PROTOCOL:
		*code = -EINVAL;
		j->res->error = FETCH_ERR_USAGE;
		mcu_ota_set_error(
		    err, errlen,
		    "%s: the server redirected to a URL that is not %s (%s): plain http is "
		    "refused unless allowed (--allow-http)",
		    j->url, o->allow_http ? "http or https" : "https", msg);
		return FINAL;
	case CURLE_TOO_MANY_REDIRECTS:
		*code = -ELOOP;
		j->res->error = FETCH_ERR_HTTP;
		mcu_ota_set_error(err, errlen, "%s: more than %d redirects: use the final URL",
		                  j->url, MAX_REDIRECTS);
		return FINAL;
	case CURLE_URL_MALFORMAT:
		*code = -EINVAL;
		j->res->error = FETCH_ERR_USAGE;
		mcu_ota_set_error(err, errlen, "%s: not a valid URL (%s)", j->url, msg);
		return FINAL;
	case CURLE_COULDNT_RESOLVE_PROXY:
		*code = -EHOSTUNREACH;
		mcu_ota_set_error(
		    err, errlen,
		    "%s: cannot resolve the proxy's host name (%s): check the proxy setting "
		    "or the https_proxy environment variable",
		    j->url, msg);
		return RETRY;
	case CURLE_COULDNT_RESOLVE_HOST:
		*code = -EHOSTUNREACH;
		mcu_ota_set_error(
		    err, errlen,
		    "%s: cannot resolve host name \"%s\": check the URL and this device's DNS "
		    "settings",
		    j->url, host);
		return RETRY;
	case CURLE_COULDNT_CONNECT:
		*code = -ECONNREFUSED;
		mcu_ota_set_error(
		    err, errlen,
		    "%s: cannot connect (%s): check that the server is up and that no "
		    "firewall or proxy is in the way",
		    j->url, msg);
		return RETRY;
	case CURLE_PROXY: {
		long connect_code = 0;
		curl_easy_getinfo(c, CURLINFO_HTTP_CONNECTCODE, &connect_code);
		*code = -ECONNREFUSED;
		mcu_ota_set_error(
		    err, errlen,
		    "%s: the proxy refused the connection (%s, proxy status %ld): check the "
		    "proxy setting and its credentials",
		    j->url, msg, connect_code);
		return connect_code == 407 ? FINAL : RETRY;
	}
	case CURLE_OPERATION_TIMEDOUT: {
		curl_off_t pretransfer = 0;
		curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
		*code = -ETIMEDOUT;
		unsigned lsl = low_speed_limit(o);
		unsigned lst =
		    o->low_speed_time_s ? o->low_speed_time_s : FETCH_DEFAULT_LOW_SPEED_TIME_S;
		if (deadline_passed)
			mcu_ota_set_error(
			    err, errlen, "%s: the download took longer than its time limit of %u s",
			    j->url, o->max_time_s ? o->max_time_s : FETCH_DEFAULT_MAX_TIME_S);
		else if (!pretransfer)
			mcu_ota_set_error(
			    err, errlen,
			    "%s: connecting timed out after %u ms (%s): check the network, "
			    "the server and any proxy",
			    j->url,
			    o->connect_timeout_ms ? o->connect_timeout_ms
			                          : FETCH_DEFAULT_CONNECT_TIMEOUT_MS,
			    msg);
		else
			mcu_ota_set_error(
			    err, errlen,
			    "%s: the transfer stalled (less than %u bytes/s for %u s, after "
			    "%" PRIu64 " bytes): the network or the server is too slow",
			    j->url, lsl, lst, j->offset);
		return deadline_passed ? FINAL : RETRY;
	}
	case CURLE_PARTIAL_FILE:
		*code = -EPROTO;
		mcu_ota_set_error(err, errlen,
		                  "%s: the server closed the connection after %" PRIu64
		                  " of %" PRIu64 " bytes",
		                  j->url, j->offset, j->total);
		return RETRY;
	case CURLE_GOT_NOTHING:
		*code = -ECONNRESET;
		mcu_ota_set_error(err, errlen,
		                  "%s: the server closed the connection without an answer", j->url);
		return RETRY;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		*code = -ECONNRESET;
		mcu_ota_set_error(err, errlen,
		                  "%s: the connection broke after %" PRIu64
		                  " bytes (%s): check the network",
		                  j->url, j->offset, msg);
		return RETRY;
	case CURLE_SSL_CONNECT_ERROR:
		*code = -EPROTO;
		mcu_ota_set_error(
		    err, errlen,
		    "%s: the TLS handshake failed (%s): the server may require a client "
		    "certificate (--client-cert and --client-key) or speak no TLS version "
		    "this device "
		    "accepts (1.2 or later)",
		    j->url, msg);
		return RETRY;
	case CURLE_WRITE_ERROR:
		/* from our callbacks without a reason: should not happen */
	default:
		*code = -EIO;
		mcu_ota_set_error(err, errlen, "%s: download failed (%s)", j->url, msg);
		return RETRY;
	}
}

static void cleanup_curl(CURL **c)
{
	if (*c)
		curl_easy_cleanup(*c);
}

static void cleanup_slist(struct curl_slist **l)
{
	curl_slist_free_all(*l);
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
	uint64_t base = o->retry_base_ms ? o->retry_base_ms : FETCH_DEFAULT_RETRY_BASE_MS;
	uint64_t backoff_max = o->retry_max_ms ? o->retry_max_ms : FETCH_DEFAULT_RETRY_MAX_MS;
	uint64_t after_max =
	    o->retry_after_max_ms ? o->retry_after_max_ms : FETCH_DEFAULT_RETRY_AFTER_MAX_MS;
	uint64_t deadline =
	    now_ms() + 1000ull * (o->max_time_s ? o->max_time_s : FETCH_DEFAULT_MAX_TIME_S);

	if (!o->sink) {
		res->error = FETCH_ERR_USAGE;
		mcu_ota_set_error(err, errlen, "%s: no sink for the download", j.url);
		return -EINVAL;
	}
	bool is_https = strncasecmp(url, "https://", 8) == 0;
	bool is_http = strncasecmp(url, "http://", 7) == 0;
	if (!is_https && !(is_http && o->allow_http)) {
		res->error = FETCH_ERR_USAGE;
		if (is_http)
			mcu_ota_set_error(
			    err, errlen,
			    "%s: refusing plain http: the download could be read and changed "
			    "on the way; use https://, or allow http explicitly (--allow-http)",
			    j.url);
		else
			mcu_ota_set_error(err, errlen, "%s: not an https:// URL", j.url);
		return -EINVAL;
	}
	if (o->resume_offset) {
		j.offset = o->resume_offset;
		j.total = o->resume_total;
		snprintf(j.etag, sizeof(j.etag), "%s", o->resume_etag ? o->resume_etag : "");
		snprintf(j.last_modified, sizeof(j.last_modified), "%s",
		         o->resume_last_modified ? o->resume_last_modified : "");
	}
	int r;
	/* without --client-key the certificate's file holds the key too */
	enum trusted_kind cert_kind = o->client_key ? TRUSTED_PUBLIC : TRUSTED_SECRET;
	if ((r = check_readable("CA file", o->ca_file, TRUSTED_PUBLIC, j.url, err, errlen)) < 0 ||
	    (r = check_readable("CA directory", o->ca_dir, TRUSTED_PUBLIC, j.url, err, errlen)) <
	        0 ||
	    (r = check_readable("client certificate", o->client_cert, cert_kind, j.url, err,
	                        errlen)) < 0 ||
	    (r = check_readable("client key", o->client_key, TRUSTED_SECRET, j.url, err, errlen)) <
	        0) {
		res->error = FETCH_ERR_LOCAL;
		return r;
	}
	if (o->client_key && !o->client_cert) {
		res->error = FETCH_ERR_USAGE;
		mcu_ota_set_error(err, errlen, "%s: a client key needs its certificate (--cert)",
		                  j.url);
		return -EINVAL;
	}

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		res->error = FETCH_ERR_LOCAL;
		mcu_ota_set_error(err, errlen, "%s: libcurl cannot start (%s)", j.url,
		                  curl_easy_strerror(global_rc));
		return -ENOMEM;
	}
	_cleanup_(cleanup_curl) CURL *c = curl_easy_init();
	if (!c) {
		res->error = FETCH_ERR_LOCAL;
		mcu_ota_set_error(err, errlen, "%s: out of memory for libcurl", j.url);
		return -ENOMEM;
	}
	char curl_msg[CURL_ERROR_SIZE];
	if ((r = setup(c, &j, url, curl_msg, err, errlen)) < 0) {
		res->error = FETCH_ERR_USAGE;
		return r;
	}

	unsigned backoff_step = 0;
	for (;;) {
		/* per attempt: the range, its validator, the conditional headers */
		_cleanup_(cleanup_slist) struct curl_slist *headers = NULL;
		char range[48], line[FETCH_MAX_VALIDATOR + 32];
		bool ok = true;
		/* If-Range: a changed file comes back whole (200). Without a
		 * validator nothing ties the bytes held to what the server has
		 * now: a Range request could splice two files, so start over. */
		const char *validator = NULL;
		if (j.etag[0] && strncmp(j.etag, "W/", 2) != 0)
			validator = j.etag;
		else if (j.last_modified[0])
			validator = j.last_modified;
		if (j.offset && !validator &&
		    sink_reset(&j, "no ETag or Last-Modified to resume with", false) < 0) {
			int code = 0;
			classify(&j, c, CURLE_OK, "", false, &code, err, errlen);
			res->size = j.offset;
			return code;
		}
		if (j.offset) {
			snprintf(range, sizeof(range), "%" PRIu64 "-", j.offset);
			snprintf(line, sizeof(line), "If-Range: %s", validator);
			ok = (headers = curl_slist_append(headers, line)) != NULL;
		} else {
			if (o->if_none_match && ok) {
				snprintf(line, sizeof(line), "If-None-Match: %s", o->if_none_match);
				ok = (headers = curl_slist_append(headers, line)) != NULL;
			}
			if (o->if_modified_since && ok) {
				snprintf(line, sizeof(line), "If-Modified-Since: %s",
				         o->if_modified_since);
				ok = (headers = curl_slist_append(headers, line)) != NULL;
			}
		}
		if (!ok) {
			res->error = FETCH_ERR_LOCAL;
			mcu_ota_set_error(err, errlen, "%s: out of memory", j.url);
			return -ENOMEM;
		}
		uint64_t now = now_ms();
		long left = deadline > now ? (long)(deadline - now) : 1;
		curl_easy_setopt(c, CURLOPT_RANGE, j.offset ? range : NULL);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, left);

		memset(&j.r, 0, sizeof(j.r));
		j.pace_bytes = j.pace_start_ms = 0;
		j.deliver = false;
		j.discarded = 0;
		j.stop = STOP_NONE;
		curl_msg[0] = '\0';
		uint64_t offset_before = j.offset;
		res->attempts++;
		log_debug("fetch %s: attempt %u%s%s", j.url, res->attempts,
		          j.offset ? ", from byte " : "", j.offset ? range : "");
		CURLcode rc = curl_easy_perform(c);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
		long status = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (status)
			j.r.status = status;
		res->http_status = j.r.status;

		int code = 0;
		enum verdict v =
		    classify(&j, c, rc, curl_msg, now_ms() >= deadline, &code, err, errlen);
		log_debug("fetch %s: curl %d, HTTP %ld, %" PRIu64 " bytes held: %s", j.url, rc,
		          j.r.status, j.offset, code ? err : "ok");
		if (v == FINAL) {
			res->size = j.offset;
			res->total = j.total;
			if (res->not_modified) {
				snprintf(res->etag, sizeof(res->etag), "%s",
				         j.r.etag[0]        ? j.r.etag
				         : o->if_none_match ? o->if_none_match
				                            : "");
				snprintf(res->last_modified, sizeof(res->last_modified), "%s",
				         j.r.last_modified[0]   ? j.r.last_modified
				         : o->if_modified_since ? o->if_modified_since
				                                : "");
			} else if (code == 0) {
				snprintf(res->etag, sizeof(res->etag), "%s", j.etag);
				snprintf(res->last_modified, sizeof(res->last_modified), "%s",
				         j.last_modified);
				res->error = FETCH_ERR_NONE;
			}
			return code;
		}
		if (v == RESTART) {
			/* another version of the file: start over at once */
			if (j.offset &&
			    sink_reset(&j, "the file changed on the server", true) < 0) {
				classify(&j, c, rc, curl_msg, false, &code, err, errlen);
				res->size = j.offset;
				return code;
			}
			if (!j.offset && res->attempts < max_attempts + j.max_restarts)
				continue;
		}
		if (res->attempts >= max_attempts) {
			size_t l = strlen(err);
			mcu_ota_set_error(err + l, errlen > l ? errlen - l : 0,
			                  " (gave up after %u attempt%s)", res->attempts,
			                  res->attempts == 1 ? "" : "s");
			res->size = j.offset;
			return code;
		}
		/* wait: Retry-After when the server said so, else exponential
		 * backoff with jitter, starting low again after progress */
		if (j.offset > offset_before)
			backoff_step = 0;
		uint64_t delay;
		long long ra = (j.r.status == 429 || j.r.status == 503 || j.r.status == 408)
		                   ? retry_after_ms(j.r.retry_after)
		                   : -1;
		if (ra >= 0) {
			delay = (uint64_t)ra < after_max ? (uint64_t)ra : after_max;
		} else {
			uint64_t d = base << (backoff_step < 20 ? backoff_step : 20);
			if (d > backoff_max)
				d = backoff_max;
			delay = d / 2 + random_u64() % (d / 2 + 1);
			backoff_step++;
		}
		if (now_ms() + delay >= deadline) {
			size_t l = strlen(err);
			mcu_ota_set_error(err + l, errlen > l ? errlen - l : 0,
			                  " (gave up after %u attempt%s: the time limit is near)",
			                  res->attempts, res->attempts == 1 ? "" : "s");
			res->size = j.offset;
			return code;
		}
		log_debug("fetch %s: retrying in %" PRIu64 " ms", j.url, delay);
		if (!wait_ms(o, delay)) {
			res->error = FETCH_ERR_CANCELED;
			mcu_ota_set_error(err, errlen, "%s: download canceled", j.url);
			res->size = j.offset;
			return -ECANCELED;
		}
	}
}

bool fetch_is_url(const char *source)
{
	return !strncmp(source, "https://", 8) || !strncmp(source, "http://", 7);
}
