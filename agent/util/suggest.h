/* "Did you mean": the known name a typo most likely meant, for the errors
 * about unknown settings and plugins. */
#pragma once

#include <stdbool.h>

#define SUGGEST_NAME_MAX 64 /* longer names are not compared */

/* Whether candidate is a likelier meaning of typo than the best so far
 * (*best edits, ~0u at first; updated): at most 2 edits away (a swap of
 * neighbours is one), or typo is candidate without its unit ("reset_pulse"
 * for "reset_pulse_ms"). */
bool suggest_closer(const char *typo, const char *candidate, unsigned *best);

/* The name of known (NULL-ended) that typo most likely meant, or NULL. */
const char *suggest_name(const char *typo, const char *const *known);
