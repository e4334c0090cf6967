/* What went wrong with a download, as data: each outcome of an attempt (a
 * stop of our own, an HTTP status, a libcurl code, an OpenSSL verdict on the
 * server's certificate) is a row saying its class, its errno, whether to
 * retry, and the sentence for the user. Sentences are templates: {name}
 * stands for a fact of this attempt (see fact()), {name:SETTING} for what
 * the caller calls that setting (struct fetch_setting_names), in
 * parentheses, or nothing when it gave no name. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/x509_vfy.h>

#include "fetch/job.h"
#include "util/format.h"

/* Where a row's key comes from. */
enum by { BY_STOP, BY_STATUS, BY_CURL };

/* The few cases one key has to tell apart (see refine()). */
enum detail {
	ANY = 0,
	COMPLETE,    /* 2xx: every byte the server declared arrived */
	SHORT,       /* 2xx: it ended before its declared size */
	CONDITIONAL, /* 304 to our If-None-Match / If-Modified-Since */
	RESUMING,    /* 416 to our Range: the file got shorter */
	DEADLINE,    /* timed out: the whole fetch's time limit */
	CONNECTING,  /* timed out before the request went out */
	PROXY_AUTH,  /* the proxy wants credentials (407) */
};

#define SINK_CODE 1 /* the row's code: the sink's own */

struct rule {
	enum by by;
	long lo, hi; /* the stop, HTTP status or CURLcode, lo..hi */
	enum detail detail;
	enum fetch_error error;
	int code; /* 0, a negative errno, or SINK_CODE */
	enum verdict verdict;
	const char *message; /* NULL: success, or (TLS) from tls_rules */
};

#define STOP(s)       BY_STOP, (s), (s)
#define STATUS(a, b)  BY_STATUS, (a), (b)
#define CURL_CODE(c)  BY_CURL, (c), (c)
#define ANY_CURL_CODE BY_CURL, LONG_MIN, LONG_MAX

/* Sentences that more than one row says. */
#define NOT_FOUND                                                                                  \
	"{url}: not found on the server (HTTP {status}): check the URL, the file may have been "   \
	"moved or not published yet"
#define REFUSED_ACCESS "{url}: the server refused access (HTTP {status}){cert_hint}"
#define CLIENT_CERT_UNUSABLE                                                                       \
	"{url}: cannot use the client certificate {cert} or its key ({curl}): check that both "    \
	"are PEM, that they belong together and the key's password"
#define PROXY_REFUSED                                                                              \
	"{url}: the proxy refused the connection ({curl}, proxy status {proxy_status}): check "    \
	"the proxy setting{name:proxy} and its credentials"
#define CONNECTION_BROKE                                                                           \
	"{url}: the connection broke after {held} bytes ({curl}): check the network"
#define WRONG_HOST                                                                                 \
	"{url}: the server's certificate is not for host \"{host}\" ({curl}): use the host name "  \
	"the certificate was issued for, or ask the server's operator for a certificate that "     \
	"names \"{host}\""

