/* fetch's handling of a server's response headers: status lines, ETag,
 * Last-Modified, Retry-After, Content-Length and Content-Range, and the
 * decision each header block leads to (deliver the body, resume, start
 * over, stop). fetch.c is compiled into this harness so that its libcurl
 * callbacks are called directly, the way libcurl calls them: one header
 * line at a time, "\r\n" included.
 *
 * Input: byte 0 picks the job (a reset and a content callback or not, a
 * validator held from an earlier attempt), bytes 1-2 the bytes the sink
 * already holds; the rest is header lines; after a blank line, a line
 * starting "HTTP/" begins the next response, anything else is the body.
 * Checked: a body is only delivered after a 2xx whose size fits the cap,
 * a 206 only when it continues exactly where the sink stands; the sink
 * holds exactly `offset` bytes at every step; Retry-After waits at most a
 * day. */
#include "fetch/fetch.c"

#include "fuzz.h"

struct sink_state {
	uint64_t held; /* bytes the sink holds now */
	unsigned resets;
};

static int sink(void *ctx, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct sink_state *s = ctx;
	(void)data, (void)err, (void)errlen;
	s->held += len;
	return 0;
}

static int reset(void *ctx, char *err, size_t errlen)
{
	struct sink_state *s = ctx;
	(void)err, (void)errlen;
	s->held = 0;
	s->resets++;
	return 0;
}

static int content(void *ctx, const char *etag, const char *last_modified, uint64_t total,
                   char *err, size_t errlen)
{
	(void)ctx, (void)err, (void)errlen;
	FUZZ_CHECK(strlen(etag) < FETCH_MAX_VALIDATOR &&
	           strlen(last_modified) < FETCH_MAX_VALIDATOR);
	FUZZ_CHECK(total <= 1u << 20);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	uint8_t flags = data[0];
	uint64_t held = (uint64_t)data[1] << 8 | data[2];
	data += 3;
	size -= 3;

	struct sink_state st = {.held = held};
	struct fetch_options o = {.sink = sink,
	                          .reset = flags & 1 ? reset : NULL,
	                          .content = flags & 2 ? content : NULL,
	                          .ctx = &st,
	                          .max_size = 1u << 20};
	struct fetch_result res = {0};
	struct job j = {.o = &o, .max_size = o.max_size, .max_restarts = 3, .res = &res};
	snprintf(j.url, sizeof(j.url), "https://fuzz.invalid/b.swu");
	j.offset = held;
	if (flags & 4)
		snprintf(j.etag, sizeof(j.etag), "\"abc\"");
	if (flags & 8)
		snprintf(j.last_modified, sizeof(j.last_modified), "Wed, 21 Oct 2015 07:28:00 GMT");

	bool in_headers = true;
	char *line = malloc(size + 1);
	FUZZ_CHECK(line != NULL);
	for (size_t pos = 0; pos < size && j.stop == STOP_NONE;) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t n = nl ? (size_t)(nl - (data + pos)) + 1 : size - pos;
		if (!in_headers && !(n >= 5 && !memcmp(data + pos, "HTTP/", 5))) {
			/* the body: whatever is left, in one piece */
			n = size - pos;
			memcpy(line, data + pos, n);
			uint64_t before = j.offset;
			size_t took = on_body(line, 1, n, &j);
			FUZZ_CHECK(took == n || took == 0);
			if (took)
				FUZZ_CHECK(!j.deliver || j.offset == before + n);
			FUZZ_CHECK(j.offset <= j.max_size);
			break;
		}
		in_headers = true;
		memcpy(line, data + pos, n);
		pos += n;
		uint64_t offset_before = j.offset;
		size_t took = on_header(line, 1, n, &j);
		FUZZ_CHECK(took == n || took == 0);
		if (n <= 2 && (line[0] == '\r' || line[0] == '\n')) { /* the block ended */
			in_headers = false;
			if (j.deliver) {
				FUZZ_CHECK(j.r.status >= 200 && j.r.status < 300);
				FUZZ_CHECK(j.total <= j.max_size);
				if (j.r.status == 206)
					FUZZ_CHECK(j.r.has_range &&
					           j.r.range_start == offset_before &&
					           j.offset == offset_before);
				else
					FUZZ_CHECK(j.offset == 0);
			}
			if (took == 0)
				FUZZ_CHECK(j.stop != STOP_NONE);
		}
		if (j.r.has_range)
			FUZZ_CHECK(j.r.range_end >= j.r.range_start);
		FUZZ_CHECK(strlen(j.r.etag) < sizeof(j.r.etag) &&
		           strlen(j.r.last_modified) < sizeof(j.r.last_modified));
		long long wait = retry_after_ms(j.r.retry_after);
		FUZZ_CHECK(wait >= -1);
		FUZZ_CHECK(wait <= 86400000ll);
		/* the sink holds exactly what the job believes it holds */
		FUZZ_CHECK(st.held == j.offset);
	}
	FUZZ_CHECK(st.held == j.offset);
	FUZZ_CHECK(o.reset || st.resets == 0);
	free(line);
	return 0;
}
