/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `skiff image`: the image store from the command line, with the verbs and flags podman
 * and docker users know (pull, push, ls, inspect, rm, tag, import, save, load, login,
 * logout, prune, history, mount, unmount, bundle).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/flags.h"
#include "base/jdump.h"
#include "base/log.h"
#include "cmd/cmd.h"
#include "image/image.h"
#include "image/internal.h"
#include "runtime/runtime.h"

struct image_cli {
	const char *root;
	struct img_store *store;
};

static int open_store(struct image_cli *c, struct err *err)
{
	if (c->store)
		return 0;
	return img_store_open(c->root, &c->store, err);
}

static void print_json(json_t *j)
{
	char *s = jdump_s(j, JSON_INDENT(4) | JSON_PRESERVE_ORDER);

	if (s)
		printf("%s\n", s);
	free(s);
}

static int args_exact(const char *cmd, int n, int min, int max, const char *usage, struct err *err)
{
	if (n < min || n > max)
		return err_set(err, EINVAL, "image %s: usage: skiff image %s %s", cmd, cmd, usage);
	return 0;
}

/* ---- progress on a terminal ---- */

struct progress_state {
	json_t *blobs; /* digest -> [done, total, first-seen ms], in first-seen order */
	struct timespec start;
	int lines; /* lines printed by the last redraw */
	int64_t last_ms;
	bool tty;
	bool quiet;
};

static int64_t elapsed_ms(const struct progress_state *p)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - p->start.tv_sec) * 1000 +
	       (now.tv_nsec - p->start.tv_nsec) / 1000000;
}