/* First match wins: the specific rows before the general ones. */
static const struct rule rules[] = {
    /* stops of our own, and what fetch_url() refuses to start */
    {STOP(STOP_SINK), ANY, FETCH_ERR_SINK, SINK_CODE, FINAL, "{sink}"},
    {STOP(STOP_TOO_BIG_DECLARED), ANY, FETCH_ERR_TOO_BIG, -EFBIG, FINAL,
     "{url}: the server announces {announced} bytes, more than the size limit of {limit}: "
     "raise the limit{name:max_size} if the download is really that large"},
    {STOP(STOP_TOO_BIG), ANY, FETCH_ERR_TOO_BIG, -EFBIG, FINAL,
     "{url}: the server sent more than the size limit of {limit}; the download was cut off: "
     "raise the limit{name:max_size} if the download is really that large"},
    {STOP(STOP_CHANGED_NO_RESET), ANY, FETCH_ERR_CHANGED, -ESTALE, FINAL,
     "{url}: the file changed on the server (or the server ignored the range request) while "
     "it was being downloaded: try again"},
    {STOP(STOP_RESTARTS), ANY, FETCH_ERR_CHANGED, -ESTALE, FINAL,
     "{url}: the file changed on the server {changes} times during the download: try again "
     "once the server's copy stays the same"},
    {STOP(STOP_NO_VALIDATOR), ANY, FETCH_ERR_CHANGED, -ESTALE, FINAL,
     "{url}: the download was interrupted and the server sent no ETag or Last-Modified that "
     "would make resuming it safe: try again"},
    {STOP(STOP_CHANGED), ANY, FETCH_ERR_CHANGED, -ESTALE, RESTART,
     "{url}: the file changed on the server during the download: try again"},
    {STOP(STOP_CANCELED), ANY, FETCH_ERR_CANCELED, -ECANCELED, FINAL, "{url}: download canceled"},
    {STOP(STOP_NO_SINK), ANY, FETCH_ERR_USAGE, -EINVAL, FINAL, "{url}: no sink for the download"},
    {STOP(STOP_PLAIN_HTTP), ANY, FETCH_ERR_USAGE, -EINVAL, FINAL,
     "{url}: refusing plain http: the download could be read and changed on the way; use "
     "https://, or allow plain http explicitly{name:allow_http}"},
    {STOP(STOP_NOT_HTTPS), ANY, FETCH_ERR_USAGE, -EINVAL, FINAL, "{url}: not an https:// URL"},
    {STOP(STOP_KEY_WITHOUT_CERT), ANY, FETCH_ERR_USAGE, -EINVAL, FINAL,
     "{url}: a client key needs its client certificate{name:client_cert}"},

    /* what the server answered */
    {STATUS(200, 299), COMPLETE, FETCH_ERR_NONE, 0, FINAL, NULL},
    {STATUS(200, 299), SHORT, FETCH_ERR_NETWORK, -EPROTO, RETRY,
     "{url}: the server ended the response after {held} of {total} bytes"},
    {STATUS(304, 304), CONDITIONAL, FETCH_ERR_NONE, 0, FINAL, NULL},
    {STATUS(416, 416), RESUMING, FETCH_ERR_CHANGED, -ESTALE, RESTART,
     "{url}: the file on the server is shorter than the part already received: it changed; "
     "try again"},
    {STATUS(404, 404), ANY, FETCH_ERR_HTTP, -ENOENT, FINAL, NOT_FOUND},
    {STATUS(410, 410), ANY, FETCH_ERR_HTTP, -ENOENT, FINAL, NOT_FOUND},
    {STATUS(401, 401), ANY, FETCH_ERR_HTTP, -EACCES, FINAL, REFUSED_ACCESS},
    {STATUS(403, 403), ANY, FETCH_ERR_HTTP, -EACCES, FINAL, REFUSED_ACCESS},
    {STATUS(408, 408), ANY, FETCH_ERR_HTTP, -EIO, RETRY,
     "{url}: the server timed out waiting for the request (HTTP {status}): check the network"},
    {STATUS(429, 429), ANY, FETCH_ERR_HTTP, -EIO, RETRY,
     "{url}: the server is busy (HTTP {status}, too many requests): try again later"},
    {STATUS(500, 999), ANY, FETCH_ERR_HTTP, -EIO, RETRY,
     "{url}: the server failed (HTTP {status}): try again later; if it lasts, tell the "
     "server's operator"},
    {STATUS(300, 399), ANY, FETCH_ERR_HTTP, -EIO, FINAL,
     "{url}: the server answered with a redirect (HTTP {status}) that cannot be followed: use "
     "the final URL"},
    {STATUS(LONG_MIN, LONG_MAX), ANY, FETCH_ERR_HTTP, -EIO, FINAL,
     "{url}: the server rejected the request (HTTP {status}){cert_hint}"},

    /* what libcurl reported */
    {CURL_CODE(CURLE_PEER_FAILED_VERIFICATION), ANY, FETCH_ERR_TLS, -EKEYREJECTED, FINAL, NULL},
    {CURL_CODE(CURLE_SSL_CACERT_BADFILE), ANY, FETCH_ERR_LOCAL, -ENOENT, FINAL,
     "{url}: cannot load the CA certificates from {ca} ({curl})"},
    {CURL_CODE(CURLE_SSL_CERTPROBLEM), ANY, FETCH_ERR_LOCAL, -EINVAL, FINAL, CLIENT_CERT_UNUSABLE},
    {CURL_CODE(CURLE_SSL_ENGINE_INITFAILED), ANY, FETCH_ERR_LOCAL, -EINVAL, FINAL,
     CLIENT_CERT_UNUSABLE},
    {CURL_CODE(CURLE_UNSUPPORTED_PROTOCOL), ANY, FETCH_ERR_USAGE, -EINVAL, FINAL,
     "{url}: the server redirected to a URL that is not {schemes} ({curl}): plain http is "
     "refused unless allowed{name:allow_http}"},
    {CURL_CODE(CURLE_TOO_MANY_REDIRECTS), ANY, FETCH_ERR_HTTP, -ELOOP, FINAL,
     "{url}: more than {max_redirects} redirects: use the final URL"},
    {CURL_CODE(CURLE_URL_MALFORMAT), ANY, FETCH_ERR_USAGE, -EINVAL, FINAL,
     "{url}: not a valid URL ({curl})"},
    {CURL_CODE(CURLE_COULDNT_RESOLVE_PROXY), ANY, FETCH_ERR_NETWORK, -EHOSTUNREACH, RETRY,
     "{url}: cannot resolve the proxy's host name ({curl}): check the proxy "
     "setting{name:proxy} or the https_proxy environment variable"},
    {CURL_CODE(CURLE_COULDNT_RESOLVE_HOST), ANY, FETCH_ERR_NETWORK, -EHOSTUNREACH, RETRY,
     "{url}: cannot resolve host name \"{host}\": check the URL and this device's DNS "
     "settings"},
    {CURL_CODE(CURLE_COULDNT_CONNECT), ANY, FETCH_ERR_NETWORK, -ECONNREFUSED, RETRY,
     "{url}: cannot connect ({curl}): check that the server is up and that no firewall or "
     "proxy is in the way"},
    {CURL_CODE(CURLE_PROXY), PROXY_AUTH, FETCH_ERR_NETWORK, -ECONNREFUSED, FINAL, PROXY_REFUSED},
    {CURL_CODE(CURLE_PROXY), ANY, FETCH_ERR_NETWORK, -ECONNREFUSED, RETRY, PROXY_REFUSED},
    {CURL_CODE(CURLE_OPERATION_TIMEDOUT), DEADLINE, FETCH_ERR_NETWORK, -ETIMEDOUT, FINAL,
     "{url}: the download took longer than its time limit of {max_time} s"},
    {CURL_CODE(CURLE_OPERATION_TIMEDOUT), CONNECTING, FETCH_ERR_NETWORK, -ETIMEDOUT, RETRY,
     "{url}: connecting timed out after {connect_ms} ms ({curl}): check the network, the "
     "server and any proxy"},
    {CURL_CODE(CURLE_OPERATION_TIMEDOUT), ANY, FETCH_ERR_NETWORK, -ETIMEDOUT, RETRY,
     "{url}: the transfer stalled (less than {low_speed} bytes/s for {low_time} s, after "
     "{held} bytes): the network or the server is too slow"},
    {CURL_CODE(CURLE_PARTIAL_FILE), ANY, FETCH_ERR_NETWORK, -EPROTO, RETRY,
     "{url}: the server closed the connection after {held} of {total} bytes"},
    {CURL_CODE(CURLE_GOT_NOTHING), ANY, FETCH_ERR_NETWORK, -ECONNRESET, RETRY,
     "{url}: the server closed the connection without an answer"},
    {CURL_CODE(CURLE_RECV_ERROR), ANY, FETCH_ERR_NETWORK, -ECONNRESET, RETRY, CONNECTION_BROKE},
    {CURL_CODE(CURLE_SEND_ERROR), ANY, FETCH_ERR_NETWORK, -ECONNRESET, RETRY, CONNECTION_BROKE},
    {CURL_CODE(CURLE_SSL_CONNECT_ERROR), ANY, FETCH_ERR_NETWORK, -EPROTO, RETRY,
     "{url}: the TLS handshake failed ({curl}): the server may require a client "
     "certificate{name:client_cert} or speak no TLS version this device accepts (1.2 or "
     "later)"},
    /* CURLE_WRITE_ERROR without a stop of ours should not happen: it lands here */
    {ANY_CURL_CODE, ANY, FETCH_ERR_NETWORK, -EIO, RETRY, "{url}: download failed ({curl})"},
};

