#define _GNU_SOURCE /* accept4 */
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bundle/version.h"
#include "config/config.h"
#include "plugin/config_plugins.h"
#include "daemon/control.h"
#include "daemon/notify.h"
#include "daemon/poll_record.h"
#include "update/engine.h"
#include "util/format.h"
#include "util/log.h"

#define REQUEST_TIMEOUT_MS 2000u  /* for a client to send its whole request */
#define DRAIN_TIMEOUT_MS   10000u /* for a client to read the rest of its reply */
/* Connections whose request has not ended or whose reply is being read (the
 * job's client is one of them): at most this many, each some 9 KiB; beyond,
 * the oldest is let go when another comes. */
#define MAX_CONNS 256
/* Log lines queued for the job's client: a client that reads slower than
 * the job logs loses the excess (the others are always queued). */
#define CLIENT_LOG_BUDGET (64 * 1024)

enum job_kind { JOB_RECONCILE, JOB_UPDATE, JOB_ROLLBACK };

/* A device a job works on, for status and STATUS= lines. */
struct live {
	char device[STORE_NAME_MAX + 1];
	char phase[24];
	uint64_t done, total;
};

static unsigned percent(uint64_t done, uint64_t total)
{
	return total ? (unsigned)(done * 100 / total) : 0;
}

/* A client of the control socket. Its socket is non-blocking: the main loop
 * reads requests and writes replies as they can go, so no client can hold up
 * another, or the daemon. */
enum conn_state {
	CONN_READING,  /* its request has not ended (deadline) */
	CONN_JOB,      /* it waits for the job it asked for */
	CONN_DRAINING, /* it reads the end of its reply (deadline), then goes */
};

struct conn {
	int fd; /* -1: gone (a job's client that left: the job goes on) */
	enum conn_state state;
	long long deadline_ms;
	uid_t uid;
	bool in_group, in_admin_group; /* from SO_PEERCRED and SO_PEERGROUPS */
	bool read_eof;
	struct control_request rq;
	/* what waits to be sent: out[off..len); guarded by the daemon's
	 * client_mu while the conn is the job's */
	char *out;
	size_t off, len, cap;
	unsigned long dropped; /* log lines lost since the last that went */
};

struct job {
	enum job_kind kind;
	bool force;          /* reconcile: asked for, so the poll records do not hold it back */
	struct conn *client; /* NULL: no one waits for this job */
	struct control_request rq; /* the client's request (devices, source) */
	char source_name[512];     /* rq.source as it may be logged */
};

struct daemon {
	const struct daemon_options *o;
	struct config *cfg;     /* in force; jobs use it, so a reload waits for them (pending) */
	struct config *pending; /* a reload that waits for the running job */
	int listen_fd, lock_fd, sig_fd, done_fd;
	int wake_fd;                 /* the worker queued lines for its client */
	gid_t socket_gid, admin_gid; /* (gid_t)-1: none */
	struct conn *conns[MAX_CONNS];
	size_t conn_count;
	unsigned job_number; /* the log tag of the job's threads */
	size_t log_budget;   /* CLIENT_LOG_BUDGET, or the test hook's */
	int client_sndbuf;   /* 0: the system's, or the test hook's */
	pthread_t worker;
	bool busy, stopping, reconcile_due;
	long long next_poll_ms; /* 0: no polling */
	long long next_watchdog_ms;
	uint64_t watchdog_usec;
	volatile sig_atomic_t cancel;

	pthread_mutex_t client_mu; /* the job client's queue */
	pthread_mutex_t mu;        /* guards what follows, shared with the worker */
	struct job job;
	char job_text[160];
	struct live live[CONFIG_MAX_DEVICES + 1];
	size_t live_count;
	unsigned tee_tag; /* the running job's log tag, 0: none (guarded by client_mu) */
};

static long long now_ms(void)
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

static void to_client(struct daemon *d, const char *fmt, ...) MCU_OTA_PRINTF(2, 3);
static void to_client(struct daemon *d, const char *fmt, ...)
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

