/* Streaming download over HTTPS (libcurl) into a caller's sink.
 *
 * fetch_url() pushes the body of one URL, in order, into a sink callback; it
 * never keeps the body itself. An interrupted transfer is resumed with a
 * Range request (and If-Range) from the bytes the sink already accepted;
 * when the server's ETag or Last-Modified changed, it answers a Range
 * request with the whole body (200) or with a Content-Range that is not the
 * rest of the same file, or it sent no validator that would make resuming
 * safe, the sink is told to start over (reset callback) and receives the
 * body again from byte 0. Network errors, 5xx, 408 and 429 are retried
 * with exponential backoff and jitter (Retry-After honoured, capped); other
 * 4xx are final. TLS peer and host verification are always on.
 *
 * Every limit has a default: a zero field in struct fetch_options means
 * "the default" written next to it. Errors are one sentence naming the URL
 * (without user name, password or query), what went wrong and what the user
 * can do. Credentials (URL user info, key password, proxy user) are never
 * logged or put in an error. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Receives the next len bytes of the body. Return 0 to go on, or a negative
 * errno-style code (and a message in err) to stop the download at once:
 * fetch_url() then returns that code unchanged, with result->error set to
 * FETCH_ERR_SINK and the sink's message in its err. */
typedef int (*fetch_sink_fn)(void *ctx, const uint8_t *data, size_t len, char *err, size_t errlen);
/* The download starts over from byte 0 (the file changed on the server, or it
 * does not support ranges): forget every byte received so far. Return 0, or
 * a negative code to stop (passed back like a sink error). When no reset
 * callback is given, fetch_url() fails instead of starting over. */
typedef int (*fetch_reset_fn)(void *ctx, char *err, size_t errlen);
/* The body about to be delivered from byte 0 is identified by a response's
 * headers: its validators ("" when the server sent none) and size (0 when
 * not declared). For a caller that keeps what it receives so that it can
 * resume another time (struct fetch_options' resume_*). Return 0, or a
 * negative code (and a message) to stop, passed back like a sink error. */
typedef int (*fetch_content_fn)(void *ctx, const char *etag, const char *last_modified,
                                uint64_t total, char *err, size_t errlen);
/* done: body bytes the sink holds now; total: the whole body's size, 0 when
 * the server did not say. Called after each sink call and on every reset. */
typedef void (*fetch_progress_fn)(void *ctx, uint64_t done, uint64_t total);

#define FETCH_DEFAULT_MAX_SIZE           (128ull << 20) /* 128 MiB */
#define FETCH_DEFAULT_CONNECT_TIMEOUT_MS 30000u         /* 30 s */
#define FETCH_DEFAULT_LOW_SPEED_LIMIT    100u           /* bytes/s ... */
#define FETCH_DEFAULT_LOW_SPEED_TIME_S   60u            /* ... for 60 s is a stall */
#define FETCH_DEFAULT_MAX_TIME_S         (4u * 3600u)   /* all attempts together */
#define FETCH_DEFAULT_MAX_ATTEMPTS       6u             /* the first one and 5 retries */
#define FETCH_DEFAULT_MAX_RESTARTS       3u             /* starts over from byte 0 */
#define FETCH_DEFAULT_RETRY_BASE_MS      1000u          /* first backoff, doubled each time */
#define FETCH_DEFAULT_RETRY_MAX_MS       60000u         /* longest backoff */
#define FETCH_DEFAULT_RETRY_AFTER_MAX_MS 300000u        /* longest Retry-After obeyed */
#define FETCH_MAX_VALIDATOR              256            /* ETag / Last-Modified length */

/* What the caller calls the settings an error may advise changing: its
 * command-line options (fetch_args_names) or its configuration settings.
 * A message names the setting in words and adds these in parentheses; a
 * NULL names (or field) adds nothing: fetch/ knows no flag of its own. */
struct fetch_setting_names {
	const char *tls_ca;      /* ca_file, ca_dir */
	const char *client_cert; /* client_cert with client_key */
	const char *allow_http;
	const char *max_size;
	const char *proxy;
};

struct fetch_options {
	/* TLS: verification of the server is always on. NULL: the system's CAs. */
	const char *ca_file;
	const char *ca_dir; /* OpenSSL hashed directory (c_rehash) */
	/* Mutual TLS: PEM client certificate and its key (key may be NULL when
	 * the key is in the certificate file), optional key password. */
	const char *client_cert;
	const char *client_key;
	const char *client_key_password;
	/* NULL: libcurl's environment variables (https_proxy, http_proxy,
	 * all_proxy, no_proxy); "": no proxy at all; else the proxy URL. */
	const char *proxy;
	/* Allow plain http:// URLs and redirects to them. Off: https only. */
	bool allow_http;