/* OpenSSL's verdict on the server's certificate: the sentence for it. */
static const struct {
	long verify;
	const char *message;
} tls_rules[] = {
    {X509_V_ERR_HOSTNAME_MISMATCH, WRONG_HOST},
    {X509_V_ERR_IP_ADDRESS_MISMATCH, WRONG_HOST},
    {X509_V_ERR_CERT_HAS_EXPIRED,
     "{url}: the server's certificate has expired: the server's operator must renew it (or "
     "this device's clock is wrong: check the date)"},
    {X509_V_ERR_CERT_NOT_YET_VALID,
     "{url}: the server's certificate is not valid yet: check this device's clock (the date "
     "may be unset)"},
#define UNTRUSTED                                                                                  \
	"{url}: the server's certificate is not signed by a trusted CA ({verify}, checked "        \
	"against {ca}): trust the CA that issued it{name:tls_ca}"
    {X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, UNTRUSTED},
    {X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, UNTRUSTED},
    {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, UNTRUSTED},
    {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, UNTRUSTED},
    {X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, UNTRUSTED},
#undef UNTRUSTED
    {X509_V_ERR_CERT_REVOKED, "{url}: the server's certificate has been revoked"},
};
#define TLS_OTHER "{url}: the server's certificate does not verify ({verify}, checked against {ca})"

