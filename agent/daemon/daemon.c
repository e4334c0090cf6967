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
#include "core/config_plugins.h"
#include "daemon/control.h"
#include "daemon/notify.h"
#include "daemon/poll_record.h"
#include "update/engine.h"
#include "util/format.h"
#include "util/log.h"

#define REQUEST_TIMEOUT_MS    2000u
#define CLIENT_SEND_TIMEOUT_S 10

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

struct job {
	enum job_kind kind;
	bool force; /* reconcile: asked for, so the poll records do not hold it back */
	int client; /* -1: no one waits for this job */
	struct control_request rq; /* the client's request (devices, source) */
};

struct daemon {
	const struct daemon_options *o;
	struct config *cfg;     /* in force; jobs use it, so a reload waits for them (pending) */
	struct config *pending; /* a reload that waits for the running job */
	int listen_fd, lock_fd, sig_fd, done_fd;
	pthread_t worker;
	bool busy, stopping, reconcile_due;
	long long next_poll_ms; /* 0: no polling */
	long long next_watchdog_ms;
	uint64_t watchdog_usec;
	volatile sig_atomic_t cancel;

	pthread_mutex_t client_mu; /* one line at a time to the job's client */
	pthread_mutex_t mu;        /* guards what follows, shared with the worker */
	struct job job;
	char job_text[160];
	struct live live[CONFIG_MAX_DEVICES + 1];
	size_t live_count;
	bool client_gone;
};

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- talking to the client of a job (from any thread) ---- */

