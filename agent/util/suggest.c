#include "util/suggest.h"

#include <string.h>

#define SUGGEST_MAX 2 /* edits between a typo and the name it suggests */

static unsigned min3(unsigned a, unsigned b, unsigned c)
{
	unsigned m = a < b ? a : b;
	return m < c ? m : c;
}

/* Edits from a to b: insert, delete, substitute, or swap two neighbours
 * ("seiral"). Names longer than SUGGEST_NAME_MAX are far from everything. */
static unsigned distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	unsigned d[SUGGEST_NAME_MAX + 1][SUGGEST_NAME_MAX + 1];
	if (n > SUGGEST_NAME_MAX || m > SUGGEST_NAME_MAX)
		return ~0u;
	for (size_t i = 0; i <= n; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= n; i++)
		for (size_t j = 1; j <= m; j++) {
			unsigned v = min3(d[i - 1][j] + 1, d[i][j - 1] + 1,
			                  d[i - 1][j - 1] + (a[i - 1] != b[j - 1]));
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[n][m];
}

/* Whether candidate is a likelier meaning of typo than the best so far: at
 * most SUGGEST_MAX edits away, or typo is candidate without its unit
 * ("reset_pulse" for "reset_pulse_ms"); a name that shares nothing with the
 * typo is no suggestion. */
bool suggest_closer(const char *typo, const char *candidate, unsigned *best)
{
	size_t n = strlen(typo);
	unsigned d = distance(typo, candidate);
	if (d > SUGGEST_MAX && !strncmp(candidate, typo, n) && candidate[n] == '_')
		d = SUGGEST_MAX;
	if (d > SUGGEST_MAX || d >= n || d >= *best)
		return false;
	*best = d;
	return true;
}

const char *suggest_name(const char *typo, const char *const *known)
{
	const char *found = NULL;
	unsigned best = ~0u;
	for (const char *const *k = known; *k; k++)
		if (suggest_closer(typo, *k, &best))
			found = *k;
	return found;
}