/* What a template may name about this attempt. */
struct facts {
	const struct job *j;
	const char *curl;  /* libcurl's message */
	long verify;       /* OpenSSL's verdict, for TLS rows */
	long proxy_status; /* the proxy's answer to CONNECT */
};

/* A setting's name as the caller calls it, in parentheses, or "". */
static void setting(const struct fetch_options *o, const char *which, size_t n, char *out,
                    size_t outlen)
{
	const struct fetch_setting_names *s = o->names;
	const char *name = NULL;
#define IS(w) (n == sizeof(w) - 1 && !strncmp(which, w, n))
	if (s && IS("tls_ca"))
		name = s->tls_ca;
	else if (s && IS("client_cert"))
		name = s->client_cert;
	else if (s && IS("allow_http"))
		name = s->allow_http;
	else if (s && IS("max_size"))
		name = s->max_size;
	else if (s && IS("proxy"))
		name = s->proxy;
#undef IS
	snprintf(out, outlen, "%s%s%s", name ? " (" : "", name ? name : "", name ? ")" : "");
}

/* {name} of a template: one fact of this attempt, as text. A name the table
 * does not know stays as it is written, which a test would see. */
static void fact(const struct facts *f, const char *name, size_t n, char *out, size_t outlen)
{
	const struct job *j = f->j;
	const struct fetch_options *o = j->o;
	long status = j->r.status;
#define IS(w) (n == sizeof(w) - 1 && !strncmp(name, w, n))
	if (n > 5 && !strncmp(name, "name:", 5))
		setting(o, name + 5, n - 5, out, outlen);
	else if (IS("url"))
		snprintf(out, outlen, "%s", j->url);
	else if (IS("host"))
		url_host(j->url, out, outlen);
	else if (IS("curl"))
		snprintf(out, outlen, "%s", f->curl);
	else if (IS("status"))
		snprintf(out, outlen, "%ld", status);
	else if (IS("held"))
		snprintf(out, outlen, "%" PRIu64, j->offset);
	else if (IS("total"))
		snprintf(out, outlen, "%" PRIu64, j->total);
	else if (IS("announced"))
		snprintf(out, outlen, "%" PRIu64, j->too_big_size);
	else if (IS("limit"))
		format_size(j->max_size, out, outlen);
	else if (IS("changes"))
		snprintf(out, outlen, "%u", j->res->restarts + 1);
	else if (IS("sink"))
		snprintf(out, outlen, "%s", j->sink_err[0] ? j->sink_err : "stopped by the reader");
	else if (IS("ca"))
		snprintf(out, outlen, "%s",
		         o->ca_file  ? o->ca_file
		         : o->ca_dir ? o->ca_dir
		                     : "the system's CA store");
	else if (IS("cert"))
		snprintf(out, outlen, "%s", o->client_cert ? o->client_cert : "(none)");
	else if (IS("schemes"))
		snprintf(out, outlen, "%s", o->allow_http ? "http or https" : "https");
	else if (IS("max_redirects"))
		snprintf(out, outlen, "%d", MAX_REDIRECTS);
	else if (IS("proxy_status"))
		snprintf(out, outlen, "%ld", f->proxy_status);
	else if (IS("verify"))
		snprintf(out, outlen, "%s", X509_verify_cert_error_string(f->verify));
	else if (IS("low_speed"))
		snprintf(out, outlen, "%u", low_speed_limit(o));
	else if (IS("low_time"))
		snprintf(out, outlen, "%u",
		         o->low_speed_time_s ? o->low_speed_time_s
		                             : FETCH_DEFAULT_LOW_SPEED_TIME_S);
	else if (IS("connect_ms"))
		snprintf(out, outlen, "%u",
		         o->connect_timeout_ms ? o->connect_timeout_ms
		                               : FETCH_DEFAULT_CONNECT_TIMEOUT_MS);
	else if (IS("max_time"))
		snprintf(out, outlen, "%u",
		         o->max_time_s ? o->max_time_s : FETCH_DEFAULT_MAX_TIME_S);
	else if (IS("cert_hint")) {
		/* what a server that wants a client certificate says when none came */
		bool hint = !o->client_cert && (status == 400 || status == 401 || status == 403);
		char named[300];
		setting(o, "client_cert", 11, named, sizeof(named));
		if (hint)
			snprintf(out, outlen,
			         " (a server that requires a client certificate answers this when "
			         "none is sent: give one with its key%s)",
			         named);
		else
			out[0] = '\0';
	} else
		snprintf(out, outlen, "{%.*s}", (int)n, name);
#undef IS
}

