#define _GNU_SOURCE /* O_PATH */
#include "util/trusted_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mcu-ota/cleanup.h>

#include "util/format.h"

/* The verdict on one file's owner and mode. */
static int judge(const struct stat *st, const char *what, const char *path, const char *name,
                 enum trusted_kind kind, char *err, size_t errlen)
{
	unsigned mode = (unsigned)st->st_mode & 07777;
	uid_t me = geteuid();
	const char *sep = name ? "/" : "";
	if (!name)
		name = "";
	if (st->st_uid != 0 && st->st_uid != me) {
		if (me == 0)
			mcu_ota_set_error(
			    err, errlen, "%s %s%s%s is owned by uid %u, not by root: chown root it",
			    what, path, sep, name, (unsigned)st->st_uid);
		else
			mcu_ota_set_error(
			    err, errlen,
			    "%s %s%s%s is owned by uid %u, neither root nor uid %u that "
			    "mcu-ota runs as: chown it to one of them",
			    what, path, sep, name, (unsigned)st->st_uid, (unsigned)me);
		return -EPERM;
	}
	/* a private key: others must not read it, nor replace it */
	if (kind == TRUSTED_SECRET && !S_ISDIR(st->st_mode) && (mode & 066)) {
		mcu_ota_set_error(
		    err, errlen, "%s %s%s%s is %s by group or others (mode %04o): chmod go-rwx it",
		    what, path, sep, name, mode & 044 ? "readable" : "writable", mode);
		return -EPERM;
	}
	if (mode & 022) {
		mcu_ota_set_error(
		    err, errlen,
		    "%s %s%s%s is writable by group or others (mode %04o): chmod go-w it", what,
		    path, sep, name, mode);
		return -EPERM;
	}
	return 0;
}

/* A CA directory: OpenSSL reads any certificate in it, so each one counts. */
static int judge_dir_entries(int dfd, const char *what, const char *path, enum trusted_kind kind,
                             char *err, size_t errlen)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		mcu_ota_set_error(err, errlen, "cannot read the %s %s: %s", what, path,
		                  strerror(-r));
		return r;
	}
	int r = 0;
	for (struct dirent *e; r == 0 && (e = readdir(d));) {
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		/* symbolic links are followed: what OpenSSL reads is their target */
		if (fstatat(dirfd(d), e->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		r = judge(&st, what, path, e->d_name, kind, err, errlen);
	}
	closedir(d);
	return r;
}

int trusted_file_check_fd(int fd, const char *what, const char *path, enum trusted_kind kind,
                          char *err, size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		mcu_ota_set_error(err, errlen, "cannot examine the %s %s: %s", what, path,
		                  strerror(-r));
		return r;
	}
	int r = judge(&st, what, path, NULL, kind, err, errlen);
	if (r == 0 && S_ISDIR(st.st_mode))
		r = judge_dir_entries(fd, what, path, kind, err, errlen);
	return r;
}

int trusted_file_check(const char *what, const char *path, enum trusted_kind kind, char *err,
                       size_t errlen)
{
	/* O_PATH: the owner and mode of a file we may not read are still known */
	_cleanup_(closep) int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;
		mcu_ota_set_error(err, errlen, "cannot read the %s %s: %s", what, path,
		                  strerror(-r));
		return r;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode))
		return trusted_file_check_fd(fd, what, path, kind, err, errlen);
	/* a folder's entries need a descriptor that can list it */
	_cleanup_(closep) int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		int r = -errno;
		mcu_ota_set_error(err, errlen, "cannot read the %s %s: %s", what, path,
		                  strerror(-r));
		return r;
	}
	return trusted_file_check_fd(dfd, what, path, kind, err, errlen);
}
