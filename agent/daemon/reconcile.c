/* What the daemon runs: a reconcile (unfinished journals, then each device's
 * configured firmware, fetched only when the poll records say it may have
 * changed), an update or a rollback asked for on the socket; one job at a
 * time, on a worker thread, through the update engine. */
#include "daemon/daemon_private.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/version.h"
#include "daemon/notify.h"
#include "daemon/poll_record.h"
#include "fetch/fetch.h"
#include "update/engine.h"
#include "util/log.h"

/* ---- what a job tells ---- */

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
		daemon_to_client(d, "outcome %s %d %d %s %s", out[i].device, (int)out[i].result,
		                 out[i].code, out[i].version[0] ? out[i].version : "-",
		                 out[i].message);
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
		daemon_to_client(d, "error %d %s", r, err);
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
		daemon_to_client(d, "error %d %s", r, err);
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
	daemon_to_client(d, "end");
	uint64_t one = 1;
	if (write(d->done_fd, &one, sizeof(one)) < 0)
		log_error("cannot wake the main loop: %s", strerror(errno));
	return NULL;
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
		daemon_conn_after_job(d, c);
	pthread_mutex_lock(&d->mu);
	control_request_free(&d->job.rq);
	d->live_count = 0;
	snprintf(d->job_text, sizeof(d->job_text), "idle");
	pthread_mutex_unlock(&d->mu);
	d->busy = false;
	if (d->pending) {
		daemon_apply_config(d, d->pending);
		d->pending = NULL;
		log_info("the new configuration is in force");
	}
	notify("STATUS=idle");
}

void daemon_start_job(struct daemon *d, struct job *j, const char *text)
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
		daemon_to_client(d, "error %d cannot start the job: %s", -r, strerror(r));
		daemon_to_client(d, "end");
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
	d->next_poll_ms = daemon_now_ms() + (long long)dc->poll_interval_s * 1000 + jitter;
}

void daemon_start_reconcile(struct daemon *d)
{
	struct job j = {.kind = JOB_RECONCILE};
	control_request_init(&j.rq);
	d->reconcile_due = false;
	schedule_poll(d);
	daemon_start_job(d, &j, "reconciling");
}

void daemon_job_done(struct daemon *d)
{
	uint64_t v;
	if (read(d->done_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("eventfd: %s", strerror(errno));
	pthread_join(d->worker, NULL);
	job_tidy(d);
}