/* The template with every {name} replaced by its fact. */
static void expand(const struct facts *f, const char *template, char *err, size_t errlen)
{
	size_t used = 0;
	if (!errlen)
		return;
	err[0] = '\0';
	for (const char *p = template; *p && used + 1 < errlen;) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		if (close) {
			fact(f, p + 1, (size_t)(close - p - 1), err + used, errlen - used);
			used += strlen(err + used);
			p = close + 1;
		} else {
			err[used++] = *p++;
			err[used] = '\0';
		}
	}
}

/* Which case of its key an attempt is, where the table tells cases apart. */
static enum detail refine(const struct job *j, CURLcode rc, const struct facts *f,
                          bool deadline_passed, CURL *c)
{
	const struct fetch_options *o = j->o;
	long status = j->r.status;
	if (rc == CURLE_OK || j->stop == STOP_ERROR_BODY) {
		if (status >= 200 && status < 300)
			return j->total && j->offset < j->total ? SHORT : COMPLETE;
		if (status == 304 && (o->if_none_match || o->if_modified_since) && !j->offset)
			return CONDITIONAL;
		if (status == 416 && j->offset)
			return RESUMING;
		return ANY;
	}
	if (rc == CURLE_PROXY)
		return f->proxy_status == 407 ? PROXY_AUTH : ANY;
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		curl_off_t pretransfer = 0;
		if (c)
			curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
		return deadline_passed ? DEADLINE : !pretransfer ? CONNECTING : ANY;
	}
	return ANY;
}