static void on_progress(void *ctx, const char *device, const char *phase, uint64_t done,
                        uint64_t total)
{
	struct daemon *d = ctx;
	const char *name = *device ? device : "-";
	unsigned pct = percent(done, total);
	bool tell = false;
	pthread_mutex_lock(&d->mu);
	struct live *l = NULL;
	for (size_t i = 0; i < d->live_count && !l; i++)
		if (!strcmp(d->live[i].device, name))
			l = &d->live[i];
	if (!l && d->live_count < sizeof(d->live) / sizeof(*d->live)) {
		l = &d->live[d->live_count++];
		snprintf(l->device, sizeof(l->device), "%s", name);
	}
	if (l) {
		tell =
		    strcmp(l->phase, phase) || pct != percent(l->done, l->total) || done == total;
		snprintf(l->phase, sizeof(l->phase), "%s", phase);
		l->done = done;
		l->total = total;
	}
	pthread_mutex_unlock(&d->mu);
	/* for the service manager; a waiting client reads the engine's own
	 * progress lines in the log it is sent */
	if (!tell)
		return;
	if (total)
		notify("STATUS=%s: %s %u%%", *device ? device : "bundle", phase, pct);
	else
		notify("STATUS=%s: %s", *device ? device : "bundle", phase);
}

static void send_outcomes(struct daemon *d, const struct engine_outcome *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		to_client(d, "outcome %s %d %d %s %s", out[i].device, (int)out[i].result,
		          out[i].code, out[i].version[0] ? out[i].version : "-", out[i].message);
}

/* The engine's options for a job: progress into the live table, stopped by
 * SIGTERM; a waiting client sees the steps (quiet off). allow-downgrade
 * comes only in a request take_job has let through (root's or
 * admin_group's); a reconcile of its own has none. */
static struct engine_options job_options(struct daemon *d, const struct job *j)
{
	return (struct engine_options){.config = d->cfg,
	                               .plugin_dir = d->o->plugin_dir,
	                               .quiet = !j->client,
	                               .progress = on_progress,
	                               .progress_ctx = d,
	                               .cancel = &d->cancel,
	                               .source_fd = -1,
	                               .allow_downgrade = j->rq.allow_downgrade};
}

/* ---- reconcile ---- */