/* One line per blob (digest, bar, bytes, rate), redrawn in place with ANSI cursor moves. */
static void progress_draw(struct progress_state *p, bool final)
{
	int64_t now = elapsed_ms(p);
	const char *k;
	json_t *v;

	/* at most ten redraws a second, and always the last one */
	if (!final && now - p->last_ms < 100)
		return;
	p->last_ms = now;
	if (p->lines)
		fprintf(stderr, "\033[%dA", p->lines);
	p->lines = 0;
	json_object_foreach (p->blobs, k, v) {
		int64_t done = json_integer_value(json_array_get(v, 0));
		int64_t total = json_integer_value(json_array_get(v, 1));
		int64_t since = json_integer_value(json_array_get(v, 2));
		double secs = (now - since) / 1000.0;
		char bar[21];
		int fill = total > 0 ? (int)(done * 20 / total) : 0;

		for (int i = 0; i < 20; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[20] = '\0';
		fprintf(stderr, "\033[2K%.19s [%s] %7.1f/%.1f MB %6.1f MB/s\n", k, bar, done / 1e6,
			total > 0 ? total / 1e6 : 0.0, secs > 0 ? done / 1e6 / secs : 0.0);
		p->lines++;
	}
	fflush(stderr);
}

static void progress_blob(void *data, const char *digest, int64_t done, int64_t total)
{
	struct progress_state *p = data;
	json_t *v = json_object_get(p->blobs, digest);

	if (p->quiet || !p->tty)
		return;
	if (!v) {
		v = json_pack("[I, I, I]", (json_int_t)0, (json_int_t)0, (json_int_t)elapsed_ms(p));
		json_object_set_new(p->blobs, digest, v);
	}
	json_array_set_new(v, 0, json_integer(done));
	json_array_set_new(v, 1, json_integer(total));
	progress_draw(p, false);
}

/* Starts progress reporting for a pull or push, once its arguments are known to be good. */
static void progress_begin(struct progress_state *p, struct img_progress *prog, bool quiet,
			   const char *tls_verify, struct img_remote_opts *o)
{
	p->blobs = json_object();
	p->tty = isatty(STDERR_FILENO);
	p->quiet = quiet;
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	prog->blob = progress_blob;
	prog->data = p;
	o->progress = prog;
	/* podman's spelling of --insecure */
	if (tls_verify && !strcmp(tls_verify, "false"))
		o->insecure = true;
}

static void progress_end(struct progress_state *p)
{
	if (p->tty && !p->quiet && json_object_size(p->blobs))
		progress_draw(p, true);
	json_decref(p->blobs);
}

/* ---- verbs ---- */

static int do_pull(struct image_cli *c, int argc, char **argv, struct err *err)
{
	struct img_remote_opts o = {0};
	const char *tls = NULL;
	bool quiet = false;
	struct flag flags[] = {
		{"platform", 0, FLAG_STR, &o.platform}, {"insecure", 0, FLAG_BOOL, &o.insecure},
		{"tls-verify", 0, FLAG_STR, &tls},      {"authfile", 0, FLAG_STR, &o.auth_file},
		{"quiet", 'q', FLAG_BOOL, &quiet},      {NULL, 0, 0, NULL},
	};
	struct progress_state ps = {0};
	struct img_progress prog = {0};
	struct img_ref ref = {0};
	char digest[IMG_DIGEST_MAX];
	int n, r;

	if (flags_parse(flags, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "image pull");
	if (args_exact("pull", n, 1, 1, "[--platform OS/ARCH] [--insecure] IMAGE", err) < 0)
		return -err->code;
	if (img_ref_parse(argv[0], &ref, err) < 0 || open_store(c, err) < 0) {
		img_ref_done(&ref);
		return -err->code;
	}
	progress_begin(&ps, &prog, quiet, tls, &o);
	r = img_pull(c->store, &ref, &o, digest, err);
	progress_end(&ps);
	if (r == 0)
		printf("%s\n", digest);
	img_ref_done(&ref);
	return r;
}

static int do_push(struct image_cli *c, int argc, char **argv, struct err *err)
{
	struct img_remote_opts o = {0};
	const char *tls = NULL;
	bool quiet = false;
	struct flag flags[] = {
		{"insecure", 0, FLAG_BOOL, &o.insecure},
		{"tls-verify", 0, FLAG_STR, &tls},
		{"authfile", 0, FLAG_STR, &o.auth_file},
		{"quiet", 'q', FLAG_BOOL, &quiet},
		{NULL, 0, 0, NULL},
	};
	struct progress_state ps = {0};
	struct img_progress prog = {0};
	struct img_image im = {0};
	struct img_ref dest = {0};
	int n, r;

	if (flags_parse(flags, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "image push");
	if (args_exact("push", n, 1, 2, "[--insecure] IMAGE [DESTINATION]", err) < 0)
		return -err->code;
	if (open_store(c, err) < 0 || img_resolve(c->store, argv[0], &im, err) < 0)
		return -err->code;
	progress_begin(&ps, &prog, quiet, tls, &o);
	r = img_ref_parse(n == 2 ? argv[1] : im.name, &dest, err);
	if (r == 0)
		r = img_push(c->store, &im, &dest, &o, err);
	progress_end(&ps);
	img_ref_done(&dest);
	img_image_done(&im);
	return r;
}

static int do_login(struct image_cli *c, int argc, char **argv, struct err *err)
{
	struct img_remote_opts o = {0};
	const char *user = NULL, *pass = NULL, *tls = NULL;
	bool from_stdin = false;
	struct flag flags[] = {
		{"username", 'u', FLAG_STR, &user},
		{"password", 'p', FLAG_STR, &pass},
		{"password-stdin", 0, FLAG_BOOL, &from_stdin},
		{"insecure", 0, FLAG_BOOL, &o.insecure},
		{"tls-verify", 0, FLAG_STR, &tls},
		{"authfile", 0, FLAG_STR, &o.auth_file},
		{NULL, 0, 0, NULL},
	};
	char line[1024];
	int n;

	(void)c;
	if (flags_parse(flags, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "image login");
	if (args_exact("login", n, 1, 1, "-u USER (-p PASSWORD | --password-stdin) REGISTRY", err) <
	    0)
		return -err->code;
	if (tls && !strcmp(tls, "false"))
		o.insecure = true;
	if (from_stdin) {
		if (!fgets(line, sizeof(line), stdin))
			return err_set(err, EINVAL, "image login: no password on stdin");
		line[strcspn(line, "\r\n")] = '\0';
		pass = line;
	}
	if (!user || !pass)
		return err_set(err, EINVAL, "image login: --username and a password are required");
	if (img_login(argv[0], user, pass, &o, err) < 0)
		return -err->code;
	printf("Login Succeeded!\n");
	return 0;
}

static int do_logout(struct image_cli *c, int argc, char **argv, struct err *err)
{
	struct img_remote_opts o = {0};
	struct flag flags[] = {{"authfile", 0, FLAG_STR, &o.auth_file}, {NULL, 0, 0, NULL}};
	int n;

	(void)c;
	if (flags_parse(flags, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "image logout");
	if (args_exact("logout", n, 1, 1, "REGISTRY", err) < 0)
		return -err->code;
	if (img_logout(argv[0], &o, err) < 0)
		return -err->code;
	printf("Removed login credentials for %s\n", argv[0]);
	return 0;
}

/* The image's config, for ls, inspect and history; NULL with a cleared error if unreadable. */
static struct img_config *image_config(struct img_store *s, const struct img_image *im,
				       char config_digest[IMG_DIGEST_MAX], json_t **ret_layers,
				       struct err *err)
{
	cleanup_free char *text = NULL, *ctext = NULL;
	struct img_manifest *m = NULL;
	struct img_config *cfg = NULL;
	char mdigest[IMG_DIGEST_MAX];
	size_t len, clen;

	if (img_manifest_of(s, im->digest, NULL, &text, &len, mdigest, err) < 0)
		return NULL;
	if (img_manifest_parse(text, len, &m, err) < 0)
		return NULL;
	snprintf(config_digest, IMG_DIGEST_MAX, "%s", m->config.digest);
	if (ret_layers) {
		*ret_layers = json_array();
		for (size_t i = 0; i < m->n_layers; i++)
			json_array_append_new(*ret_layers,
					      json_pack("{s:s, s:s, s:I}", "mediaType",
							m->layers[i].media_type, "digest",
							m->layers[i].digest, "size",
							(json_int_t)m->layers[i].size));
	}
	if (img_blob_read(s, m->config.digest, &ctext, &clen, err) == 0)
		img_config_parse(ctext, clen, &cfg, err);
	img_manifest_free(m);
	return cfg;
}

static void split_name(const char *name, char **repo, char **tag)
{
	struct img_ref r = {0};
	struct err err = ERR_INIT;

	if (img_ref_parse(name, &r, &err) < 0) {
		*repo = xstrdup(name);
		*tag = xstrdup("<none>");
		err_clear(&err);
		return;
	}
	free(r.digest);
	r.digest = NULL;
	*tag = xstrdup(r.tag ? r.tag : "<none>");
	free(r.tag);
	r.tag = NULL;
	*repo = img_ref_familiar(&r);
	/* img_ref_familiar of a tag-less ref may append nothing; keep what it gives */
	img_ref_done(&r);
}

static int do_ls(struct image_cli *c, int argc, char **argv, struct err *err)
{
	const char *format = "table";
	bool quiet = false;
	struct flag flags[] = {{"format", 0, FLAG_STR, &format},
			       {"quiet", 'q', FLAG_BOOL, &quiet},
			       {NULL, 0, 0, NULL}};
	struct img_image *v = NULL;
	cleanup_json json_t *out = json_array();
	size_t n = 0;
	int npos;

	if (flags_parse(flags, argc, argv, false, &npos, err) < 0)
		return err_wrap(err, "image ls");
	if (strcmp(format, "table") && strcmp(format, "json"))
		return err_set(err, EINVAL, "image ls: --format must be 'table' or 'json'");
	if (open_store(c, err) < 0 || img_list(c->store, &v, &n, err) < 0)
		return -err->code;
	if (!strcmp(format, "table") && !quiet)
		printf("%-40s %-16s %-14s %-22s %s\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED",
		       "SIZE");
	for (size_t i = 0; i < n; i++) {
		char cdigest[IMG_DIGEST_MAX] = "";
		struct err cerr = ERR_INIT;
		cleanup_json json_t *layers = NULL;
		struct img_config *cfg = image_config(c->store, &v[i], cdigest, &layers, &cerr);
		cleanup_free char *repo = NULL, *tag = NULL;
		int64_t size = v[i].size;
		size_t k;
		json_t *l;

		err_clear(&cerr);
		json_array_foreach (layers, k, l)
			size += json_integer_value(json_object_get(l, "size"));
		split_name(v[i].name, &repo, &tag);
		if (!strcmp(format, "json")) {
			json_array_append_new(
				out,
				json_pack("{s:s, s:s, s:s, s:s, s:s?, s:I}", "Name", v[i].name,
					  "Id", *cdigest ? cdigest : v[i].digest, "Digest",
					  v[i].digest, "MediaType", v[i].media_type, "Created",
					  cfg ? cfg->created : NULL, "Size", (json_int_t)size));
		} else if (quiet) {
			printf("%.12s\n", (*cdigest ? cdigest : v[i].digest) + 7);
		} else {
			printf("%-40s %-16s %-14.12s %-22.19s %.1f MB\n", repo, tag,
			       (*cdigest ? cdigest : v[i].digest) + 7,
			       cfg && cfg->created ? cfg->created : "", size / 1e6);
		}
		img_config_free(cfg);
	}
	if (!strcmp(format, "json"))
		print_json(out);
	img_images_free(v, n);
	return 0;
}

static json_t *config_json(const struct img_config *cfg)
{
	json_t *o = json_object();

	if (!cfg)
		return o;
	if (cfg->user)
		json_object_set_new(o, "User", json_string(cfg->user));
	if (cfg->workdir)
		json_object_set_new(o, "WorkingDir", json_string(cfg->workdir));
	{
		json_t *e = json_array(), *ep = json_array(), *cmd = json_array();

		for (char **p = cfg->env; p && *p; p++)
			json_array_append_new(e, json_string(*p));
		for (char **p = cfg->entrypoint; p && *p; p++)
			json_array_append_new(ep, json_string(*p));
		for (char **p = cfg->cmd; p && *p; p++)
			json_array_append_new(cmd, json_string(*p));
		json_object_set_new(o, "Env", e);
		json_object_set_new(o, "Entrypoint", ep);
		json_object_set_new(o, "Cmd", cmd);
	}
	if (cfg->exposed_ports)
		json_object_set(o, "ExposedPorts", cfg->exposed_ports);
	if (cfg->labels)
		json_object_set(o, "Labels", cfg->labels);
	if (cfg->stop_signal)
		json_object_set_new(o, "StopSignal", json_string(cfg->stop_signal));
	return o;
}

static int do_inspect(struct image_cli *c, int argc, char **argv, struct err *err)
{
	cleanup_json json_t *out = json_array();
	int n;
	static const struct flag none[] = {{NULL, 0, 0, NULL}};

	if (flags_parse(none, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "image inspect");
	if (args_exact("inspect", n, 1, 64, "IMAGE...", err) < 0 || open_store(c, err) < 0)
		return -err->code;
	for (int i = 0; i < n; i++) {
		struct img_image im = {0};
		char cdigest[IMG_DIGEST_MAX] = "";
		cleanup_json json_t *layers = NULL;
		struct img_config *cfg;
		json_t *diffs = json_array();

		if (img_resolve(c->store, argv[i], &im, err) < 0)
			return -err->code;
		cfg = image_config(c->store, &im, cdigest, &layers, err);
		if (!cfg) {
			img_image_done(&im);
			json_decref(diffs);
			return err_wrap(err, "image inspect '%s'", argv[i]);
		}
		for (size_t k = 0; k < cfg->n_diff_ids; k++)
			json_array_append_new(diffs, json_string(cfg->diff_ids[k]));
		json_array_append_new(
			out,
			json_pack("{s:s, s:s, s:[s], s:s, s:s?, s:s?, s:s?, s:s?, s:o, s:{s:s, "
				  "s:o}, s:O}",
				  "Id", cdigest, "Digest", im.digest, "RepoTags", im.name,
				  "MediaType", im.media_type, "Created", cfg->created,
				  "Architecture", cfg->platform.arch, "Os", cfg->platform.os,
				  "Variant", cfg->platform.variant, "Config", config_json(cfg),
				  "RootFS", "Type", "layers", "Layers", diffs, "ManifestLayers",
				  layers));
		img_config_free(cfg);
		img_image_done(&im);
	}
	print_json(out);
	return 0;
}

static int do_history(struct image_cli *c, int argc, char **argv, struct err *err)
{
	struct img_image im = {0};
	char cdigest[IMG_DIGEST_MAX];
	struct img_config *cfg;
	json_t *h;
	size_t i;
	int n;
	static const struct flag none[] = {{NULL, 0, 0, NULL}};

	if (flags_parse(none, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "image history");
	if (args_exact("history", n, 1, 1, "IMAGE", err) < 0 || open_store(c, err) < 0 ||
	    img_resolve(c->store, argv[0], &im, err) < 0)
		return -err->code;
	cfg = image_config(c->store, &im, cdigest, NULL, err);
	img_image_done(&im);
	if (!cfg)
		return err_wrap(err, "image history '%s'", argv[0]);
	printf("%-22s %-60s %s\n", "CREATED", "CREATED BY", "COMMENT");
	/* newest first, as docker prints it */
	for (i = json_array_size(cfg->history); i-- > 0;) {
		h = json_array_get(cfg->history, i);
		printf("%-22.19s %-60.60s %s\n",
		       json_string_value(json_object_get(h, "created")) ?: "",
		       json_string_value(json_object_get(h, "created_by")) ?: "",
		       json_string_value(json_object_get(h, "comment")) ?: "");
	}
	img_config_free(cfg);
	return 0;
}

static int do_rm(struct image_cli *c, int argc, char **argv, struct err *err)
{
	int n;
	static const struct flag none[] = {{NULL, 0, 0, NULL}};

	if (flags_parse(none, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "image rm");
	if (args_exact("rm", n, 1, 1024, "IMAGE...", err) < 0 || open_store(c, err) < 0)
		return -err->code;
	for (int i = 0; i < n; i++) {
		struct img_image im = {0};

		if (img_resolve(c->store, argv[i], &im, err) < 0 ||
		    img_untag(c->store, im.name, err) < 0) {
			img_image_done(&im);
			return -err->code;
		}
		printf("Untagged: %s\n", im.name);
		img_image_done(&im);
	}
	return 0;
}

static int do_tag(struct image_cli *c, int argc, char **argv, struct err *err)
{
	struct img_image im = {0};
	struct img_ref ref = {0};
	cleanup_free char *name = NULL;
	int n, r;
	static const struct flag none[] = {{NULL, 0, 0, NULL}};

	if (flags_parse(none, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "image tag");
	if (args_exact("tag", n, 2, 2, "IMAGE NAME[:TAG]", err) < 0 || open_store(c, err) < 0 ||
	    img_resolve(c->store, argv[0], &im, err) < 0)
		return -err->code;
	r = img_ref_parse(argv[1], &ref, err);
	if (r == 0 && ref.digest)
		r = err_set(err, EINVAL, "image tag: '%s': a name cannot carry a digest", argv[1]);
	if (r == 0) {
		name = img_ref_string(&ref);
		r = img_tag(c->store, name, im.digest, im.media_type, err);
	}
	img_ref_done(&ref);
	img_image_done(&im);
	return r;
}

static int do_import(struct image_cli *c, int argc, char **argv, struct err *err)
{
	struct img_import_opts o = {0};
	cleanup_free char **changes = NULL;
	struct flag flags[] = {{"change", 'c', FLAG_LIST, &changes},
			       {"platform", 0, FLAG_STR, &o.platform},
			       {NULL, 0, 0, NULL}};
	cleanup_close int fd = -1;
	char digest[IMG_DIGEST_MAX];
	int n;

	if (flags_parse(flags, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "image import");
	if (args_exact("import", n, 2, 2, "[--change INSTRUCTION] TARBALL NAME[:TAG]", err) < 0)
		return -err->code;
	o.changes = changes;
	fd = strcmp(argv[0], "-") ? open(argv[0], O_RDONLY | O_CLOEXEC) : dup(STDIN_FILENO);
	if (fd < 0)
		return err_sys(err, "image import: open '%s'", argv[0]);
	if (open_store(c, err) < 0 || img_import_rootfs(c->store, fd, argv[1], &o, digest, err) < 0)
		return -err->code;
	printf("%s\n", digest);
	return 0;
}

static int do_save(struct image_cli *c, int argc, char **argv, struct err *err)
{
	const char *out = NULL, *format = "docker-archive";
	struct flag flags[] = {{"output", 'o', FLAG_STR, &out},
			       {"format", 0, FLAG_STR, &format},
			       {NULL, 0, 0, NULL}};
	enum img_archive_format f;
	struct img_image *ims;
	int n, r = 0;

	if (flags_parse(flags, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "image save");
	if (args_exact("save", n, 1, 64,
		       "-o PATH [--format docker-archive|oci-archive|oci-dir] IMAGE...", err) < 0)
		return -err->code;
	if (!out)
		return err_set(err, EINVAL, "image save: -o PATH is required");
	if (img_archive_format_parse(format, &f, err) < 0 || open_store(c, err) < 0)
		return -err->code;
	ims = xcalloc((size_t)n, sizeof(*ims));
	for (int i = 0; i < n && r == 0; i++)
		r = img_resolve(c->store, argv[i], &ims[i], err);
	if (r == 0)
		r = img_save(c->store, ims, (size_t)n, f, out, err);
	img_images_free(ims, (size_t)n);
	return r;
}

static int do_load(struct image_cli *c, int argc, char **argv, struct err *err)
{
	const char *in = NULL;
	bool quiet = false;
	struct flag flags[] = {{"input", 'i', FLAG_STR, &in},
			       {"quiet", 'q', FLAG_BOOL, &quiet},
			       {NULL, 0, 0, NULL}};
	cleanup_strv char **names = NULL;
	int n;

	if (flags_parse(flags, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "image load");
	if (n == 1 && !in)
		in = argv[0];
	if (!in)
		return err_set(err, EINVAL, "image load: -i PATH is required");
	if (open_store(c, err) < 0 || img_load(c->store, in, &names, err) < 0)
		return -err->code;
	for (char **p = names; p && *p; p++)
		printf("Loaded image: %s\n", *p);
	return 0;
}

static int do_prune(struct image_cli *c, int argc, char **argv, struct err *err)
{
	bool all = false, force = false;
	struct flag flags[] = {{"all", 'a', FLAG_BOOL, &all},
			       {"force", 'f', FLAG_BOOL, &force},
			       {NULL, 0, 0, NULL}};
	uint64_t bytes = 0;
	size_t blobs = 0, snaps = 0;
	int n;

	if (flags_parse(flags, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "image prune");
	if (open_store(c, err) < 0 || img_prune(c->store, &bytes, &blobs, &snaps, err) < 0)
		return -err->code;
	printf("Deleted %zu blobs (%.1f MB) and %zu unpacked layers\n", blobs, bytes / 1e6, snaps);
	return 0;
}

static int do_mount(struct image_cli *c, int argc, char **argv, struct err *err)
{
	const char *id = NULL;
	struct flag flags[] = {{"id", 0, FLAG_STR, &id}, {NULL, 0, 0, NULL}};
	struct img_image im = {0};
	cleanup_free char *gen = NULL;
	int n, r;

	if (flags_parse(flags, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "image mount");
	if (args_exact("mount", n, 2, 2, "[--id ID] IMAGE TARGET", err) < 0 ||
	    open_store(c, err) < 0 || img_resolve(c->store, argv[0], &im, err) < 0)
		return -err->code;
	if (!id) {
		gen = img_bundle_id(argv[1]);
		if (!gen) {
			img_image_done(&im);
			return err_sys(err, "image mount: target '%s'", argv[1]);
		}
		id = gen;
	}
	r = img_mount(c->store, &im, id, argv[1], err);
	if (r == 0)
		printf("%s\n", id);
	img_image_done(&im);
	return r;
}

static int do_unmount(struct image_cli *c, int argc, char **argv, struct err *err)
{
	const char *id = NULL;
	bool rm = false;
	struct flag flags[] = {
		{"id", 0, FLAG_STR, &id}, {"rm", 0, FLAG_BOOL, &rm}, {NULL, 0, 0, NULL}};
	cleanup_free char *gen = NULL, *rootfs = NULL;
	struct stat st;
	int n;

	if (flags_parse(flags, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "image unmount");
	if (args_exact("unmount", n, 1, 1, "[--id ID] [--rm] TARGET|BUNDLE", err) < 0 ||
	    open_store(c, err) < 0)
		return -err->code;
	/* a bundle directory: its rootfs is the mount, named after the bundle */
	rootfs = xasprintf("%s/rootfs", argv[0]);
	if (stat(rootfs, &st) == 0 && !id) {
		gen = img_bundle_id(argv[0]);
		return img_unmount(c->store, gen, rootfs, true, err);
	}
	if (!id) {
		gen = img_bundle_id(argv[0]);
		id = gen;
	}
	return img_unmount(c->store, id ? id : "", argv[0], rm, err);
}

static int do_bundle(struct image_cli *c, int argc, char **argv, struct err *err)
{
	struct img_image im = {0};
	cleanup_json json_t *spec = NULL;
	int n, r;
	static const struct flag none[] = {{NULL, 0, 0, NULL}};

	if (flags_parse(none, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "image bundle");
	if (args_exact("bundle", n, 2, 2, "IMAGE DIR", err) < 0 || open_store(c, err) < 0 ||
	    img_resolve(c->store, argv[0], &im, err) < 0)
		return -err->code;
	spec = rt_spec_default(false);
	r = img_bundle(c->store, &im, argv[1], spec, err);
	img_image_done(&im);
	return r;
}

static int help(void)
{
	printf("usage: skiff image [--root DIR | --data-dir DIR] <command> ...\n\n"
	       "  pull IMAGE                      fetch an image from its registry\n"
	       "  push IMAGE [DESTINATION]        send an image to a registry\n"
	       "  login -u USER REGISTRY          store credentials (--password-stdin)\n"
	       "  logout REGISTRY\n"
	       "  ls                              list images (--format json, -q)\n"
	       "  inspect IMAGE...                details as JSON\n"
	       "  history IMAGE\n"
	       "  tag IMAGE NAME[:TAG]\n"
	       "  rm IMAGE...                     remove names\n"
	       "  prune                           delete what no name needs\n"
	       "  import TARBALL NAME[:TAG]       a root file system as an image (--change)\n"
	       "  save -o PATH IMAGE...           --format docker-archive|oci-archive|oci-dir\n"
	       "  load -i PATH\n"
	       "  mount IMAGE TARGET              an overlay of the image (--id)\n"
	       "  unmount TARGET|BUNDLE           (--id, --rm)\n"
	       "  bundle IMAGE DIR                an OCI bundle for skiff-runtime\n");
	return 0;
}

int cmd_image(int argc, char **argv)
{
	const char *data_dir = getenv("SKIFF_DATA_DIR");
	struct image_cli c = {0};
	bool debug = false, help_flag = false;
	struct flag flags[] = {
		{"root", 0, FLAG_STR, &c.root},
		{"data-dir", 0, FLAG_STR, &data_dir},
		{"debug", 0, FLAG_BOOL, &debug},
		{"help", 'h', FLAG_BOOL, &help_flag},
		{NULL, 0, 0, NULL},
	};
	cleanup_free char *root = NULL;
	struct err err = ERR_INIT;
	const char *cmd;
	int n, r;

	log_set_component("image");
	if (flags_parse(flags, argc - 1, argv + 1, true, &n, &err) < 0)
		return cmd_fail("image", &err);
	log_setup(NULL, LOG_FORMAT_TEXT, debug ? LOG_DEBUG : LOG_WARN);
	if (help_flag || n == 0)
		return help() + (n == 0 && !help_flag ? 2 : 0);
	if (!c.root) {
		root = xasprintf("%s/images", data_dir && *data_dir ? data_dir : "/var/lib/skiff");
		c.root = root;
	}
	cmd = argv[1];
	argc = n - 1;
	argv = argv + 2;
	if (!strcmp(cmd, "pull"))
		r = do_pull(&c, argc, argv, &err);
	else if (!strcmp(cmd, "push"))
		r = do_push(&c, argc, argv, &err);
	else if (!strcmp(cmd, "login"))
		r = do_login(&c, argc, argv, &err);
	else if (!strcmp(cmd, "logout"))
		r = do_logout(&c, argc, argv, &err);
	else if (!strcmp(cmd, "ls") || !strcmp(cmd, "list") || !strcmp(cmd, "images"))
		r = do_ls(&c, argc, argv, &err);
	else if (!strcmp(cmd, "inspect"))
		r = do_inspect(&c, argc, argv, &err);
	else if (!strcmp(cmd, "history"))
		r = do_history(&c, argc, argv, &err);
	else if (!strcmp(cmd, "rm") || !strcmp(cmd, "rmi"))
		r = do_rm(&c, argc, argv, &err);
	else if (!strcmp(cmd, "tag"))
		r = do_tag(&c, argc, argv, &err);
	else if (!strcmp(cmd, "import"))
		r = do_import(&c, argc, argv, &err);
	else if (!strcmp(cmd, "save"))
		r = do_save(&c, argc, argv, &err);
	else if (!strcmp(cmd, "load"))
		r = do_load(&c, argc, argv, &err);
	else if (!strcmp(cmd, "prune"))
		r = do_prune(&c, argc, argv, &err);
	else if (!strcmp(cmd, "mount"))
		r = do_mount(&c, argc, argv, &err);
	else if (!strcmp(cmd, "unmount") || !strcmp(cmd, "umount"))
		r = do_unmount(&c, argc, argv, &err);
	else if (!strcmp(cmd, "bundle"))
		r = do_bundle(&c, argc, argv, &err);
	else if (!strcmp(cmd, "help"))
		r = help();
	else
		r = err_set(&err, EINVAL, "image: unknown command '%s' (see --help)", cmd);
	img_store_close(c.store);
	if (r < 0)
		return cmd_fail("image", &err);
	return 0;
}
