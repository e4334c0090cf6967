/* Inside fetch/: the state of one fetch_url() call, shared by the transfer
 * (fetch.c), the classification of its outcome (classify.c) and the HTTP
 * helpers (http.c). Not for use outside agent/fetch. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "fetch/fetch.h"

#define MAX_REDIRECTS 5

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

/* Why a fetch stops (or cannot start) apart from what libcurl or the server
 * said: each is a row of classify.c's table. */
enum stop {
	STOP_NONE,
	STOP_TOO_BIG_DECLARED, /* the content length is over the cap */
	STOP_TOO_BIG,          /* more bytes than the cap arrived */
	STOP_CHANGED,          /* 206 of another version, or a range we did not ask for */
	STOP_SINK,             /* the sink, reset or content callback refused */
	STOP_RESTARTS,         /* changed more often than max_restarts */
	STOP_CHANGED_NO_RESET, /* changed, and no reset callback to start over with */
	STOP_NO_VALIDATOR,     /* cannot resume safely and cannot start over (no reset) */
	STOP_ERROR_BODY,       /* enough of an error page */
	STOP_CANCELED,         /* the cancel flag */
	STOP_NO_SINK,          /* fetch_url() without a sink */
	STOP_PLAIN_HTTP,       /* http:// without allow_http */
	STOP_NOT_HTTPS,        /* neither https:// nor http:// */
	STOP_KEY_WITHOUT_CERT, /* a client key without its certificate */
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
	uint64_t too_big_size; /* the declared size over the cap */
	/* bandwidth cap: body bytes and start time of this attempt */
	uint64_t pace_bytes, pace_start_ms;
	char sink_err[1024];

	struct fetch_result *res;
};

/* What to do after an attempt. */
enum verdict { FINAL, RETRY, RESTART };

/* Turn an attempt's outcome (j->stop, the HTTP status, libcurl's rc and
 * message; c may be NULL before any transfer) into j->res->error, *code (0
 * or a negative errno), the sentence in err and a verdict. */
enum verdict classify(struct job *j, CURL *c, CURLcode rc, const char *curl_msg,
                      bool deadline_passed, int *code, char *err, size_t errlen);

/* The low-speed limit in effect: a bandwidth cap below it would make every
 * transfer a "stall", so it is then half the cap. */
unsigned low_speed_limit(const struct fetch_options *o);

/* http.c: decimal digits s[0..n) into *out; false when not a number. */
bool parse_u64(const char *s, size_t n, uint64_t *out);
/* http.c: a header value (n bytes, not terminated) into dst. */
void copy_value(char *dst, size_t dstlen, const char *v, size_t n);
/* http.c: "bytes START-END/TOTAL" (or "/ *") into r->range_*. */
void parse_content_range(struct response *r, const char *v, size_t n);
/* http.c: Retry-After (seconds or an HTTP date) in ms, capped at a day; -1
 * when absent or unreadable. */
long long retry_after_ms(const char *v);
/* http.c: host (and port) of url, without user info, for messages. */
void url_host(const char *url, char *out, size_t outlen);