/* A local bundle's validator: it changed when any of these did. */
static int file_stamp(const char *path, char *out, size_t n)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	snprintf(out, n, "file %ju:%ju:%jd:%jd.%09ld", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino,
	         (intmax_t)st.st_size, (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	return 0;
}

static enum poll_outcome outcome_of(const struct engine_outcome *o)
{
	return o->result == RESULT_INSTALLED || (o->result == RESULT_NONE && o->code == 0)
	           ? POLL_OK
	           : POLL_FAILED;
}

static void record(const struct config *c, const struct device_config *dev, const char *etag,
                   const char *last_modified, enum poll_outcome outcome)
{
	struct poll_record r = {.outcome = outcome};
	char err[512];
	poll_record_set_source(&r, dev->firmware_source);
	snprintf(r.version, sizeof(r.version), "%s",
	         dev->firmware_version ? dev->firmware_version : "");
	snprintf(r.etag, sizeof(r.etag), "%s", etag);
	snprintf(r.last_modified, sizeof(r.last_modified), "%s", last_modified);
	if (poll_record_save(c->cache_dir, dev->name, &r, err, sizeof(err)) < 0)
		log_warning("%s: %s (the next poll downloads the bundle again)", dev->name, err);
}

/* Whether dev needs its source fetched; *conditional: the validators of the
 * last attempt apply (a 304 or an unchanged file means nothing to do). */
static bool wants_fetch(const struct config *c, const struct device_config *dev, bool force,
                        struct poll_record *rec, bool *conditional)
{
	struct engine_status s;
	engine_status(c, dev, &s);
	int cmp = 1; /* "2.0" is "2.0.0" */
	bool runs_wanted = dev->firmware_version && s.has_current &&
	                   version_compare(s.current.version, dev->firmware_version, &cmp) == 0 &&
	                   cmp == 0 && s.journal.state == UPDATE_IDLE;
	poll_record_load(c->cache_dir, dev->name, rec);
	bool same_source = poll_record_same_source(rec, dev->firmware_source);
	bool same_version =
	    !strcmp(rec->version, dev->firmware_version ? dev->firmware_version : "");
	*conditional = false;
	if (force)
		return true;
	if (runs_wanted) {
		log_debug("%s: runs %s as wanted", dev->name, dev->firmware_version);
		return false;
	}
	/* a failed bundle waits for a change (of it, or of the version wanted);
	 * "whatever the source holds" asks whether it changed since it was
	 * installed, whatever version was wanted then */
	*conditional = same_source && ((rec->outcome == POLL_FAILED && same_version) ||
	                               (rec->outcome == POLL_OK && !dev->firmware_version));
	return true;
}

static void log_unchanged(const char *device, const char *source, const struct poll_record *rec)
{
	log_info("%s: %s is unchanged since it %s", device, source,
	         rec->outcome == POLL_FAILED ? "failed: not tried again" : "was installed");
}

static void reconcile_group(struct daemon *d, const struct job *j,
                            const struct device_config **devs, size_t n, bool conditional,
                            const struct poll_record *rec)
{
	const struct config *c = d->cfg;
	const char *source = devs[0]->firmware_source;
	const char *names[CONFIG_MAX_DEVICES], *versions[CONFIG_MAX_DEVICES];
	char stamp[256] = "", err[1024];
	for (size_t i = 0; i < n; i++) {
		names[i] = devs[i]->name;
		versions[i] = devs[i]->firmware_version;
	}
	bool url = fetch_is_url(source);
	if (!url) {
		int r = file_stamp(source, stamp, sizeof(stamp));
		if (r < 0) {
			log_error("%s: cannot read the bundle %s: %s", names[0], source,
			          strerror(-r));
			return;
		}
		if (conditional && !strcmp(stamp, rec->etag)) {
			log_unchanged(names[0], source, rec);
			return;
		}
	}
	struct fetch_result fetched = {0};
	struct engine_options eo = job_options(d, j);
	eo.skip_running_image = !j->force;
	eo.expect_versions = versions;
	eo.if_none_match = conditional && url && rec->etag[0] ? rec->etag : NULL;
	eo.if_modified_since =
	    conditional && url && rec->last_modified[0] ? rec->last_modified : NULL;
	eo.fetched = &fetched;
	struct engine_outcome out[CONFIG_MAX_DEVICES];
	size_t count = 0;
	int r = engine_update(&eo, source, names, n, out, &count, err, sizeof(err));
	const char *etag = url ? fetched.etag : stamp, *lm = url ? fetched.last_modified : "";
	if (r == 0 && url && fetched.not_modified) {
		log_unchanged(names[0], source, rec);
		return;
	}
	if (r < 0) {
		log_error("%s: %s", names[0], err);
		to_client(d, "error %d %s", r, err);
		/* a download that did not complete may work next time; a bundle
		 * that was refused is not fetched again until it changes */
		bool refused;
		if (r == -ECANCELED)
			refused = false;
		else if (r == -ESRCH) /* no image for the device, or not the version wanted */
			refused = true;
		else if (url) /* the reader refused the bytes, or the whole bundle, or its size */
			refused = fetched.error == FETCH_ERR_SINK ||
			          fetched.error == FETCH_ERR_NONE ||
			          fetched.error == FETCH_ERR_TOO_BIG;
		else
			refused = r != -ENOENT && r != -EACCES && r != -EIO;
		if (refused)
			for (size_t i = 0; i < n; i++)
				record(c, devs[i], etag, lm, POLL_FAILED);
		return;
	}
	send_outcomes(d, out, count);
	for (size_t i = 0; i < count; i++) { /* the engine has logged how each ended */
		const struct device_config *dev = config_device(c, out[i].device);
		if (dev)
			record(c, dev, etag, lm, outcome_of(&out[i]));
	}
}

static void reconcile(struct daemon *d, const struct job *j)
{
	const struct config *c = d->cfg;
	/* first, what a crash left unfinished */
	for (size_t i = 0; i < c->device_count && !d->cancel; i++) {
		struct engine_status s;
		engine_status(c, &c->devices[i], &s);
		if (s.journal.state == UPDATE_IDLE || s.journal.state == UPDATE_FAILED)
			continue;
		struct engine_options eo = job_options(d, j);
		struct engine_outcome out;
		log_info("%s: finishing the update a stop interrupted (%s)", c->devices[i].name,
		         update_state_name(s.journal.state));
		engine_recover(&eo, &c->devices[i], &out);
	}
	/* devices to fetch for, grouped by source (one download, parallel installs) */
	const struct device_config *todo[CONFIG_MAX_DEVICES];
	struct poll_record recs[CONFIG_MAX_DEVICES];
	bool cond[CONFIG_MAX_DEVICES], done[CONFIG_MAX_DEVICES] = {false};
	size_t n = 0;
	for (size_t i = 0; i < c->device_count; i++) {
		const struct device_config *dev = &c->devices[i];
		bool asked = j->rq.device_count == 0;
		for (size_t k = 0; k < j->rq.device_count; k++)
			asked = asked || !strcmp(j->rq.devices[k], dev->name);
		if (!asked || !dev->firmware_source)
			continue;
		if (wants_fetch(c, dev, j->force, &recs[n], &cond[n]))
			todo[n++] = dev;
	}
	for (size_t i = 0; i < n && !d->cancel; i++) {
		if (done[i])
			continue;
		const struct device_config *group[CONFIG_MAX_DEVICES] = {NULL};
		size_t g = 0;
		for (size_t k = i; k < n; k++)
			if (!done[k] &&
			    !strcmp(todo[k]->firmware_source, todo[i]->firmware_source) &&
			    cond[k] == cond[i] &&
			    (!cond[i] || (!strcmp(recs[k].etag, recs[i].etag) &&
			                  !strcmp(recs[k].last_modified, recs[i].last_modified) &&
			                  recs[k].outcome == recs[i].outcome))) {
				group[g++] = todo[k];
				done[k] = true;
			}
		reconcile_group(d, j, group, g, cond[i], &recs[i]);
	}
}

/* ---- jobs ---- */

static void run_update(struct daemon *d, const struct job *j)
{
	char err[1024];
	struct engine_options eo = job_options(d, j);
	/* the client's file, opened by the client: read through its descriptor
	 * (checked when the request came: a regular file open for reading) */
	eo.source_fd = j->rq.source_fd;
	eo.source_name = j->source_name[0] ? j->source_name : NULL; /* a URL: redacted */
	struct engine_outcome out[CONFIG_MAX_DEVICES];
	size_t count = 0;
	int r = engine_update(&eo, j->rq.source, j->rq.devices, j->rq.device_count, out, &count,
	                      err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		to_client(d, "error %d %s", r, err);
		return;
	}
	send_outcomes(d, out, count);
}

static void run_rollback(struct daemon *d, const struct job *j)
{
	struct engine_options eo = job_options(d, j);
	struct engine_outcome out;
	engine_rollback(&eo, config_device(d->cfg, j->rq.devices[0]), &out);
	send_outcomes(d, &out, 1);
}

static void *worker(void *arg)
{
	struct daemon *d = arg;
	struct job *j = &d->job;
	/* this thread's lines, and those of the device threads the engine
	 * starts, are the job's: its client gets them (tee_log) */
	log_set_thread_tag(d->job_number);
	switch (j->kind) {
	case JOB_RECONCILE:
		reconcile(d, j);
		break;
	case JOB_UPDATE:
		run_update(d, j);
		break;
	case JOB_ROLLBACK:
		run_rollback(d, j);
		break;
	}
	to_client(d, "end");
	uint64_t one = 1;
	if (write(d->done_fd, &one, sizeof(one)) < 0)
		log_error("cannot wake the main loop: %s", strerror(errno));
	return NULL;
}

static void job_tidy(struct daemon *d);
static void conn_after_job(struct daemon *d, struct conn *c);

/* Start j (its request and client now belong to the job). */
static void start_job(struct daemon *d, struct job *j, const char *text)
{
	pthread_mutex_lock(&d->mu);
	d->job.kind = j->kind;
	d->job.force = j->force;
	control_request_move(&d->job.rq, &j->rq);
	snprintf(d->job.source_name, sizeof(d->job.source_name), "%s", j->source_name);
	d->live_count = 0;
	snprintf(d->job_text, sizeof(d->job_text), "%s", text);
	pthread_mutex_unlock(&d->mu);
	d->job_number = d->job_number % 0xfffffffeu + 1; /* never 0: untagged */
	pthread_mutex_lock(&d->client_mu);
	d->job.client = j->client;
	__atomic_store_n(&d->tee_tag, j->client ? d->job_number : 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&d->client_mu);
	int r = pthread_create(&d->worker, NULL, worker, d);
	if (r != 0) {
		log_error("cannot start a worker thread: %s; the job is dropped", strerror(r));
		to_client(d, "error %d cannot start the job: %s", -r, strerror(r));
		to_client(d, "end");
		job_tidy(d);
		return;
	}
	d->busy = true;
	notify("STATUS=%s", text);
}

static void schedule_poll(struct daemon *d)
{
	const struct daemon_config *dc = &d->cfg->daemon;
	if (!dc->poll_interval_s) {
		d->next_poll_ms = 0;
		return;
	}
	long long jitter =
	    dc->poll_jitter_s ? random() % ((long long)dc->poll_jitter_s * 1000 + 1) : 0;
	d->next_poll_ms = now_ms() + (long long)dc->poll_interval_s * 1000 + jitter;
}

static void start_reconcile(struct daemon *d)
{
	struct job j = {.kind = JOB_RECONCILE};
	control_request_init(&j.rq);
	d->reconcile_due = false;
	schedule_poll(d);
	start_job(d, &j, "reconciling");
}

static void config_delete(struct config *c)
{
	if (c)
		config_free(c);
	free(c);
}

static void apply_config(struct daemon *d, struct config *c)
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

/* The worker has ended (or never started): its client and request go. */
static void job_tidy(struct daemon *d)
{
	pthread_mutex_lock(&d->client_mu);
	struct conn *c = d->job.client;
	d->job.client = NULL;
	__atomic_store_n(&d->tee_tag, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&d->client_mu);
	if (c)
		conn_after_job(d, c);
	pthread_mutex_lock(&d->mu);
	control_request_free(&d->job.rq);
	d->live_count = 0;
	snprintf(d->job_text, sizeof(d->job_text), "idle");
	pthread_mutex_unlock(&d->mu);
	d->busy = false;
	if (d->pending) {
		apply_config(d, d->pending);
		d->pending = NULL;
		log_info("the new configuration is in force");
	}
	notify("STATUS=idle");
}

static void job_done(struct daemon *d)
{
	uint64_t v;
	if (read(d->done_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("eventfd: %s", strerror(errno));
	pthread_join(d->worker, NULL);
	job_tidy(d);
}

/* ---- configuration ---- */

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
		apply_config(d, c);
	}
	d->reconcile_due = true;
	notify("READY=1");
}

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

static int socket_open(struct daemon *d, char *err, size_t errlen)
{
	const struct daemon_config *dc = &d->cfg->daemon;
	char lock[4200], dir[4096];
	snprintf(dir, sizeof(dir), "%s", dc->socket);
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
	int r = check_socket_dir(dir, err, errlen);
	if (r < 0)
		return r;
	snprintf(lock, sizeof(lock), "%s.lock", dc->socket);
	d->lock_fd = open_lock(lock, err, errlen);
	if (d->lock_fd < 0) {
		r = d->lock_fd;
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
		    *pid ? pid : "?", dc->socket);
		return -EBUSY;
	}
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(d->lock_fd, 0) < 0 || pwrite(d->lock_fd, pid, (size_t)len, 0) != len)
		log_debug("cannot write the pid into %s", lock);

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

