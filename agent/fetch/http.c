/* What HTTP says, read for fetch/: URLs for messages, header values,
 * Content-Range, Retry-After. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "fetch/job.h"

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

void copy_value(char *dst, size_t dstlen, const char *v, size_t n)
{
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

bool parse_u64(const char *s, size_t n, uint64_t *out)
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
void parse_content_range(struct response *r, const char *v, size_t n)
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

/* Retry-After: delay-seconds or an HTTP date; ms to wait, or -1. */
long long retry_after_ms(const char *v)
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

/* Host (and port) of url for messages, without user info. */
void url_host(const char *url, char *out, size_t outlen)
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

bool fetch_is_url(const char *source)
{
	return !strncmp(source, "https://", 8) || !strncmp(source, "http://", 7);
}
