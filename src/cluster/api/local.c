/* SPDX-License-Identifier: Apache-2.0 */
/*
 * In-process requests: what kc_local (client/client.h) sends arrives here and runs
 * through the same handler as the server's HTTP requests, on the caller's thread, as
 * the admin unless the caller names another token.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "cluster/api/api.h"
#include "cluster/api/http.h"
#include "cluster/api/internal.h"

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX in a path, as MHD hands paths to handlers. */
static char *path_unescape(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] == '%' && i + 2 < len && (hi = hex_value(s[i + 1])) >= 0 &&
		    (lo = hex_value(s[i + 2])) >= 0) {
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

int api_local_request(struct api *api, const struct api_local_request *r,
		      const struct api_local_sink *sink)
{
	const struct http_local_sink hs = {
		.respond = sink->respond,
		.stream = sink->stream,
		.write = sink->write,
		.end = sink->end,
		.arg = sink->arg,
	};
	const char *q = strchr(r->target, '?');
	size_t plen = q ? (size_t)(q - r->target) : strlen(r->target);
	cleanup_free char *path = path_unescape(r->target, plen);
	const char *token = r->token ? r->token : api->cfg.admin_token;
	cleanup_free char *auth = token ? xasprintf("Bearer %s", token) : NULL;
	const char *headers[7] = {"Accept", "application/json"};
	size_t n = 2;
	struct http_local_request lr = {
		.method = r->method,
		.path = path,
		.query = q ? q + 1 : NULL,
		.headers = headers,
		.body = r->body,
		.len = r->len,
	};
	struct http_request *req;

	if (atomic_load(&api->stopping))
		return -ESHUTDOWN;
	if (r->content_type) {
		headers[n++] = "Content-Type";
		headers[n++] = r->content_type;
	}
	if (auth) {
		headers[n++] = "Authorization";
		headers[n++] = auth;
	}
	req = http_local_new(&lr, &hs);
	api_handle(api, req);
	http_local_finish(req);
	return 0;
}

void api_local_release(struct http_stream *st)
{
	http_local_release(st);
}
