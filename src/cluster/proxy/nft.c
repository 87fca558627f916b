/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running nft transactions through libnftables: one context per user (a context is not
 * safe to share between threads), output and errors captured rather than printed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "cluster/net/lib_nftables.h"
#include "cluster/proxy/internal.h"
#include "cluster/proxy/proxy.h"

struct sp_nft {
	struct nft_ctx *ctx;
};

int sp_nft_new(struct sp_nft **ret, struct err *err)
{
	struct sp_nft *n;

	if (net_nft_load(err) < 0)
		return -ELIBACC;
	n = xcalloc(1, sizeof(*n));
	n->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!n->ctx) {
		free(n);
		return err_set(err, ENOMEM, "create nftables context");
	}
	if (nft_ctx_buffer_output(n->ctx) < 0 || nft_ctx_buffer_error(n->ctx) < 0) {
		sp_nft_free(n);
		return err_set(err, ENOMEM, "buffer nftables output");
	}
	*ret = n;
	return 0;
}

void sp_nft_free(struct sp_nft *n)
{
	if (!n)
		return;
	nft_ctx_free(n->ctx);
	free(n);
}

/* nft reports the kernel's errno as text only */
static int code_of(const char *msg)
{
	static const struct {
		const char *text;
		int code;
	} codes[] = {
		{"Operation not permitted", EPERM},
		{"No such file or directory", ENOENT},
		{"Device or resource busy", EBUSY},
		{"File exists", EEXIST},
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strstr(msg, codes[i].text))
			return codes[i].code;
	return EIO;
}

int sp_nft_run(struct sp_nft *n, const char *script, char **ret_out, struct err *err)
{
	const char *out, *msg;
	int r;

	r = nft_run_cmd_from_buffer(n->ctx, script);
	out = nft_ctx_get_output_buffer(n->ctx);
	msg = nft_ctx_get_error_buffer(n->ctx);
	if (r != 0) {
		size_t len = msg ? strcspn(msg, "\n") : 0;

		/* the first line names the failing command; the rest repeats it with carets */
		return err_set(err, code_of(msg ? msg : ""), "apply nftables transaction: %.*s",
			       (int)(len ? len : 7), len ? msg : "unknown");
	}
	if (ret_out)
		*ret_out = xstrdup(out ? out : "");
	return 0;
}

int svcproxy_cleanup(const char *table, struct err *err)
{
	struct svcproxy_config cfg = {
		.table = table, .cluster_cidr = "0.0.0.0/0", .service_cidr = "0.0.0.0/0"};
	struct sp_rules_config rc;
	struct sp_nft *n = NULL;
	char *script;
	int r;

	if (sp_rules_config_init(&cfg, &rc, err) < 0)
		return -EINVAL;
	if (sp_nft_new(&n, err) < 0)
		return -ELIBACC;
	/* "add" first: deleting a table that is not there is an error, and absent is fine */
	script = xasprintf("add table ip %s\ndelete table ip %s\n", rc.table, rc.table);
	r = sp_nft_run(n, script, NULL, err);
	free(script);
	sp_nft_free(n);
	if (r < 0)
		return err_wrap(err, "remove table 'ip %s'", rc.table);
	return 0;
}