/* ---- the clients ---- */

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
	char path[64], *line = NULL;
	size_t cap = 0;
	gid_t *g = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	FILE *f = fopen(path, "re");
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
	free(line);
	fclose(f);
	return g;
}

/* Who the peer is, as the kernel saw it when it connected. */
static void peer_identity(struct daemon *d, struct conn *c)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);
	c->uid = (uid_t)-1; /* unknown: allowed nothing */
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0)
		return;
	c->uid = cr.uid;
	gid_t small[64], *g = small;
	socklen_t gl = sizeof(small);
	size_t n = 0;
	int r = getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, g, &gl);
	if (r < 0 && errno == ERANGE) { /* more than 64 groups */
		g = malloc(gl);
		r = g ? getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, g, &gl) : -1;
	}
	if (r == 0) {
		n = gl / sizeof(gid_t);
	} else {
		if (g != small)
			free(g);
		g = proc_groups(cr.pid, &n);
	}
	if (!g) { /* unknown: the primary group only */
		g = small;
		n = 0;
	}
	c->in_group = in_list(d->socket_gid, cr.gid, g, n);
	c->in_admin_group = in_list(d->admin_gid, cr.gid, g, n);
	if (g != small)
		free(g);
}

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
	long long left = d->next_poll_ms ? (d->next_poll_ms - now_ms()) / 1000 : -1;
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