static void to_client(struct daemon *d, const char *fmt, ...) MCU_OTA_PRINTF(2, 3);
static void to_client(struct daemon *d, const char *fmt, ...)
{
	char line[CONTROL_MAX_LINE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* its own lock: a slow client must not hold up status answers */
	pthread_mutex_lock(&d->client_mu);
	if (d->job.client >= 0 && !d->client_gone && control_reply(d->job.client, "%s", line) < 0)
		d->client_gone = true; /* the job goes on without it */
	pthread_mutex_unlock(&d->client_mu);
}

static void tee_log(void *ctx, enum mcu_ota_log_level level, const char *text)
{
	to_client(ctx, "log %d %s", (int)level, text);
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
 * SIGTERM; a waiting client sees the steps (quiet off). */
static struct engine_options job_options(struct daemon *d, const struct job *j)
{
	return (struct engine_options){.config = d->cfg,
	                               .plugin_dir = d->o->plugin_dir,
	                               .quiet = j->client < 0,
	                               .progress = on_progress,
	                               .progress_ctx = d,
	                               .cancel = &d->cancel};
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
	char path[64], err[1024];
	const char *source = j->rq.source;
	if (j->rq.source_fd >= 0) { /* the client's file, opened by the client */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", j->rq.source_fd);
		source = path;
	}
	struct engine_options eo = job_options(d, j);
	eo.source_name = j->rq.source;
	struct engine_outcome out[CONFIG_MAX_DEVICES];
	size_t count = 0;
	int r = engine_update(&eo, source, j->rq.devices, j->rq.device_count, out, &count, err,
	                      sizeof(err));
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
	if (j->client >= 0)
		log_set_tee(tee_log, d);
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
	log_set_tee(NULL, NULL);
	to_client(d, "end");
	uint64_t one = 1;
	if (write(d->done_fd, &one, sizeof(one)) < 0)
		log_error("cannot wake the main loop: %s", strerror(errno));
	return NULL;
}

static void job_tidy(struct daemon *d);

/* Start j (its request and client now belong to the job). */
static void start_job(struct daemon *d, struct job *j, const char *text)
{
	pthread_mutex_lock(&d->mu);
	d->job.kind = j->kind;
	d->job.force = j->force;
	d->job.client = j->client;
	control_request_move(&d->job.rq, &j->rq);
	d->live_count = 0;
	d->client_gone = false;
	snprintf(d->job_text, sizeof(d->job_text), "%s", text);
	pthread_mutex_unlock(&d->mu);
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
	struct job j = {.kind = JOB_RECONCILE, .client = -1};
	j.rq.source_fd = -1;
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
	if (!d->o->log_level_given && c->log_level >= 0)
		log_set_level((enum mcu_ota_log_level)c->log_level);
}

/* The worker has ended (or never started): its client and request go. */
static void job_tidy(struct daemon *d)
{
	pthread_mutex_lock(&d->mu);
	if (d->job.client >= 0)
		close(d->job.client);
	control_request_free(&d->job.rq);
	d->job.client = -1;
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
	}
	snprintf(lock, sizeof(lock), "%s.lock", dc->socket);
	d->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (d->lock_fd < 0) {
		int r = -errno;
		mcu_ota_set_error(err, errlen, "cannot open %s: %s", lock, strerror(errno));
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

	gid_t gid = (gid_t)-1;
	if (dc->socket_group) {
		struct group *g = getgrnam(dc->socket_group);
		if (!g) {
			mcu_ota_set_error(err, errlen,
			                  "daemon.socket_group: no group \"%s\" on this system",
			                  dc->socket_group);
			return -ENOENT;
		}
		gid = g->gr_gid;
	}
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	memcpy(a.sun_path, dc->socket, strlen(dc->socket) + 1);
	(void)unlink(dc->socket); /* left by a daemon that was killed: the lock is ours */
	d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	mode_t old = umask(0177); /* no moment in which others could connect */
	int r = d->listen_fd < 0 ? -1 : bind(d->listen_fd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (r < 0 || listen(d->listen_fd, 16) < 0 ||
	    (dc->socket_group &&
	     (chown(dc->socket, (uid_t)-1, gid) < 0 || chmod(dc->socket, 0660) < 0))) {
		r = -errno;
		mcu_ota_set_error(err, errlen, "cannot listen on %s: %s", dc->socket,
		                  strerror(errno));
		return r;
	}
	return 0;
}

static void answer_status(struct daemon *d, int fd)
{
	long long left = d->next_poll_ms ? (d->next_poll_ms - now_ms()) / 1000 : -1;
	struct live live[sizeof(d->live) / sizeof(*d->live)];
	char text[sizeof(d->job_text)];
	pthread_mutex_lock(&d->mu); /* a copy: the client may be slow to read */
	size_t n = d->live_count;
	memcpy(live, d->live, n * sizeof(*live));
	snprintf(text, sizeof(text), "%s", d->busy ? d->job_text : "idle");
	pthread_mutex_unlock(&d->mu);
	(void)control_reply(fd, "daemon pid %ld", (long)getpid());
	(void)control_reply(fd, "daemon job %s", text);
	if (left >= 0)
		(void)control_reply(fd, "daemon next_poll_s %lld", left);
	for (size_t i = 0; i < n; i++)
		(void)control_reply(fd, "device %s %s %" PRIu64 " %" PRIu64, live[i].device,
		                    live[i].phase, live[i].done, live[i].total);
	(void)control_reply(fd, "end");
}

/* An update or rollback asked for: check it, then run it as the job. */
static bool take_job(struct daemon *d, int fd, struct control_request *rq)
{
	struct job j = {.client = fd};
	char text[160];
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
		(void)control_reply(fd, "busy the daemon is %s%s; try again when it is done",
		                    d->stopping ? "stopping" : d->job_text, now);
		pthread_mutex_unlock(&d->mu);
		return false;
	}
	for (size_t i = 0; i < rq->device_count; i++)
		if (!config_device(d->cfg, rq->devices[i])) {
			(void)control_reply(fd, "error %d no device \"%s\" in %s", -ESRCH,
			                    rq->devices[i], d->cfg->path);
			return false;
		}
	if (!strcmp(rq->command, "rollback")) {
		if (rq->device_count != 1) {
			(void)control_reply(fd, "error %d rollback takes one device", -EINVAL);
			return false;
		}
		j.kind = JOB_ROLLBACK;
		snprintf(text, sizeof(text), "rolling back %s", rq->devices[0]);
	} else if (rq->source) {
		if (!fetch_is_url(rq->source) && rq->source_fd < 0) {
			(void)control_reply(fd,
			                    "error %d send the bundle as an open file: the daemon "
			                    "may not see %s",
			                    -EINVAL, rq->source);
			return false;
		}
		j.kind = JOB_UPDATE;
		snprintf(text, sizeof(text), "updating from a bundle");
	} else {
		/* update now: the configured firmware, whatever the poll records say */
		for (size_t i = 0; i < rq->device_count; i++)
			if (!config_device(d->cfg, rq->devices[i])->firmware_source) {
				(void)control_reply(
				    fd, "error %d device %s has no firmware in %s: give a bundle",
				    -ESRCH, rq->devices[i], d->cfg->path);
				return false;
			}
		j.kind = JOB_RECONCILE;
		j.force = true;
		snprintf(text, sizeof(text), "updating to the configured firmware");
	}
	control_request_move(&j.rq, rq); /* the job owns the request and its descriptor */
	start_job(d, &j, text);
	return true;
}

static void serve(struct daemon *d)
{
	int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct timeval tv = {CLIENT_SEND_TIMEOUT_S, 0};
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct control_request rq;
	char err[256];
	bool kept = false;
	if (control_read_request(fd, &rq, REQUEST_TIMEOUT_MS, err, sizeof(err)) < 0) {
		log_debug("control socket: %s", err);
		(void)control_reply(fd, "error %d %s", -EPROTO, err);
		(void)control_reply(fd, "end");
	} else if (!strcmp(rq.command, "status")) {
		answer_status(d, fd);
	} else if (!strcmp(rq.command, "update") || !strcmp(rq.command, "rollback")) {
		kept = take_job(d, fd, &rq);
		if (!kept)
			(void)control_reply(fd, "end");
	} else {
		(void)control_reply(fd, "error %d unknown command \"%s\"", -EINVAL, rq.command);
		(void)control_reply(fd, "end");
	}
	if (!kept) {
		control_request_free(&rq);
		close(fd);
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
	struct daemon d = {.o = o, .listen_fd = -1, .lock_fd = -1, .sig_fd = -1, .done_fd = -1};
	char err[1024];
	pthread_mutex_init(&d.mu, NULL);
	pthread_mutex_init(&d.client_mu, NULL);
	d.job.client = -1;
	d.job.rq.source_fd = -1;
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
	int rc = 1;
	if (d.sig_fd < 0 || d.done_fd < 0) {
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
		struct pollfd p[3] = {{.fd = d.sig_fd, .events = POLLIN},
		                      {.fd = d.done_fd, .events = POLLIN},
		                      {.fd = d.listen_fd, .events = POLLIN}};
		int n = poll(p, 3, timeout_ms(&d));
		if (n < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			break;
		}
		if (d.watchdog_usec && now_ms() >= d.next_watchdog_ms) {
			notify("WATCHDOG=1");
			d.next_watchdog_ms = now_ms() + (long long)(d.watchdog_usec / 2000);
		}
		if (n <= 0)
			continue;
		if (p[0].revents)
			on_signal(&d);
		if (p[1].revents)
			job_done(&d);
		if (p[2].revents)
			serve(&d);
	}
	rc = 0;
	log_info("stopped");
out:
	if (d.busy)
		job_done(&d);
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
	config_delete(d.pending);
	config_delete(d.cfg);
	return rc;
}
