/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes API server: serves the resources of resources.h over HTTPS from the
 * store (store/store.h) through an in-memory cache that answers every read and feeds
 * every watch.
 */
#ifndef SKIFF_CLUSTER_API_API_H
#define SKIFF_CLUSTER_API_API_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct api;
struct http_request;
struct http_stream;

struct api_config {
	const char *data_dir;           /* server state: <data_dir>/server/... */
	const char *datastore_endpoint; /* NULL: SQLite under data_dir; or etcd URLs */
	const char *bind_address;       /* NULL: all addresses */
	uint16_t port;                  /* 6443; 0: any free port */
	const char *advertise_address;  /* address clients and nodes use (kubeconfig) */
	const char *admin_token;        /* bearer token of the cluster admin */
	const char *node_token;         /* token nodes join with */
	const char *sa_key;             /* signs service-account tokens */
	const char *cert_pem, *key_pem; /* serving certificate and key */
	const char *ca_pem;             /* the cluster CA, published in every namespace */
	const char *service_cidr;       /* "10.43.0.0/16" */
	const char *cluster_cidr;       /* "10.42.0.0/16": a /24 per node */
	unsigned threads;               /* HTTP event-loop threads; 0: 8 */
	size_t watch_history;           /* events kept for watch resumption; 0: 65536 */
	int64_t not_ready_toleration;   /* seconds pods tolerate not-ready nodes; 0: 300 */
	int64_t unreachable_toleration; /* ... and unreachable nodes; 0: 300 */
};

int api_start(const struct api_config *cfg, struct api **ret, struct err *err);
uint16_t api_port(const struct api *api);
void api_stop(struct api *api);

/* Answers @req as the server answers its HTTP requests (cluster/api/http.h), on this thread. */
void api_handle(struct api *api, struct http_request *req);

/*
 * In-process requests (local.c), the transport under client/client.h's kc_local: the
 * server's handler answers on the calling thread, with no socket and no TLS.
 */
struct api_local_sink {
	/* The complete response; takes the malloc'ed @body. */
	void (*respond)(void *arg, unsigned status, const char *content_type, char *body,
			size_t len);
	/*
	 * A streamed response (a watch) began: @st belongs to the sink, which ends it with
	 * api_local_release() once it wants no more, or once end() told it so.
	 */
	void (*stream)(void *arg, unsigned status, const char *content_type,
		       struct http_stream *st);
	/*
	 * The stream's bytes, in order, on the writer's thread (the server's watch
	 * dispatcher): copy them and return at once, without calling into the server.
	 * 0, or -ENOBUFS when more than @max_queued bytes would then wait to be read (the
	 * server then ends the stream, as it drops a slow client).
	 */
	int (*write)(void *arg, const char *data, size_t len, size_t max_queued);
	/* The server ended the stream: no bytes follow. */
	void (*end)(void *arg);
	void *arg;
};

struct api_local_request {
	const char *method;
	const char *target;       /* path and query: "/api/v1/pods?limit=500" */
	const char *token;        /* bearer token; NULL: the admin's */
	const char *content_type; /* of @body; NULL: none */
	const char *body;
	size_t len;
};

/*
 * Runs @r through the server's handler; the answer goes to @sink before this returns,
 * except a stream's bytes, which follow from other threads until the stream ends.
 * @sink must stay valid until then (a stream: until api_local_release()).
 * -ESHUTDOWN once the server is stopping (@sink is not called).
 */
int api_local_request(struct api *api, const struct api_local_request *r,
		      const struct api_local_sink *sink);
/* Ends (if still open) and releases a stream a sink was given; not from the sink's callbacks. */
void api_local_release(struct http_stream *st);

#endif