/* An update or rollback asked for: check it, then run it as the job. */
static bool take_job(struct daemon *d, struct conn *c)
{
	struct control_request *rq = &c->rq;
	struct job j = {.client = c};
	char text[160], err[256];
	bool rollback = !strcmp(rq->command, "rollback");
	bool url = rq->source && fetch_is_url(rq->source);
	/* who may ask for it comes first: a refusal says what is needed */
	const char *what = rollback     ? "rollback"
	                   : url        ? "an update from a URL"
	                   : rq->source ? "an update from a file"
	                                : "an update to the configured firmware";
	bool admin = rollback || url;
	if (rq->allow_downgrade) {
		what = "allow-downgrade";
		admin = true;
	}
	if (!allowed(d, c, admin, what))
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
		char now[512] = "";
		pthread_mutex_lock(&d->mu); /* what it is doing, device by device */
		for (size_t i = 0; i < d->live_count; i++) {
			const struct live *l = &d->live[i];
			size_t off = strlen(now);
			if (l->total)
				snprintf(now + off, sizeof(now) - off, "%s%s: %s %u%%",
				         off ? ", " : " (", l->device, l->phase,
				         percent(l->done, l->total));
			else
				snprintf(now + off, sizeof(now) - off, "%s%s: %s",
				         off ? ", " : " (", l->device, l->phase);
		}
		if (*now)
			snprintf(now + strlen(now), sizeof(now) - strlen(now), ")");
		reply(c, "busy the daemon is %s%s; try again when it is done",
		      d->stopping ? "stopping" : d->job_text, now);
		pthread_mutex_unlock(&d->mu);
		return false;
	}
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
		j.kind = JOB_ROLLBACK;
		snprintf(text, sizeof(text), "rolling back %s", rq->devices[0]);
	} else if (rq->source) {
		if (!url && rq->source_fd < 0) {
			reply(c,
			      "error %d send the bundle as an open file: the daemon may not see "
			      "%s",
			      -EINVAL, rq->source);
			return false;
		}
		j.kind = JOB_UPDATE;
		if (!url) /* the client's name for its file, as it may be logged */
			log_escape(rq->source, j.source_name, sizeof(j.source_name));
		snprintf(text, sizeof(text), "updating from a bundle");
	} else {
		/* update now: the configured firmware, whatever the poll records say */
		for (size_t i = 0; i < rq->device_count; i++)
			if (!config_device(d->cfg, rq->devices[i])->firmware_source) {
				reply(c, "error %d device %s has no firmware in %s: give a bundle",
				      -ESRCH, rq->devices[i], d->cfg->path);
				return false;
			}
		j.kind = JOB_RECONCILE;
		j.force = true;
		snprintf(text, sizeof(text), "updating to the configured firmware");
	}
	control_request_move(&j.rq, rq); /* the job owns the request and its descriptor */
	c->state = CONN_JOB;
	start_job(d, &j, text);
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
	c->deadline_ms = now_ms() + DRAIN_TIMEOUT_MS;
	if (flush(c) != 0)
		conn_free(d, c);
}

