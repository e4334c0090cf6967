/* The control socket's side in the file system (its folder, lock file and
 * group) and who a client connected on it is. */
#define _GNU_SOURCE /* struct ucred, SO_PEERGROUPS */
#include "daemon/daemon_private.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <mcu-ota/cleanup.h>

#include "util/log.h"

/* ---- the control socket ---- */

/* The socket's folder: where others may create or replace files, a lock
 * file or socket of ours could be swapped for a symbolic link. */
static int check_socket_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	if (stat(dir, &st) < 0) {
		int r = -errno;
		mcu_ota_set_error(err, errlen, "daemon.socket's folder %s: %s", dir,
		                  strerror(errno));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		mcu_ota_set_error(err, errlen, "daemon.socket's folder %s is not a folder", dir);
		return -ENOTDIR;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		mcu_ota_set_error(err, errlen,
		                  "daemon.socket's folder %s belongs to uid %u, who could replace "
		                  "the socket or its lock file: use a folder of root's, e.g. "
		                  "/run/mcu-ota",
		                  dir, (unsigned)st.st_uid);
		return -EPERM;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		mcu_ota_set_error(err, errlen,
		                  "daemon.socket's folder %s is writable by %s (mode %04o) without "
		                  "the sticky bit, who could replace the socket or its lock file "
		                  "with a symbolic link: use a folder only its owner may write, "
		                  "e.g. /run/mcu-ota",
		                  dir, st.st_mode & S_IWOTH ? "everyone" : "its group",
		                  (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* The lock file, never through a symbolic link, and only a regular file of
 * ours: it is truncated and written. */
static int open_lock(const char *lock, char *err, size_t errlen)
{
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
	if (fd < 0) {
		int r = -errno;
		mcu_ota_set_error(err, errlen, "cannot open %s: %s", lock,
		                  errno == ELOOP ? "it is a symbolic link, which the daemon does "
		                                   "not follow: remove it"
		                                 : strerror(errno));
		return r;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (st.st_uid != 0 && st.st_uid != geteuid())) {
		mcu_ota_set_error(err, errlen,
		                  "%s is not a regular file of root's with one link: remove it "
		                  "(the daemon creates it)",
		                  lock);
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* The socket's folder, made when missing, and checked. */
static int socket_dir(const char *socket, char *err, size_t errlen)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", socket);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			int r = -errno;
			mcu_ota_set_error(err, errlen, "cannot create %s: %s", dir,
			                  strerror(errno));
			return r;
		}
	} else {
		snprintf(dir, sizeof(dir), "/");
	}
	return check_socket_dir(dir, err, errlen);
}

/* <socket>.lock, flock'd while this daemon runs, with its pid: one daemon a
 * socket. */
static int take_lock(struct daemon *d, const char *socket, char *err, size_t errlen)
{
	char lock[4200];
	snprintf(lock, sizeof(lock), "%s.lock", socket);
	d->lock_fd = open_lock(lock, err, errlen);
	if (d->lock_fd < 0) {
		int r = d->lock_fd;
		d->lock_fd = -1;
		return r;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32] = "";
		ssize_t n = pread(d->lock_fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		mcu_ota_set_error(
		    err, errlen,
		    "another mcu-ota daemon (pid %s) runs with socket %s: stop it first",
		    *pid ? pid : "?", socket);
		return -EBUSY;
	}
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(d->lock_fd, 0) < 0 || pwrite(d->lock_fd, pid, (size_t)len, 0) != len)
		log_debug("cannot write the pid into %s", lock);
	return 0;
}

int daemon_socket_open(struct daemon *d, char *err, size_t errlen)
{
	const struct daemon_config *dc = &d->cfg->daemon;
	int r = socket_dir(dc->socket, err, errlen);
	if (r < 0 || (r = take_lock(d, dc->socket, err, errlen)) < 0)
		return r;
	/* the socket's group: socket_group's, else admin_group's members reach it */
	const char *group = dc->socket_group ? dc->socket_group : dc->admin_group;
	d->socket_gid = (gid_t)-1;
	if (group) {
		struct group *g = getgrnam(group);
		if (!g) {
			mcu_ota_set_error(err, errlen, "daemon.%s: no group \"%s\" on this system",
			                  dc->socket_group ? "socket_group" : "admin_group", group);
			return -ENOENT;
		}
		d->socket_gid = g->gr_gid;
	}
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	memcpy(a.sun_path, dc->socket, strlen(dc->socket) + 1);
	(void)unlink(dc->socket); /* left by a daemon that was killed: the lock is ours */
	d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	/* the mode from the start (no chmod by path later, which a symbolic
	 * link put in the socket's place would redirect); root's group until
	 * the chown, so no moment in which others could connect */
	mode_t old = umask(group ? 0117 : 0177);
	r = d->listen_fd < 0 ? -1 : bind(d->listen_fd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	/* room for a burst of clients: the loop takes them as fast as they come */
	if (r < 0 || listen(d->listen_fd, SOMAXCONN) < 0 ||
	    (group &&
	     fchownat(AT_FDCWD, dc->socket, (uid_t)-1, d->socket_gid, AT_SYMLINK_NOFOLLOW) < 0)) {
		r = -errno;
		mcu_ota_set_error(err, errlen, "cannot listen on %s: %s", dc->socket,
		                  strerror(errno));
		return r;
	}
	return 0;
}

/* ---- who a client is ---- */

static bool in_list(gid_t want, gid_t primary, const gid_t *g, size_t n)
{
	if (want == (gid_t)-1)
		return false;
	if (primary == want)
		return true;
	for (size_t i = 0; i < n; i++)
		if (g[i] == want)
			return true;
	return false;
}

/* The supplementary groups from /proc (malloc'd, *n of them; NULL when
 * unknown), where SO_PEERGROUPS fails: kernels before 4.13, and emulators
 * (qemu-user) that do not pass it on. */
static gid_t *proc_groups(pid_t pid, size_t *n)
{
	char path[64];
	_cleanup_(freep) char *line = NULL;
	size_t cap = 0;
	gid_t *g = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	_cleanup_(fclosep) FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0)
		if (!strncmp(line, "Groups:", 7)) {
			/* a group is at least one digit and a space: a bound for the array */
			g = malloc((strlen(line) / 2 + 1) * sizeof(*g));
			char *p = line + 7, *end;
			for (unsigned long v; g && (v = strtoul(p, &end, 10), end != p); p = end)
				g[(*n)++] = (gid_t)v;
			break;
		}
	return g;
}

/* Who the peer is, as the kernel saw it when it connected. */
void daemon_peer_identity(struct daemon *d, struct conn *c)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);
	c->uid = (uid_t)-1; /* unknown: allowed nothing */
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0)
		return;
	c->uid = cr.uid;
	gid_t small[64], *g = small;
	_cleanup_(freep) gid_t *big = NULL; /* where g is not small */
	socklen_t gl = sizeof(small);
	size_t n = 0;
	int r = getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, g, &gl);
	if (r < 0 && errno == ERANGE) { /* more than 64 groups */
		g = big = malloc(gl);
		r = g ? getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, g, &gl) : -1;
	}
	if (r == 0) {
		n = gl / sizeof(gid_t);
	} else {
		free(take_ptr(&big));
		g = big = proc_groups(cr.pid, &n);
	}
	if (!g) { /* unknown: the primary group only */
		g = small;
		n = 0;
	}
	c->in_group = in_list(d->socket_gid, cr.gid, g, n);
	c->in_admin_group = in_list(d->admin_gid, cr.gid, g, n);
}