static const struct rule *lookup(enum by by, long key, enum detail detail)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].by == by && rules[i].lo <= key && key <= rules[i].hi &&
		    (rules[i].detail == ANY || rules[i].detail == detail))
			return &rules[i];
	return NULL; /* not reached: each kind ends with a row for any key */
}

static const char *tls_template(long verify, const char *curl_msg)
{
	/* libcurl checks the host name itself, after OpenSSL accepted the
	 * chain: then the verify result says nothing (OK or "unspecified") */
	if ((verify == X509_V_OK || verify == X509_V_ERR_UNSPECIFIED) &&
	    strstr(curl_msg, "host name"))
		verify = X509_V_ERR_HOSTNAME_MISMATCH;
	for (size_t i = 0; i < sizeof(tls_rules) / sizeof(tls_rules[0]); i++)
		if (tls_rules[i].verify == verify)
			return tls_rules[i].message;
	return TLS_OTHER;
}

enum verdict classify(struct job *j, CURL *c, CURLcode rc, const char *curl_msg,
                      bool deadline_passed, int *code, char *err, size_t errlen)
{
	struct facts f = {.j = j, .curl = curl_msg[0] ? curl_msg : curl_easy_strerror(rc)};
	enum stop stop = j->stop;
	if ((stop == STOP_NONE || stop == STOP_ERROR_BODY) && j->o->cancel && *j->o->cancel)
		stop = STOP_CANCELED;
	if (c && rc == CURLE_PEER_FAILED_VERIFICATION)
		curl_easy_getinfo(c, CURLINFO_SSL_VERIFYRESULT, &f.verify);
	if (c && rc == CURLE_PROXY)
		curl_easy_getinfo(c, CURLINFO_HTTP_CONNECTCODE, &f.proxy_status);

	const struct rule *r;
	if (stop != STOP_NONE && stop != STOP_ERROR_BODY)
		r = lookup(BY_STOP, stop, ANY);
	else if (rc == CURLE_OK || stop == STOP_ERROR_BODY)
		r = lookup(BY_STATUS, j->r.status, refine(j, rc, &f, deadline_passed, c));
	else
		r = lookup(BY_CURL, rc, refine(j, rc, &f, deadline_passed, c));

	*code = r->code == SINK_CODE ? j->sink_rc : r->code;
	if (r->error != FETCH_ERR_NONE)
		j->res->error = r->error;
	if (r->by == BY_STATUS && r->error == FETCH_ERR_NONE && j->r.status == 304)
		j->res->not_modified = true;
	if (r->message || r->error == FETCH_ERR_TLS)
		expand(&f, r->message ? r->message : tls_template(f.verify, f.curl), err, errlen);
	return r->verdict;
}

unsigned low_speed_limit(const struct fetch_options *o)
{
	uint64_t l = o->low_speed_limit ? o->low_speed_limit : FETCH_DEFAULT_LOW_SPEED_LIMIT;
	if (o->max_recv_speed && l > o->max_recv_speed / 2)
		l = o->max_recv_speed / 2 ? o->max_recv_speed / 2 : 1;
	return (unsigned)l;
}
