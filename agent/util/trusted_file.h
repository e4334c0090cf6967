/* Files mcu-ota trusts (the configuration, bundle keys, CA certificates and
 * CRLs, the TLS client certificate and key) are refused, as ssh refuses
 * them, when someone other than root or the user mcu-ota runs as could
 * change them: whoever may rewrite a trusted key may sign firmware. A
 * private key is also refused when others may read it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum trusted_kind {
	TRUSTED_PUBLIC, /* only who may write it matters */
	TRUSTED_SECRET, /* a private key: nobody else may read it either */
};

/* 0 when path may be trusted: owned by root or the effective user, not
 * writable by group or others, and for a secret not readable by them; a
 * folder (a CA directory) is checked with each file in it. Otherwise -EPERM
 * and err reads "<what> <path> is writable by group or others (mode 0666):
 * chmod go-w it"; when path cannot be examined, -errno and err says so. */
__attribute__((warn_unused_result)) int trusted_file_check(const char *what, const char *path,
                                                           enum trusted_kind kind, char *err,
                                                           size_t errlen);
/* The same for a file already open (no window between check and read). */
__attribute__((warn_unused_result)) int trusted_file_check_fd(int fd, const char *what,
                                                              const char *path,
                                                              enum trusted_kind kind, char *err,
                                                              size_t errlen);
