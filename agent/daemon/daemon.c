/* The daemon's server: the event loop, the control socket's clients and who may
 * ask for what, and the configuration in force (daemon/daemon.h). */
#define _GNU_SOURCE /* accept4 */
#include "daemon/daemon_private.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/notify.h"
#include "fetch/fetch.h"
#include "plugin/config_plugins.h"
#include "util/log.h"

#define REQUEST_TIMEOUT_MS 2000u  /* for a client to send its whole request */
#define DRAIN_TIMEOUT_MS   10000u /* for a client to read the rest of its reply */
/* Log lines queued for the job's client: a client that reads slower than
 * the job logs loses the excess (the others are always queued). */
#define CLIENT_LOG_BUDGET (64 * 1024)

long long daemon_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- queued replies ---- */

/* Queue bytes for c; false when memory ran out (the line is lost). */
static bool queue(struct conn *c, const char *data, size_t n)
{
	if (c->off && c->off == c->len)
		c->off = c->len = 0;
	if (c->len + n > c->cap) {
		if (c->off) { /* room at the front first */
			memmove(c->out, c->out + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		size_t cap = c->cap ? c->cap : 4096;
		while (cap < c->len + n)
			cap *= 2;
		if (cap > c->cap) {
			char *p = realloc(c->out, cap);
			if (!p)
				return false;
			c->out = p;
			c->cap = cap;
		}
	}
	memcpy(c->out + c->len, data, n);
	c->len += n;
	return true;
}

static void reply(struct conn *c, const char *fmt, ...) MCU_OTA_PRINTF(2, 3);
static void reply(struct conn *c, const char *fmt, ...)
{
	char line[CONTROL_MAX_LINE];
	va_list ap;
	va_start(ap, fmt);
	size_t n = control_format_line(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (c->fd >= 0)
		(void)queue(c, line, n);
}

/* Send what c's queue holds without waiting: 1 when it is empty, 0 when
 * the socket is full, -1 when the client is gone. */
static int flush(struct conn *c)
{
	while (c->fd >= 0 && c->off < c->len) {
		ssize_t w =
		    send(c->fd, c->out + c->off, c->len - c->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w < 0)
			return -1;
		c->off += (size_t)w;
	}
	return c->fd < 0 ? -1 : 1;
}

/* ---- talking to the client of a job (from any thread) ---- */

static void wake_main(struct daemon *d)
{
	uint64_t one = 1;
	if (write(d->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return; /* the main loop flushes at its next turn anyway */
}

/* A line for the job's client. Log lines (log = true) beyond the budget are
 * dropped and counted; the others (outcomes, errors, the end) always go. */
static void to_client_line(struct daemon *d, bool log, const char *line)
{
	char text[CONTROL_MAX_LINE + 8];
	pthread_mutex_lock(&d->client_mu);
	struct conn *c = d->job.client;
	if (c && c->fd >= 0) {
		bool was_empty = c->off == c->len;
		if (log && c->len - c->off >= d->log_budget) {
			c->dropped++;
		} else {
			if (c->dropped) {
				int n =
				    snprintf(text, sizeof(text),
				             "log %d %lu log lines dropped: the client read too "
				             "slowly\n",
				             (int)MCU_OTA_LOG_WARNING, c->dropped);
				if (queue(c, text, (size_t)n))
					c->dropped = 0;
			}
			if (!queue(c, line, strlen(line)) && log)
				c->dropped++;
		}
		if (was_empty && c->off != c->len)
			wake_main(d);
	}
	pthread_mutex_unlock(&d->client_mu);
}

void daemon_to_client(struct daemon *d, const char *fmt, ...)
{
	char line[CONTROL_MAX_LINE];
	va_list ap;
	va_start(ap, fmt);
	control_format_line(line, sizeof(line), fmt, ap);
	va_end(ap);
	to_client_line(d, false, line);
}

/* Every thread's log passes here: only the lines of the job's own threads
 * (its worker and the device threads the engine starts) go to its client.
 * Never blocks: it only queues. */
static void tee_log(void *ctx, unsigned tag, enum mcu_ota_log_level level, const char *text)
{
	struct daemon *d = ctx;
	if (!tag || tag != __atomic_load_n(&d->tee_tag, __ATOMIC_ACQUIRE))
		return;
	char line[CONTROL_MAX_LINE];
	int n = snprintf(line, sizeof(line) - 1, "log %d %s", (int)level, text);
	if (n < 0)
		return;
	size_t len = strlen(line);
	for (size_t i = 0; i < len; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[len++] = '\n';
	line[len] = '\0';
	to_client_line(d, true, line);
}

/* ---- configuration ---- */

static void config_delete(struct config *c)
{
	if (c)
		config_free(c);
	free(c);
}

void daemon_apply_config(struct daemon *d, struct config *c)
{
	if (d->cfg && strcmp(d->cfg->daemon.socket, c->daemon.socket))
		log_warning("daemon.socket changed to %s: it takes effect when the daemon restarts",
		            c->daemon.socket);
	config_delete(d->cfg);
	d->cfg = c;
	/* load() checked that it exists; a group that went since is no one */
	struct group *g = c->daemon.admin_group ? getgrnam(c->daemon.admin_group) : NULL;
	d->admin_gid = g ? g->gr_gid : (gid_t)-1;
	if (!d->o->log_level_given && c->log_level >= 0)
		log_set_level((enum mcu_ota_log_level)c->log_level);
}

static int load(const struct daemon_options *o, struct config **out, char *err, size_t errlen)
{
	struct config *c = calloc(1, sizeof(*c));
	if (!c) {
		mcu_ota_set_error(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int r = config_load(o->config_path, c, err, errlen);
	if (r == 0)
		r = config_check_plugins(c, o->plugin_dir, err, errlen);
	if (r == 0 && c->daemon.admin_group && !getgrnam(c->daemon.admin_group)) {
		mcu_ota_set_error(err, errlen,
		                  "%s: daemon.admin_group: no group \"%s\" on this system", c->path,
		                  c->daemon.admin_group);
		r = -ENOENT;
	}
	if (r < 0) {
		config_delete(c);
		return r;
	}
	*out = c;
	return 0;
}

static void reload(struct daemon *d)
{
	char err[1024];
	struct config *c;
	notify("RELOADING=1");
	if (load(d->o, &c, err, sizeof(err)) < 0) {
		log_error("reload: %s; the running configuration stays in force", err);
		notify("READY=1\nSTATUS=reload refused: %s", err);
		return;
	}
	log_info("reload: %s read", d->o->config_path);
	if (d->busy) {
		config_delete(d->pending);
		d->pending = c; /* the running job keeps the configuration it started with */
	} else {
		daemon_apply_config(d, c);
	}
	d->reconcile_due = true;
	notify("READY=1");
}

/* ---- the clients ---- */

/* Whether c may ask for what; if not, it is told what it needs. admin:
 * root or daemon.admin_group; else also the socket's group. */
static bool allowed(struct daemon *d, struct conn *c, bool admin, const char *what)
{
	const struct daemon_config *dc = &d->cfg->daemon;
	if (c->uid == 0 || c->uid == geteuid() || c->in_admin_group || (!admin && c->in_group))
		return true;
	const char *group = admin ? dc->admin_group : dc->socket_group;
	const char *setting = admin ? "admin_group" : "socket_group";
	if (!admin && !group && dc->admin_group) {
		group = dc->admin_group;
		setting = "admin_group";
	}
	if (group)
		reply(c,
		      "error %d %s needs root or a member of group %s (daemon.%s); you are uid %u",
		      -EACCES, what, group, setting, (unsigned)c->uid);
	else
		reply(c,
		      "error %d %s needs root (daemon.%s, which would name a group allowed it, is "
		      "not set in %s); you are uid %u",
		      -EACCES, what, setting, d->cfg->path, (unsigned)c->uid);
	reply(c, "end");
	log_info("control socket: refused %s to uid %u", what, (unsigned)c->uid);
	return false;
}

static void answer_status(struct daemon *d, struct conn *c)
{
	long long left = d->next_poll_ms ? (d->next_poll_ms - daemon_now_ms()) / 1000 : -1;
	struct live live[sizeof(d->live) / sizeof(*d->live)];
	char text[sizeof(d->job_text)];
	pthread_mutex_lock(&d->mu);
	size_t n = d->live_count;
	memcpy(live, d->live, n * sizeof(*live));
	snprintf(text, sizeof(text), "%s", d->busy ? d->job_text : "idle");
	pthread_mutex_unlock(&d->mu);
	reply(c, "daemon pid %ld", (long)getpid());
	reply(c, "daemon job %s", text);
	if (left >= 0)
		reply(c, "daemon next_poll_s %lld", left);
	for (size_t i = 0; i < n; i++)
		reply(c, "device %s %s %" PRIu64 " %" PRIu64, live[i].device, live[i].phase,
		      live[i].done, live[i].total);
	reply(c, "end");
}

/* Who may ask for it comes first: a refusal says what is needed. */
static bool may_ask(struct daemon *d, struct conn *c, bool rollback, bool url)
{
	const struct control_request *rq = &c->rq;
	const char *what = rollback     ? "rollback"
	                   : url        ? "an update from a URL"
	                   : rq->source ? "an update from a file"
	                                : "an update to the configured firmware";
	bool admin = rollback || url;
	if (rq->allow_downgrade) {
		what = "allow-downgrade";
		admin = true;
	}
	return allowed(d, c, admin, what);
}

/* No job now: c is told what the daemon is doing, device by device. */
static void reply_busy(struct daemon *d, struct conn *c)
{
	char now[512] = "";
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->live_count; i++) {
		const struct live *l = &d->live[i];
		size_t off = strlen(now);
		if (l->total)
			snprintf(now + off, sizeof(now) - off, "%s%s: %s %u%%", off ? ", " : " (",
			         l->device, l->phase, percent(l->done, l->total));
		else
			snprintf(now + off, sizeof(now) - off, "%s%s: %s", off ? ", " : " (",
			         l->device, l->phase);
	}
	if (*now)
		snprintf(now + strlen(now), sizeof(now) - strlen(now), ")");
	reply(c, "busy the daemon is %s%s; try again when it is done",
	      d->stopping ? "stopping" : d->job_text, now);
	pthread_mutex_unlock(&d->mu);
}

/* The job c's request asks for, into j and text (for status); false when c
 * was told why there is none. */
static bool job_of(struct daemon *d, struct conn *c, bool rollback, bool url, struct job *j,
                   char *text, size_t textlen)
{
	const struct control_request *rq = &c->rq;
	for (size_t i = 0; i < rq->device_count; i++)
		if (!config_device(d->cfg, rq->devices[i])) {
			reply(c, "error %d no device \"%s\" in %s", -ESRCH, rq->devices[i],
			      d->cfg->path);
			return false;
		}
	if (rollback) {
		if (rq->device_count != 1) {
			reply(c, "error %d rollback takes one device", -EINVAL);
			return false;
		}
		j->kind = JOB_ROLLBACK;
		snprintf(text, textlen, "rolling back %s", rq->devices[0]);
	} else if (rq->source) {
		if (!url && rq->source_fd < 0) {
			reply(c,
			      "error %d send the bundle as an open file: the daemon may not see "
			      "%s",
			      -EINVAL, rq->source);
			return false;
		}
		j->kind = JOB_UPDATE;
		if (!url) /* the client's name for its file, as it may be logged */
			log_escape(rq->source, j->source_name, sizeof(j->source_name));
		snprintf(text, textlen, "updating from a bundle");
	} else {
		/* update now: the configured firmware, whatever the poll records say */
		for (size_t i = 0; i < rq->device_count; i++)
			if (!config_device(d->cfg, rq->devices[i])->firmware_source) {
				reply(c, "error %d device %s has no firmware in %s: give a bundle",
				      -ESRCH, rq->devices[i], d->cfg->path);
				return false;
			}
		j->kind = JOB_RECONCILE;
		j->force = true;
		snprintf(text, textlen, "updating to the configured firmware");
	}
	return true;
}

/* An update or rollback asked for: check it, then run it as the job. */
static bool take_job(struct daemon *d, struct conn *c)
{
	struct control_request *rq = &c->rq;
	struct job j = {.client = c};
	char text[160], err[256];
	bool rollback = !strcmp(rq->command, "rollback");
	bool url = rq->source && fetch_is_url(rq->source);
	if (!may_ask(d, c, rollback, url))
		return false;
	if (rq->source_fd >= 0 && (rollback || !rq->source || url)) {
		reply(c, "error %d a descriptor comes only with an update from a file", -EINVAL);
		return false;
	}
	if (rq->source_fd >= 0 && control_check_source_fd(rq->source_fd, err, sizeof(err)) < 0) {
		reply(c, "error %d %s", -EINVAL, err);
		return false;
	}
	if (d->stopping || d->busy) {
		reply_busy(d, c);
		return false;
	}
	if (!job_of(d, c, rollback, url, &j, text, sizeof(text)))
		return false;
	control_request_move(&j.rq, rq); /* the job owns the request and its descriptor */
	c->state = CONN_JOB;
	daemon_start_job(d, &j, text);
	return true;
}

static void conn_free(struct daemon *d, struct conn *c)
{
	for (size_t i = 0; i < d->conn_count; i++)
		if (d->conns[i] == c) {
			d->conns[i] = d->conns[--d->conn_count];
			break;
		}
	if (c->fd >= 0)
		close(c->fd);
	control_request_free(&c->rq);
	free(c->out);
	free(c);
}

/* c's reply is queued: it goes now, or while the client reads, or the
 * client is let go at the deadline. */
static void conn_drain(struct daemon *d, struct conn *c)
{
	control_request_free(&c->rq); /* a descriptor it sent is not kept */
	c->state = CONN_DRAINING;
	c->deadline_ms = daemon_now_ms() + DRAIN_TIMEOUT_MS;
	if (flush(c) != 0)
		conn_free(d, c);
}

void daemon_conn_after_job(struct daemon *d, struct conn *c)
{
	if (c->fd < 0)
		conn_free(d, c);
	else
		conn_drain(d, c);
}

/* A whole request has come: answer it, or make it the job. */
static void conn_request(struct daemon *d, struct conn *c)
{
	struct control_request *rq = &c->rq;
	if (!strcmp(rq->command, "status")) {
		if (allowed(d, c, false, "status"))
			answer_status(d, c);
	} else if (!strcmp(rq->command, "update") || !strcmp(rq->command, "rollback")) {
		if (take_job(d, c))
			return;
		reply(c, "end");
	} else {
		reply(c, "error %d unknown command \"%s\"", -EINVAL, rq->command);
		reply(c, "end");
	}
	conn_drain(d, c);
}

/* Take what a reading client has sent; false when c was freed. */
static bool conn_read(struct daemon *d, struct conn *c)
{
	char err[256], shown[300];
	int r = control_request_input(c->fd, &c->rq, err, sizeof(err));
	if (r == 0)
		return true;
	if (r > 0) {
		conn_request(d, c);
		return false;
	}
	log_escape(err, shown, sizeof(shown));
	log_debug("control socket: uid %u: %s", (unsigned)c->uid, shown);
	reply(c, "error %d %s", r, err);
	reply(c, "end");
	conn_drain(d, c);
	return false;
}

/* The oldest client that is not the job's goes, to make room: a reader
 * is told why (after a last look at what it sent). */
static bool conn_evict(struct daemon *d)
{
	struct conn *old = NULL;
	for (size_t i = 0; i < d->conn_count; i++) {
		struct conn *c = d->conns[i];
		if (c->state != CONN_JOB && (!old || c->deadline_ms < old->deadline_ms))
			old = c;
	}
	if (!old)
		return false;
	if (old->state == CONN_READING) {
		if (!conn_read(d, old))
			return true; /* it had sent its request after all: answered */
		reply(old, "busy %d clients are waiting for the daemon; try again", MAX_CONNS);
		reply(old, "end");
		(void)flush(old);
	}
	conn_free(d, old);
	return true;
}

static void conn_accept(struct daemon *d)
{
	for (int k = 0; k < MAX_CONNS; k++) { /* a burst at a time, not all night */
		int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		while (d->conn_count >= MAX_CONNS && conn_evict(d))
			;
		struct conn *c = d->conn_count < MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			close(fd);
			continue;
		}
		if (d->client_sndbuf)
			(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &d->client_sndbuf,
			                 sizeof(d->client_sndbuf));
		c->fd = fd;
		c->state = CONN_READING;
		c->deadline_ms = daemon_now_ms() + REQUEST_TIMEOUT_MS;
		control_request_init(&c->rq);
		d->conns[d->conn_count++] = c;
		daemon_peer_identity(d, c);
		(void)conn_read(d, c); /* the request is often there already */
	}
}

/* The job's client: what it may read goes; a client that left is noted
 * (the job goes on without it). */
static void conn_job_io(struct daemon *d, struct conn *c, short revents)
{
	pthread_mutex_lock(&d->client_mu);
	if (c->fd < 0) {
		pthread_mutex_unlock(&d->client_mu);
		return;
	}
	bool gone = (revents & (POLLHUP | POLLERR)) != 0;
	if (!gone && (revents & POLLIN)) {
		char junk[512]; /* nothing more is expected of it */
		ssize_t n = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n == 0)
			c->read_eof = true;
		else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			gone = true;
	}
	if (gone || flush(c) < 0) {
		close(c->fd);
		c->fd = -1;
		c->off = c->len = 0;
	}
	pthread_mutex_unlock(&d->client_mu);
}

/* Clients past their deadline go: a reader told why. */
static void conn_deadlines(struct daemon *d)
{
	long long now = daemon_now_ms();
	for (size_t i = 0; i < d->conn_count;) {
		struct conn *c = d->conns[i];
		if (c->state == CONN_JOB || now < c->deadline_ms) {
			i++;
			continue;
		}
		if (c->state == CONN_READING) {
			reply(c, "error %d no complete request within %u ms", -EPROTO,
			      REQUEST_TIMEOUT_MS);
			reply(c, "end");
			(void)flush(c);
		}
		conn_free(d, c); /* the last entry moved to i */
	}
}

/* ---- the loop ---- */

static int timeout_ms(const struct daemon *d)
{
	long long now = daemon_now_ms(), t = -1;
	if (d->next_poll_ms && !d->busy)
		t = d->next_poll_ms - now;
	if (d->watchdog_usec) {
		long long w = d->next_watchdog_ms - now;
		t = t < 0 || w < t ? w : t;
	}
	for (size_t i = 0; i < d->conn_count; i++)
		if (d->conns[i]->state != CONN_JOB) {
			long long w = d->conns[i]->deadline_ms - now;
			t = t < 0 || w < t ? w : t;
		}
	return t < 0 ? (t == -1 ? -1 : 0) : (int)(t > 60000 ? 60000 : t);
}

static void on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;
	while (read(d->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP && !d->stopping) {
			reload(d);
		} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			if (!d->stopping)
				log_info("stopping%s",
				         d->busy ? ": the running update ends first" : "");
			d->stopping = true;
			d->cancel = 1;
			notify("STOPPING=1");
		}
	}
}

/* The fixed four descriptors, then every client: its request, its reply.
 * polled[i] is the client of p[4 + i]; returns how many clients. */
static size_t poll_set(struct daemon *d, struct pollfd *p, struct conn **polled)
{
	p[0] = (struct pollfd){.fd = d->sig_fd, .events = POLLIN};
	p[1] = (struct pollfd){.fd = d->done_fd, .events = POLLIN};
	p[2] = (struct pollfd){.fd = d->wake_fd, .events = POLLIN};
	p[3] = (struct pollfd){.fd = d->listen_fd, .events = POLLIN};
	size_t np = 0;
	pthread_mutex_lock(&d->client_mu); /* the job's client's queue */
	for (size_t i = 0; i < d->conn_count; i++) {
		struct conn *cn = d->conns[i];
		short ev = cn->state == CONN_READING ? POLLIN : cn->off < cn->len ? POLLOUT : 0;
		if (cn->state == CONN_JOB && !cn->read_eof)
			ev |= POLLIN;
		if (cn->fd < 0)
			continue;
		p[4 + np] = (struct pollfd){.fd = cn->fd, .events = ev};
		polled[np++] = cn;
	}
	pthread_mutex_unlock(&d->client_mu);
	return np;
}

/* What poll found, in an order that matters: clients first, since a job's
 * end (daemon_job_done) or an eviction may free them. */
static void dispatch(struct daemon *d, const struct pollfd *p, struct conn *const *polled,
                     size_t np)
{
	for (size_t i = 0; i < np; i++) {
		struct conn *cn = polled[i];
		short re = p[4 + i].revents;
		if (!re)
			continue;
		if (cn->state == CONN_READING)
			(void)conn_read(d, cn);
		else if (cn->state == CONN_JOB)
			conn_job_io(d, cn, re);
		else if (flush(cn) != 0)
			conn_free(d, cn); /* its reply went, or it left */
	}
	if (p[2].revents) {
		uint64_t v;
		if (read(d->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_debug("eventfd: %s", strerror(errno));
		if (d->job.client) /* try at once: it may take it all */
			conn_job_io(d, d->job.client, 0);
	}
	if (p[0].revents)
		on_signal(d);
	if (p[1].revents)
		daemon_job_done(d);
	if (p[3].revents)
		conn_accept(d);
}

/* Until a stop has let the running job end, or poll fails. */
static void loop(struct daemon *d)
{
	for (;;) {
		if (d->stopping && !d->busy)
			return;
		if (!d->busy && !d->stopping &&
		    (d->reconcile_due || (d->next_poll_ms && daemon_now_ms() >= d->next_poll_ms)))
			daemon_start_reconcile(d);
		struct pollfd p[4 + MAX_CONNS];
		struct conn *polled[MAX_CONNS];
		size_t np = poll_set(d, p, polled);
		int n = poll(p, (nfds_t)(4 + np), timeout_ms(d));
		if (n < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			return;
		}
		if (d->watchdog_usec && daemon_now_ms() >= d->next_watchdog_ms) {
			notify("WATCHDOG=1");
			d->next_watchdog_ms =
			    daemon_now_ms() + (long long)(d->watchdog_usec / 2000);
		}
		if (n > 0)
			dispatch(d, p, polled, np);
		conn_deadlines(d);
	}
}

/* Nothing open yet; the test hook read. */
static void daemon_init(struct daemon *d, const struct daemon_options *o)
{
	*d = (struct daemon){.o = o,
	                     .listen_fd = -1,
	                     .lock_fd = -1,
	                     .sig_fd = -1,
	                     .done_fd = -1,
	                     .wake_fd = -1,
	                     .socket_gid = (gid_t)-1,
	                     .admin_gid = (gid_t)-1,
	                     .log_budget = CLIENT_LOG_BUDGET};
	pthread_mutex_init(&d->mu, NULL);
	pthread_mutex_init(&d->client_mu, NULL);
	control_request_init(&d->job.rq);
	const char *hook = getenv("MCU_OTA_TEST_CLIENT_BUFFER");
	if (hook && atoi(hook) > 0) { /* a client's buffers this small: lines are dropped */
		d->log_budget = (size_t)atoi(hook);
		d->client_sndbuf = atoi(hook);
	}
	snprintf(d->job_text, sizeof(d->job_text), "idle");
	srandom((unsigned)(time(NULL) ^ getpid()));
}

/* Signals through a signalfd, the worker's two eventfds, the log tee. */
static int events_open(struct daemon *d)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* before any thread starts, so that every thread has them blocked */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	d->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	/* once: every job's lines find their client by the job's log tag */
	log_set_tee(tee_log, d);
	if (d->sig_fd < 0 || d->done_fd < 0 || d->wake_fd < 0) {
		log_error("cannot set up the event loop: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The running job ends first; what can still go to a client, goes. */
static void daemon_close(struct daemon *d)
{
	if (d->busy)
		daemon_job_done(d);
	log_set_tee(NULL, NULL);
	while (d->conn_count) {
		(void)flush(d->conns[0]);
		conn_free(d, d->conns[0]);
	}
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		(void)unlink(d->cfg->daemon.socket);
	}
	int *fds[] = {&d->lock_fd, &d->sig_fd, &d->done_fd, &d->wake_fd};
	for (size_t i = 0; i < sizeof(fds) / sizeof(*fds); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	config_delete(d->pending);
	config_delete(d->cfg);
}

int daemon_run(const struct daemon_options *o)
{
	struct daemon d;
	char err[1024];
	daemon_init(&d, o);
	struct config *c;
	if (load(o, &c, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	daemon_apply_config(&d, c);
	int rc = 1;
	if (events_open(&d) < 0)
		goto out;
	if (daemon_socket_open(&d, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	d.watchdog_usec = notify_watchdog_usec();
	d.next_watchdog_ms = daemon_now_ms();
	log_info("running with %s: %zu device%s, control socket %s", o->config_path,
	         d.cfg->device_count, d.cfg->device_count == 1 ? "" : "s", d.cfg->daemon.socket);
	notify("READY=1\nSTATUS=starting");
	daemon_start_reconcile(&d);
	loop(&d);
	rc = 0;
	log_info("stopped");
out:
	daemon_close(&d);
	return rc;
}