static void conn_after_job(struct daemon *d, struct conn *c)
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
		c->deadline_ms = now_ms() + REQUEST_TIMEOUT_MS;
		control_request_init(&c->rq);
		d->conns[d->conn_count++] = c;
		peer_identity(d, c);
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
	long long now = now_ms();
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
	long long now = now_ms(), t = -1;
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

int daemon_run(const struct daemon_options *o)
{
	struct daemon d = {.o = o,
	                   .listen_fd = -1,
	                   .lock_fd = -1,
	                   .sig_fd = -1,
	                   .done_fd = -1,
	                   .wake_fd = -1,
	                   .socket_gid = (gid_t)-1,
	                   .admin_gid = (gid_t)-1};
	char err[1024];
	pthread_mutex_init(&d.mu, NULL);
	pthread_mutex_init(&d.client_mu, NULL);
	control_request_init(&d.job.rq);
	d.log_budget = CLIENT_LOG_BUDGET;
	const char *hook = getenv("MCU_OTA_TEST_CLIENT_BUFFER");
	if (hook && atoi(hook) > 0) { /* a client's buffers this small: lines are dropped */
		d.log_budget = (size_t)atoi(hook);
		d.client_sndbuf = atoi(hook);
	}
	snprintf(d.job_text, sizeof(d.job_text), "idle");
	srandom((unsigned)(time(NULL) ^ getpid()));
	struct config *c;
	if (load(o, &c, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	apply_config(&d, c);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* before any thread starts, so that every thread has them blocked */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	d.sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	d.done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	d.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	/* once: every job's lines find their client by the job's log tag */
	log_set_tee(tee_log, &d);
	int rc = 1;
	if (d.sig_fd < 0 || d.done_fd < 0 || d.wake_fd < 0) {
		log_error("cannot set up the event loop: %s", strerror(errno));
		goto out;
	}
	if (socket_open(&d, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	d.watchdog_usec = notify_watchdog_usec();
	d.next_watchdog_ms = now_ms();
	log_info("running with %s: %zu device%s, control socket %s", o->config_path,
	         d.cfg->device_count, d.cfg->device_count == 1 ? "" : "s", d.cfg->daemon.socket);
	notify("READY=1\nSTATUS=starting");
	start_reconcile(&d);
	for (;;) {
		if (d.stopping && !d.busy)
			break;
		if (!d.busy && !d.stopping &&
		    (d.reconcile_due || (d.next_poll_ms && now_ms() >= d.next_poll_ms)))
			start_reconcile(&d);
		/* the fixed four, then every client: its request, its reply */
		struct pollfd p[4 + MAX_CONNS] = {{.fd = d.sig_fd, .events = POLLIN},
		                                  {.fd = d.done_fd, .events = POLLIN},
		                                  {.fd = d.wake_fd, .events = POLLIN},
		                                  {.fd = d.listen_fd, .events = POLLIN}};
		struct conn *polled[MAX_CONNS];
		size_t np = 0;
		pthread_mutex_lock(&d.client_mu); /* the job's client's queue */
		for (size_t i = 0; i < d.conn_count; i++) {
			struct conn *cn = d.conns[i];
			short ev = cn->state == CONN_READING ? POLLIN
			           : cn->off < cn->len       ? POLLOUT
			                                     : 0;
			if (cn->state == CONN_JOB && !cn->read_eof)
				ev |= POLLIN;
			if (cn->fd < 0)
				continue;
			p[4 + np] = (struct pollfd){.fd = cn->fd, .events = ev};
			polled[np++] = cn;
		}
		pthread_mutex_unlock(&d.client_mu);
		int n = poll(p, (nfds_t)(4 + np), timeout_ms(&d));
		if (n < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			break;
		}
		if (d.watchdog_usec && now_ms() >= d.next_watchdog_ms) {
			notify("WATCHDOG=1");
			d.next_watchdog_ms = now_ms() + (long long)(d.watchdog_usec / 2000);
		}
		/* clients first: a job's end (job_done) or an eviction may free them */
		for (size_t i = 0; n > 0 && i < np; i++) {
			struct conn *cn = polled[i];
			short re = p[4 + i].revents;
			if (!re)
				continue;
			if (cn->state == CONN_READING)
				(void)conn_read(&d, cn);
			else if (cn->state == CONN_JOB)
				conn_job_io(&d, cn, re);
			else if (flush(cn) != 0)
				conn_free(&d, cn); /* its reply went, or it left */
		}
		if (n > 0 && p[2].revents) {
			uint64_t v;
			if (read(d.wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_debug("eventfd: %s", strerror(errno));
			if (d.job.client) /* try at once: it may take it all */
				conn_job_io(&d, d.job.client, 0);
		}
		if (n > 0 && p[0].revents)
			on_signal(&d);
		if (n > 0 && p[1].revents)
			job_done(&d);
		if (n > 0 && p[3].revents)
			conn_accept(&d);
		conn_deadlines(&d);
	}
	rc = 0;
	log_info("stopped");
out:
	if (d.busy)
		job_done(&d);
	log_set_tee(NULL, NULL);
	while (d.conn_count) { /* what can still go, goes */
		(void)flush(d.conns[0]);
		conn_free(&d, d.conns[0]);
	}
	if (d.listen_fd >= 0) {
		close(d.listen_fd);
		(void)unlink(d.cfg->daemon.socket);
	}
	if (d.lock_fd >= 0)
		close(d.lock_fd);
	if (d.sig_fd >= 0)
		close(d.sig_fd);
	if (d.done_fd >= 0)
		close(d.done_fd);
	if (d.wake_fd >= 0)
		close(d.wake_fd);
	config_delete(d.pending);
	config_delete(d.cfg);
	return rc;
}
