/* Between the daemon's two halves: the server (daemon.c: the control socket,
 * its clients and who may ask for what, the configuration, the event loop)
 * and reconcile (reconcile.c: the jobs a worker thread runs, the poll
 * records, what the daemon decides to install); socket.c has the control
 * socket's files and its peers' identity. Private to agent/daemon/. */
#pragma once

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "update/store.h"
#include "util/format.h"

/* Connections whose request has not ended or whose reply is being read (the
 * job's client is one of them): at most this many, each some 9 KiB; beyond,
 * the oldest is let go when another comes. */
#define MAX_CONNS 256

enum job_kind { JOB_RECONCILE, JOB_UPDATE, JOB_ROLLBACK };

/* A device a job works on, for status and STATUS= lines. */
struct live {
	char device[STORE_NAME_MAX + 1];
	char phase[24];
	uint64_t done, total;
};

static inline unsigned percent(uint64_t done, uint64_t total)
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

/* ---- the server's, for the jobs (daemon.c) ---- */

long long daemon_now_ms(void); /* CLOCK_MONOTONIC */
/* A line for the job's client, if one waits (from any thread). */
void daemon_to_client(struct daemon *d, const char *fmt, ...) MCU_OTA_PRINTF(2, 3);
/* The job has ended: its client reads the rest of its reply, or goes. */
void daemon_conn_after_job(struct daemon *d, struct conn *c);
/* c is the configuration in force from now on (d->cfg's is freed). */
void daemon_apply_config(struct daemon *d, struct config *c);

/* ---- the control socket (socket.c) ---- */

/* Listens on daemon.socket, its lock taken and its group set; err says why
 * not. */
int daemon_socket_open(struct daemon *d, char *err, size_t errlen);
/* c's uid and whether it is in the socket's and the admin group, as the
 * kernel saw them when it connected. */
void daemon_peer_identity(struct daemon *d, struct conn *c);

/* ---- the jobs, for the server (reconcile.c) ---- */

/* Start j on the worker thread (its request and client now belong to the
 * job); text says what it does, for status. */
void daemon_start_job(struct daemon *d, struct job *j, const char *text);
/* A reconcile of the daemon's own; the next poll is scheduled from now. */
void daemon_start_reconcile(struct daemon *d);
/* The worker said it has ended (done_fd): join it and tidy up. */
void daemon_job_done(struct daemon *d);
