/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes' port-forward protocol (portforward.k8s.io) over SPDY/3.1, server side: what
 * the kubelet does for `kubectl port-forward`. Each forwarded connection arrives as a pair
 * of streams (an error and a data stream with the same requestid header); the data stream
 * is joined to a connection into the pod that the agent's dial callback opens. The agent's
 * kubelet API calls pf_serve_fd() after an `Upgrade: SPDY/3.1` handshake, or pf_serve_ws()
 * for a WebSocket whose subprotocol is PF_WS_PROTOCOL (every binary message SPDY bytes).
 */
#ifndef SKIFF_CLUSTER_STREAM_PORTFORWARD_H
#define SKIFF_CLUSTER_STREAM_PORTFORWARD_H

#include <stdint.h>

struct err;
struct spdy_transport;

/* X-Stream-Protocol-Version of the SPDY upgrade */
#define PF_PROTOCOL "portforward.k8s.io"
/* The WebSocket subprotocol tunnelling SPDY (kubectl 1.30+) */
#define PF_WS_PROTOCOL "SPDY/3.1+portforward.k8s.io"

/* Stream headers (lowercase on the SPDY wire) and their values */
#define PF_HEADER_STREAM_TYPE "streamtype"
#define PF_HEADER_PORT        "port"
#define PF_HEADER_REQUEST_ID  "requestid"
#define PF_STREAM_ERROR       "error"
#define PF_STREAM_DATA        "data"

struct pf_ops {
	/*
	 * Connects to @port inside the pod. Returns 0 with a connected socket in *ret_fd
	 * (taken), or -errno with *ret_msg (heap, taken) saying why, the way the runtime words
	 * it: the client shows it after "error forwarding port N to pod P, uid U: ". Called on
	 * a thread of its own per forwarded connection, so it may block for its timeout.
	 */
	int (*dial)(void *arg, uint16_t port, int *ret_fd, char **ret_msg);
	void *arg;
	const char *pod; /* in error messages; kubelet names the pod sandbox id */
	const char *uid; /* in error messages; kubelet leaves it empty */
	/* How long a request may wait for its second stream (0: kubelet's 30 s). */
	int stream_timeout_ms;
};

/*
 * Serves port-forward requests over @t until the client ends the session, then waits for
 * every forwarded connection to wind down (they are cut off when the session ends).
 * Returns 0 when the client went away cleanly, -EPROTO for broken SPDY, the transport's
 * -errno, or ELIBACC when zlib is missing.
 */
int pf_serve(const struct spdy_transport *t, const struct pf_ops *ops, struct err *err);

/* pf_serve() over an upgraded socket @fd (not closed; shut down when the session ends). */
int pf_serve_fd(int fd, const struct pf_ops *ops, struct err *err);

/*
 * pf_serve() over a WebSocket on @fd, the handshake done with PF_WS_PROTOCOL (not closed;
 * a close frame is sent and the socket shut down when the session ends).
 */
int pf_serve_ws(int fd, const struct pf_ops *ops, struct err *err);

#endif