	/* Limits; 0 means the FETCH_DEFAULT_* above. */
	uint64_t max_size;       /* body bytes; a larger body is cut off */
	uint64_t max_recv_speed; /* bytes/s; 0 = unlimited (no default cap);
	                            lowers low_speed_limit to half of it */
	unsigned connect_timeout_ms;
	unsigned low_speed_limit;  /* bytes/s below which ... */
	unsigned low_speed_time_s; /* ... for this long the attempt fails */
	unsigned max_time_s;       /* whole fetch, retries and waits included */
	unsigned max_attempts;     /* 1 = no retry */
	unsigned max_restarts;     /* starts from byte 0 after a change */
	unsigned retry_base_ms;
	unsigned retry_max_ms;
	unsigned retry_after_max_ms;

	/* Conditional GET: the etag / last_modified of a previous result. When
	 * the server answers 304, fetch_url() returns 0 with
	 * result->not_modified set and the sink never called. */
	const char *if_none_match;
	const char *if_modified_since;

	/* Resume: the sink already holds the first resume_offset bytes of the
	 * body, received earlier (a download kept on disk) with these
	 * validators and this total size (0: unknown). The first request asks
	 * for the rest (Range, If-Range); a server that sends the whole body
	 * instead (it changed) gets the sink reset. Without a strong ETag or a
	 * Last-Modified date nothing ties those bytes to the server's: the
	 * sink is reset before the first request. */
	uint64_t resume_offset;
	const char *resume_etag;
	const char *resume_last_modified;
	uint64_t resume_total;

	const char *user_agent;                  /* NULL: "mcu-ota" */
	const struct fetch_setting_names *names; /* for messages; may be NULL */

	fetch_sink_fn sink; /* required */
	fetch_reset_fn reset;
	fetch_progress_fn progress;
	fetch_content_fn content;
	void *ctx; /* passed to sink, reset, progress and content */

	/* When it becomes non-zero (a signal handler), the fetch stops soon,
	 * also during a backoff wait, with -ECANCELED. */
	volatile sig_atomic_t *cancel;
};

enum fetch_error {
	FETCH_ERR_NONE = 0,
	FETCH_ERR_USAGE,    /* -EINVAL: bad URL or options, http:// not allowed */
	FETCH_ERR_LOCAL,    /* -ENOENT/-EACCES/...: unreadable CA, client cert or key */
	FETCH_ERR_TLS,      /* -EKEYREJECTED: the server's certificate is not trusted */
	FETCH_ERR_NETWORK,  /* -EHOSTUNREACH/-ECONNREFUSED/-ECONNRESET/-ETIMEDOUT/-EPROTO */
	FETCH_ERR_HTTP,     /* -ENOENT (404, 410), -EACCES (401, 403), -EIO (other) */
	FETCH_ERR_TOO_BIG,  /* -EFBIG: the size cap was hit */
	FETCH_ERR_CHANGED,  /* -ESTALE: changed on the server too often, or no reset */
	FETCH_ERR_SINK,     /* the sink's or reset's own code */
	FETCH_ERR_CANCELED, /* -ECANCELED */
};

struct fetch_result {
	enum fetch_error error;
	long http_status;     /* the last response's status, 0 when none */
	bool not_modified;    /* 304 to a conditional GET */
	uint64_t size;        /* body bytes the sink holds at the end */
	uint64_t total;       /* the body's size as the server declared it, 0 if not */
	uint64_t transferred; /* body bytes received over all attempts (>= size) */
	unsigned attempts;    /* requests made */
	unsigned restarts;    /* times the sink was reset */
	/* Validators of the body received (or of the 304), for the next
	 * conditional GET; empty when the server sent none. */
	char etag[FETCH_MAX_VALIDATOR];
	char last_modified[FETCH_MAX_VALIDATOR];
};

/* Download url into o->sink. 0 on success (result->not_modified tells a 304
 * apart), else a negative code as listed with enum fetch_error, and err
 * holds the sentence to show. result may be NULL. Not thread-safe on its
 * first call (libcurl's global init); later calls are. */
__attribute__((warn_unused_result)) int fetch_url(const char *url, const struct fetch_options *o,
                                                  struct fetch_result *result, char *err,
                                                  size_t errlen);

/* Whether a bundle source names a download (http:// or https://) rather
 * than a file: the one rule every command uses. */
bool fetch_is_url(const char *source);

/* url without user info and with its query replaced by "?...", for messages
 * (presigned URLs carry tokens in the query). */
void fetch_redact_url(const char *url, char *out, size_t outlen);
