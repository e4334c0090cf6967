/* The gateway's hardware identity against a bundle's hardware-compatibility
 * (issue 12, finding 6), as SWUpdate checks it:
 *
 *   - the revision is hardware.revision of the configuration, else the
 *     second word of hardware.revision_file (default /etc/hwrevision), a
 *     line "<board> <revision>" (the board is only shown);
 *   - an entry of hardware-compatibility matches when it equals the
 *     revision, or, written "#RE:<expression>", when the POSIX extended
 *     regular expression finds a match in it (anchor it with ^...$).
 *
 * The rules at the edges (why: see hardware_check in hardware.c):
 *   bundle names revisions, gateway's known    -> one must match
 *   bundle names revisions, gateway's unknown  -> refused
 *   bundle names none                          -> fit for any gateway */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "bundle/swu.h"
#include "config/config.h"

#define HARDWARE_NAME_MAX 64

struct hardware_id {
	bool known;
	char board[HARDWARE_NAME_MAX + 1]; /* "" when configured */
	char revision[HARDWARE_NAME_MAX + 1];
	char from[4200]; /* where the revision came from, or why it is not known */
};

/* What c says the gateway is (never fails: an unknown revision says why). */
void hardware_identify(const struct config *c, struct hardware_id *hw);

/* 0 when the bundle may be installed on this gateway, else -ENOEXEC with err
 * naming the bundle's revisions and the gateway's. */
__attribute__((warn_unused_result)) int hardware_check(const struct hardware_id *hw,
                                                       const struct swu_manifest *m, char *err,
                                                       size_t errlen);
