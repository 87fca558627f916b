/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container probes (liveness, readiness, startup) and lifecycle-hook handlers with
 * kubelet's semantics: httpGet, tcpSocket and exec actions, thresholds, initial delay and
 * startup gating. The agent parses a container's probes, registers them with a prober
 * (one scheduler thread, a small worker pool) and hears back when a result changes.
 */
#ifndef SKIFF_CLUSTER_AGENT_PROBE_H
#define SKIFF_CLUSTER_AGENT_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct err;

enum probe_result {
	PROBE_SUCCESS,
	PROBE_FAILURE,
	PROBE_UNKNOWN, /* the probe could not run (internal error, unsupported action) */
};

enum probe_kind {
	PROBE_LIVENESS,
	PROBE_READINESS,
	PROBE_STARTUP,
};

/* "Liveness", "Readiness", "Startup", as event messages start. */
const char *probe_kind_name(enum probe_kind kind);

/* The User-Agent kubelet 1.32 sends. */
#define PROBE_USER_AGENT "kube-probe/1.32"

struct probe_header {
	char *name;
	char *value;
};

/* One HTTP GET; a header named User-Agent, Accept or Host replaces the default. */
struct probe_http_req {
	const char *host; /* IP address or name to connect to */
	int port;
	const char *path; /* path and query; NULL or "" means "/" */
	const struct probe_header *headers;
	size_t n_headers;
	bool https; /* TLS, the pod's certificate not verified (as kubelet) */
};

/*
 * Low level HTTP(S) probe (HTTPS with @req->https, the certificate not verified): success
 * for a final status 200-399, following redirects (301, 302, 303, 307, 308; at most 10,
 * between http and https too) only to the same host; a redirect elsewhere ends the probe
 * as a success with "Probe terminated redirects, ...".
 * @timeout_ms bounds the whole exchange. *ret_msg (heap, always set) says why it failed,
 * in Go's words: `HTTP probe failed with statuscode: 500`,
 * `Get "http://10.42.0.5:8080/": dial tcp 10.42.0.5:8080: connect: connection refused`.
 */
enum probe_result probe_http(const struct probe_http_req *req, int timeout_ms, char **ret_msg);

/* Success when a TCP connection to @host:@port opens within @timeout_ms; *ret_msg as above. */
enum probe_result probe_tcp(const char *host, int port, int timeout_ms, char **ret_msg);

enum probe_action_type {
	PROBE_ACTION_EXEC,
	PROBE_ACTION_HTTP,
	PROBE_ACTION_TCP,
	PROBE_ACTION_GRPC,  /* parsed, reported as unsupported when run */
	PROBE_ACTION_SLEEP, /* lifecycle hooks only */
};

/* A probe's or a lifecycle hook's handler, ports resolved against the container. */
struct probe_action {
	enum probe_action_type type;
	char **command; /* exec: NULL-terminated */
	char *host;     /* httpGet/tcpSocket host; NULL: the pod IP */
	int port;       /* httpGet/tcpSocket/grpc */
	char *path;     /* httpGet, never NULL for httpGet */
	bool https;     /* httpGet scheme HTTPS: reported as unsupported when run */
	struct probe_header *headers;
	size_t n_headers;
	int64_t sleep_seconds;
};

/*
 * A parsed probe. Times are in milliseconds so that tests may set periods below a
 * second after parsing; probe_parse() only produces whole seconds.
 */
struct probe_spec {
	struct probe_action action;
	int64_t initial_delay_ms;
	int64_t period_ms;
	int64_t timeout_ms;
	int success_threshold;
	int failure_threshold;
	int64_t termination_grace_period_seconds; /* -1 when not set */
};

/*
 * Parses @probe (the container's livenessProbe, readinessProbe or startupProbe) with
 * upstream's defaults (periodSeconds 10, timeoutSeconds 1, successThreshold 1,
 * failureThreshold 3, initialDelaySeconds 0; 0 means the default) and validation. A named
 * port is resolved against @container's ports. Fails with EINVAL and a message naming the
 * container and field, e.g. "container 'web': livenessProbe.successThreshold: must be 1".
 */
int probe_parse(const json_t *probe, const json_t *container, struct probe_spec *ret,
		struct err *err);

/*
 * Parses a lifecycle handler (container.lifecycle.postStart or preStop); @what names it in
 * errors ("lifecycle.preStop"). Accepts exec, httpGet, sleep and (deprecated, failing when
 * run as upstream does) tcpSocket.
 */
int probe_action_parse(const json_t *handler, const char *what, const json_t *container,
		       struct probe_action *ret, struct err *err);

/* Deep copies; the _done functions release contents and are NULL-safe. */
void probe_action_copy(struct probe_action *dst, const struct probe_action *src);
void probe_action_done(struct probe_action *a);
void probe_spec_done(struct probe_spec *s);

struct prober_ops {
	void *arg;
	/*
	 * Runs @argv in the container @key within @timeout_ms: 0 with the exit code and
	 * combined output (heap, may be NULL), -ETIMEDOUT when it took too long, other
	 * -errno with @err set when it could not run. Called on worker threads, possibly
	 * several at once.
	 */
	int (*exec)(void *arg, const char *key, char *const *argv, int timeout_ms,
		    int *ret_exit_code, char **ret_output, struct err *err);
	/*
	 * A probe's result changed (after successThreshold successes or failureThreshold
	 * failures in a row). @msg is the probe's output on success and the event message on
	 * failure ("Liveness probe failed: HTTP probe failed with statuscode: 500"). Calls are
	 * serialized; they may call prober_result() and prober_remove().
	 */
	void (*changed)(void *arg, const char *key, enum probe_kind kind, bool ok, const char *msg);
	/*
	 * Optional: every failed or errored attempt, for "Unhealthy" events, with messages
	 * like "Readiness probe failed: ..." or "Liveness probe errored: ...".
	 */
	void (*failed)(void *arg, const char *key, enum probe_kind kind, const char *msg);
};

/*
 * Runs one handler now (lifecycle hooks; also what each probe attempt does) against the
 * pod at @pod_ip, exec through @ops. For hooks (@hook true) any HTTP response counts as
 * success, as kubelet's handler runner does. *ret_msg: heap, always set.
 */
enum probe_result probe_action_run(const struct probe_action *a, const char *pod_ip,
				   const struct prober_ops *ops, const char *key, int timeout_ms,
				   bool hook, char **ret_msg);

struct prober;

/* Starts the scheduler thread and 4 workers; @ops is copied. */
int prober_new(const struct prober_ops *ops, struct prober **ret, struct err *err);

/*
 * Registers (or replaces, resetting its state) probe @kind of container @key
 * ("<pod-uid>/<container>"), the container having started at @started_ms (CLOCK_MONOTONIC,
 * ms). Nothing runs before initialDelay; liveness and readiness wait for a startup probe
 * of the same key to succeed. After a liveness failure is reported, and after a startup
 * result is reported, that probe stops until registered again (the restarted container).
 * @spec and @pod_ip are copied.
 */
void prober_add(struct prober *p, const char *key, enum probe_kind kind,
		const struct probe_spec *spec, const char *pod_ip, int64_t started_ms);

/* Removes every probe of @key; once it returns no callback for @key runs. */
void prober_remove(struct prober *p, const char *key);

/*
 * The current result: readiness starts as failure, liveness as success, startup as
 * unknown (not started yet, but nothing to restart for); PROBE_UNKNOWN when no such probe.
 */
enum probe_result prober_result(struct prober *p, const char *key, enum probe_kind kind);

/* Stops the threads, waiting for running attempts; NULL-safe. */
void prober_free(struct prober *p);

#endif
