/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshots: each layer unpacked once into snapshots/<chain id>/fs and shared by every
 * image built on the same layers (the chain id names a layer together with all below it);
 * containers get an overlay of those with a writable layer of their own under
 * containers/<id>. Also the OCI bundle writer that turns an image config into config.json.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/jdump.h"
#include "base/jload.h"
#include "base/jx.h"
#include "image/internal.h"

/* Loads the manifest and config of @image, picking the host's platform from an index. */
static int load_image(struct img_store *s, const struct img_image *image,
		      struct img_manifest **ret_m, struct img_config **ret_c, struct err *err)
{
	cleanup_free char *text = NULL, *ctext = NULL;
	char digest[IMG_DIGEST_MAX];
	size_t len, clen;

	if (img_manifest_of(s, image->digest, NULL, &text, &len, digest, err) < 0)
		return err_wrap(err, "image '%s'", image->name);
	if (img_manifest_parse(text, len, ret_m, err) < 0)
		return err_wrap(err, "image '%s'", image->name);
	if (img_blob_read(s, (*ret_m)->config.digest, &ctext, &clen, err) < 0 ||
	    img_config_parse(ctext, clen, ret_c, err) < 0) {
		img_manifest_free(*ret_m);
		return err_wrap(err, "image '%s': config", image->name);
	}
	if ((*ret_c)->n_diff_ids != (*ret_m)->n_layers) {
		img_config_free(*ret_c);
		img_manifest_free(*ret_m);
		return err_set(err, EINVAL, "image '%s': %zu layers but %zu diff ids in its config",
			       image->name, (*ret_m)->n_layers, (*ret_c)->n_diff_ids);
	}
	return 0;
}

static int open_subdir(const char *root, const char *name, int *ret, struct err *err)
{
	cleanup_free char *path = xasprintf("%s/%s", root, name);

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return err_sys(err, "create '%s'", path);
	*ret = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*ret < 0)
		return err_sys(err, "open '%s'", path);
	return 0;
}

/* The process that prepares the snapshots: unpackers it forks name their work after it. */
static pid_t tmp_owner;

static char *tmp_name(const char *chain)
{
	return xasprintf("tmp-%d-%s", (int)tmp_owner, chain + 7);
}

static void remove_quietly(int dirfd, const char *name)
{
	struct err e = ERR_INIT;

	fs_remove_tree(dirfd, name, &e);
	err_clear(&e);
}

/*
 * Unpacks one layer into tmp-<pid>-<chain>/fs, checks its diff id and lists the parent
 * directories it made up in tmp-.../implicit (their attributes come from the layers below,
 * which may still be unpacking alongside).
 */
static int unpack_to_tmp(struct img_store *s, int snapfd, const struct img_descriptor *layer,
			 const char *diff_id, const char *chain, const struct img_unpack_opts *o,
			 struct err *err)
{
	cleanup_free char *tmp = tmp_name(chain);
	cleanup_close int blob = -1, tmpfd = -1, fsfd = -1, listfd = -1;
	struct img_unpack_opts lo = *o;
	char got[IMG_DIGEST_MAX];
	int r;

	remove_quietly(snapfd, tmp);
	if (mkdirat(snapfd, tmp, 0700) < 0)
		return err_sys(err, "create snapshot directory");
	tmpfd = openat(snapfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmpfd < 0 || mkdirat(tmpfd, "fs", 0755) < 0 ||
	    (fsfd = openat(tmpfd, "fs", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (listfd = openat(tmpfd, "implicit", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
		    0)
		return err_sys(err, "create snapshot directory");
	lo.lower_fds = NULL;
	lo.n_lower = 0;
	lo.implicit_out = fdopen(TAKE_FD(listfd), "w");
	if (!lo.implicit_out)
		return err_sys(err, "open the list of implicit directories");
	r = img_blob_open(s, layer->digest, &blob, err);
	if (r == 0)
		r = img_layer_apply(blob, fsfd, &lo, got, err);
	if (fclose(lo.implicit_out) != 0 && r == 0)
		r = err_sys(err, "write the list of implicit directories");
	if (r == 0 && strcmp(got, diff_id))
		r = err_set(err, EBADMSG,
			    "layer %s: uncompressed content has digest %s, the "
			    "config says %s",
			    layer->digest, got, diff_id);
	if (r == 0 && syncfs(fsfd) < 0)
		r = err_sys(err, "sync snapshot of layer %s", layer->digest);
	return r < 0 ? err_wrap(err, "unpack layer %s", layer->digest) : 0;
}

/* Fixes the made-up parents from the layers below, then names the snapshot by chain id. */
static int publish(int snapfd, const char *chain, const int *lower_fds, size_t n_lower,
		   struct err *err)
{
	cleanup_free char *tmp = tmp_name(chain), *list = xasprintf("%s/implicit", tmp);
	cleanup_free char *fs = xasprintf("%s/fs", tmp);
	cleanup_close int fsfd = openat(snapfd, fs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int lfd = openat(snapfd, list, O_RDONLY | O_CLOEXEC);
	FILE *f;
	int r = 0;

	if (fsfd < 0 || lfd < 0)
		return err_sys(err, "open snapshot '%s'", tmp);
	f = fdopen(TAKE_FD(lfd), "r");
	if (!f)
		return err_sys(err, "open '%s'", list);
	if (n_lower)
		r = img_layer_fix_parents(fsfd, f, lower_fds, n_lower, err);
	fclose(f);
	if (r < 0)
		return r;
	unlinkat(snapfd, list, 0);
	/* another process may have unpacked the same layer meanwhile: theirs is as good */
	if (renameat(snapfd, tmp, snapfd, chain + 7) < 0 && errno != EEXIST && errno != ENOTEMPTY)
		return err_sys(err, "publish snapshot %s", chain);
	remove_quietly(snapfd, tmp);
	return 0;
}

struct worker {
	pid_t pid;
	int errfd; /* read end: the child's error message, if any */
	size_t layer;
};

/* Runs unpack_to_tmp() in a child; its error message comes back through a pipe. */
static int start_worker(struct img_store *s, int snapfd, const struct img_manifest *m,
			const struct img_config *c, char (*chains)[IMG_DIGEST_MAX], size_t i,
			const struct img_unpack_opts *o, struct worker *w, struct err *err)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return err_sys(err, "create pipe");
	w->pid = fork();
	if (w->pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return err_sys(err, "fork an unpacker");
	}
	if (w->pid == 0) {
		struct err e = ERR_INIT;

		close(fds[0]);
		if (unpack_to_tmp(s, snapfd, &m->layers[i], c->diff_ids[i], chains[i], o, &e) == 0)
			_exit(0);
		if (write(fds[1], e.msg, strlen(e.msg)) < 0)
			_exit(2);
		_exit(1);
	}
	close(fds[1]);
	w->errfd = fds[0];
	w->layer = i;
	return 0;
}

static int finish_worker(struct worker *w, int r, struct err *err)
{
	char msg[2048];
	ssize_t n = read(w->errfd, msg, sizeof(msg) - 1);
	int status = 0;

	close(w->errfd);
	while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r < 0)
		return r;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (n > 0) {
		msg[n] = '\0';
		return err_set(err, EIO, "%s", msg);
	}
	return err_set(err, EIO, "unpacker for layer %zu died (status %d)", w->layer, status);
}

/*
 * Unpacks the layers that have no snapshot yet, two at a time (they are independent until
 * their made-up parents are fixed, which publish() does in order afterwards).
 */
static int unpack_missing(struct img_store *s, int snapfd, const struct img_manifest *m,
			  const struct img_config *c, char (*chains)[IMG_DIGEST_MAX],
			  const bool *need, const struct img_unpack_opts *o, struct err *err)
{
	struct worker w[2];
	size_t running = 0, next = 0;
	int r = 0;

	for (;;) {
		while (r == 0 && running < 2 && next < m->n_layers) {
			if (need[next] &&
			    start_worker(s, snapfd, m, c, chains, next, o, &w[running], err) == 0)
				running++;
			else if (need[next])
				r = -err->code;
			next++;
		}
		if (!running)
			return r;
		/* wait for the oldest: layers are of similar size, and order helps publish */
		r = finish_worker(&w[0], r, err);
		memmove(&w[0], &w[1], sizeof(w[0]) * (running - 1));
		running--;
	}
}

int img_snapshots_prepare(struct img_store *s, const struct img_manifest *m,
			  const struct img_config *c, const struct img_unpack_opts *o,
			  char ***ret_lowers, struct err *err)
{
	cleanup_close int snapfd = -1;
	size_t n = m->n_layers;
	char(*chains)[IMG_DIGEST_MAX] = xcalloc(n + 1, IMG_DIGEST_MAX);
	bool *need = xcalloc(n + 1, sizeof(bool));
	char **lowers = xcalloc(n + 1, sizeof(char *));
	/* the snapshots so far, top first, at the end of the array */
	int *fds = xcalloc(n + 1, sizeof(int));
	struct stat st;
	int r = 0;

	for (size_t i = 0; i <= n; i++)
		fds[i] = -1;
	tmp_owner = getpid();
	if (open_subdir(img_store_root(s), "snapshots", &snapfd, err) < 0) {
		r = -err->code;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		/* chain id: the first diff id, then sha256("<previous chain> <diff id>") */
		if (i == 0) {
			snprintf(chains[0], IMG_DIGEST_MAX, "%s", c->diff_ids[0]);
		} else {
			cleanup_free char *both = xasprintf("%s %s", chains[i - 1], c->diff_ids[i]);

			img_digest_of(both, strlen(both), chains[i]);
		}
		need[i] = fstatat(snapfd, chains[i] + 7, &st, 0) < 0;
	}
	r = unpack_missing(s, snapfd, m, c, chains, need, o, err);
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *tmp = tmp_name(chains[i]);

		if (r == 0 && need[i])
			r = publish(snapfd, chains[i], fds + (n - i), i, err);
		if (r < 0) {
			/* a layer not published is not kept */
			if (need[i])
				remove_quietly(snapfd, tmp);
			continue;
		}
		/* overlay wants the top layer first */
		lowers[n - 1 - i] =
			xasprintf("%s/snapshots/%s/fs", img_store_root(s), chains[i] + 7);
		fds[n - 1 - i] = open(lowers[n - 1 - i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fds[n - 1 - i] < 0)
			r = err_sys(err, "open snapshot '%s'", lowers[n - 1 - i]);
	}
out:
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	free(need);
	free(chains);
	if (r < 0) {
		strv_free(lowers);
		return r;
	}
	*ret_lowers = lowers;
	return 0;
}

/* ---- overlay mounts ---- */

static int fsconfig_str(int fd, const char *key, const char *value)
{
	return (int)syscall(SYS_fsconfig, fd, FSCONFIG_SET_STRING, key, value, 0);
}

/*
 * The new mount API takes lower directories one at a time ("lowerdir+", Linux 6.8), so
 * the number of layers is not bounded by the page-sized option string of mount(2).
 */
static int mount_overlay(char **lowers, const char *upper, const char *work, const char *target,
			 struct err *err)
{
	cleanup_close int fs = -1, mnt = -1;

	fs = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
	if (fs < 0)
		return err_sys(err, "open overlay file system");
	for (char **l = lowers; *l; l++)
		if (fsconfig_str(fs, "lowerdir+", *l) < 0)
			return err_sys(err, "add lower layer '%s' to the overlay", *l);
	if (fsconfig_str(fs, "upperdir", upper) < 0 || fsconfig_str(fs, "workdir", work) < 0)
		return err_sys(err, "set the overlay's writable layer '%s'", upper);
	if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return err_sys(err, "create overlay on '%s'", target);
	mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
	if (mnt < 0)
		return err_sys(err, "mount overlay");
	if (syscall(SYS_move_mount, mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return err_sys(err, "mount overlay on '%s'", target);
	return 0;
}

static bool id_ok(const char *id)
{
	return *id && strlen(id) < 256 && strcmp(id, ".") && strcmp(id, "..") &&
	       strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
		       strlen(id);
}

int img_mount(struct img_store *s, const struct img_image *image, const char *id,
	      const char *target, struct err *err)
{
	struct img_unpack_opts o = {.rootless = geteuid() != 0};
	struct img_manifest *m = NULL;
	struct img_config *c = NULL;
	cleanup_strv char **lowers = NULL;
	cleanup_free char *dir = NULL, *upper = NULL, *work = NULL;
	cleanup_close int cfd = -1;
	int r;

	if (!id_ok(id))
		return err_set(err, EINVAL, "mount id '%s': letters, digits and _.- only", id);
	if (load_image(s, image, &m, &c, err) < 0)
		return -err->code;
	r = img_snapshots_prepare(s, m, c, &o, &lowers, err);
	img_manifest_free(m);
	img_config_free(c);
	if (r < 0)
		return err_wrap(err, "mount image '%s'", image->name);
	if (open_subdir(img_store_root(s), "containers", &cfd, err) < 0)
		return -err->code;
	dir = xasprintf("%s/containers/%s", img_store_root(s), id);
	upper = xasprintf("%s/upper", dir);
	work = xasprintf("%s/work", dir);
	if (fs_mkdir_p(upper, 0755, err) < 0 || fs_mkdir_p(work, 0700, err) < 0)
		return -err->code;
	if (!lowers[0]) {
		/* an image without layers: an empty read-only lower keeps overlay happy */
		cleanup_free char *empty = xasprintf("%s/empty", dir);

		if (mkdir(empty, 0755) < 0 && errno != EEXIST)
			return err_sys(err, "create '%s'", empty);
		free(lowers);
		lowers = xcalloc(2, sizeof(char *));
		lowers[0] = TAKE_PTR(empty);
	}
	if (mount_overlay(lowers, upper, work, target, err) < 0)
		return err_wrap(err, "mount image '%s'", image->name);
	return 0;
}

int img_unmount(struct img_store *s, const char *id, const char *target, bool remove,
		struct err *err)
{
	if (target && umount2(target, MNT_DETACH) < 0 && errno != EINVAL)
		return err_sys(err, "unmount '%s'", target);
	if (remove) {
		cleanup_close int cfd = -1;

		if (!id_ok(id))
			return err_set(err, EINVAL, "mount id '%s': letters, digits and _.- only",
				       id);
		if (open_subdir(img_store_root(s), "containers", &cfd, err) < 0)
			return -err->code;
		if (fs_remove_tree(cfd, id, err) < 0)
			return err_wrap(err, "remove writable layer '%s'", id);
	}
	return 0;
}

/* ---- bundles ---- */

static json_t *strv_json(char **v)
{
	json_t *a = json_array();

	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static bool env_has(char **env, const char *key)
{
	size_t n = strlen(key);

	for (; env && *env; env++)
		if (!strncmp(*env, key, n) && (*env)[n] == '=')
			return true;
	return false;
}

/* "uid[:gid]" or a name looked up in the image's own /etc/passwd and /etc/group. */
static int lookup_id(const char *rootfs, const char *file, const char *name, uint32_t *ret_id,
		     uint32_t *ret_gid)
{
	cleanup_free char *path = xasprintf("%s/etc/%s", rootfs, file);
	cleanup_fclose FILE *f = fopen(path, "re");
	char line[1024];
	size_t n = strlen(name);

	while (f && fgets(line, sizeof(line), f)) {
		unsigned id, gid = 0;
		char *p;

		if (strncmp(line, name, n) || line[n] != ':')
			continue;
		p = strchr(line + n + 1, ':');
		if (!p || sscanf(p + 1, "%u:%u", &id, &gid) < 1)
			return -EINVAL;
		*ret_id = id;
		if (ret_gid)
			*ret_gid = gid;
		return 0;
	}
	return -ENOENT;
}

static int set_user(json_t *user, const char *spec, const char *rootfs, struct err *err)
{
	cleanup_free char *u = xstrdup(spec);
	char *g = strchr(u, ':');
	uint32_t uid = 0, gid = 0;
	char *end;

	if (g)
		*g++ = '\0';
	uid = (uint32_t)strtoul(u, &end, 10);
	if (*end || end == u) {
		if (lookup_id(rootfs, "passwd", u, &uid, &gid) < 0)
			return err_set(err, ENOENT,
				       "image user '%s': not in the image's /etc/passwd", u);
	}
	if (g) {
		gid = (uint32_t)strtoul(g, &end, 10);
		if ((*end || end == g) && lookup_id(rootfs, "group", g, &gid, NULL) < 0)
			return err_set(err, ENOENT,
				       "image group '%s': not in the image's /etc/group", g);
	}
	json_object_set_new(user, "uid", json_integer(uid));
	json_object_set_new(user, "gid", json_integer(gid));
	return 0;
}

static int bundle_config(json_t *spec, const struct img_config *c, const char *rootfs,
			 struct err *err)
{
	json_t *proc = json_object_get(spec, "process"), *args = json_array();
	json_t *ann = json_object_get(spec, "annotations");
	char **env = c->env;

	if (!json_is_object(proc))
		return err_set(err, EINVAL, "base spec: process: expected object");
	for (char **e = c->entrypoint; e && *e; e++)
		json_array_append_new(args, json_string(*e));
	for (char **e = c->cmd; e && *e; e++)
		json_array_append_new(args, json_string(*e));
	if (!json_array_size(args))
		json_array_append_new(args, json_string("sh"));
	json_object_set_new(proc, "args", args);
	json_object_set_new(proc, "terminal", json_false());
	json_object_set_new(proc, "env", strv_json(env));
	if (!env_has(env, "PATH"))
		json_array_insert_new(json_object_get(proc, "env"), 0,
				      json_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
						  "/usr/bin:/sbin:/bin"));
	json_object_set_new(proc, "cwd", json_string(c->workdir && *c->workdir ? c->workdir : "/"));
	if (c->user && *c->user &&
	    set_user(json_object_get(proc, "user"), c->user, rootfs, err) < 0)
		return -err->code;
	json_object_set_new(spec, "root", json_pack("{s:s, s:b}", "path", "rootfs", "readonly", 0));
	if (!json_is_object(ann)) {
		ann = json_object();
		json_object_set_new(spec, "annotations", ann);
	}
	/* image-spec conversion.md: ports and stop signal travel as annotations */
	if (json_object_size(c->exposed_ports)) {
		const char *port;
		json_t *v;
		cleanup_free char *ports = xstrdup("");

		json_object_foreach (c->exposed_ports, port, v) {
			char *next = xasprintf("%s%s%s", ports, *ports ? "," : "", port);

			free(ports);
			ports = next;
		}
		json_object_set_new(ann, "org.opencontainers.image.exposedPorts",
				    json_string(ports));
	}
	if (c->stop_signal)
		json_object_set_new(ann, "org.opencontainers.image.stopSignal",
				    json_string(c->stop_signal));
	if (json_object_size(c->labels))
		json_object_update_missing(ann, c->labels);
	return 0;
}

int img_bundle(struct img_store *s, const struct img_image *image, const char *dir,
	       json_t *base_spec, struct err *err)
{
	cleanup_free char *abs = NULL, *rootfs = NULL, *id = NULL, *text = NULL;
	struct img_manifest *m = NULL;
	struct img_config *c = NULL;
	char hash[IMG_DIGEST_MAX];
	int r;

	if (fs_mkdir_p(dir, 0755, err) < 0)
		return -err->code;
	abs = realpath(dir, NULL);
	if (!abs)
		return err_sys(err, "bundle directory '%s'", dir);
	rootfs = xasprintf("%s/rootfs", abs);
	if (mkdir(rootfs, 0755) < 0 && errno != EEXIST)
		return err_sys(err, "create '%s'", rootfs);
	/* the writable layer is named after the bundle's path, so unmount can find it */
	img_digest_of(abs, strlen(abs), hash);
	id = xasprintf("bundle-%.24s", hash + 7);
	if (load_image(s, image, &m, &c, err) < 0)
		return -err->code;
	r = img_mount(s, image, id, rootfs, err);
	if (r == 0)
		r = bundle_config(base_spec, c, rootfs, err);
	if (r == 0) {
		text = jdump_s(base_spec, JSON_INDENT(8) | JSON_PRESERVE_ORDER);
		cleanup_free char *path = xasprintf("%s/config.json", abs);

		r = fs_write_atomic(AT_FDCWD, path, text, strlen(text), 0644, err);
	}
	if (r < 0) {
		struct err e2 = ERR_INIT;

		img_unmount(s, id, rootfs, true, &e2);
		err_clear(&e2);
	}
	img_manifest_free(m);
	img_config_free(c);
	return r < 0 ? err_wrap(err, "bundle '%s' from image '%s'", dir, image->name) : 0;
}

int img_config_json(struct img_store *s, const struct img_image *image, json_t **ret_config,
		    char ret_id[IMG_DIGEST_MAX], struct err *err)
{
	cleanup_free char *text = NULL, *ctext = NULL;
	struct img_manifest *m = NULL;
	char digest[IMG_DIGEST_MAX];
	json_t *doc;
	size_t len, clen;
	int r;

	if (img_manifest_of(s, image->digest, NULL, &text, &len, digest, err) < 0 ||
	    img_manifest_parse(text, len, &m, err) < 0)
		return err_wrap(err, "image '%s'", image->name);
	r = img_blob_read(s, m->config.digest, &ctext, &clen, err);
	if (r == 0) {
		doc = jload_b(ctext, clen, 0, NULL);
		if (!doc || !json_is_object(doc)) {
			json_decref(doc);
			r = err_set(err, EPROTO, "config '%s' is not a JSON object",
				    m->config.digest);
		} else {
			snprintf(ret_id, IMG_DIGEST_MAX, "%s", m->config.digest);
			*ret_config = doc;
		}
	}
	img_manifest_free(m);
	return r < 0 ? err_wrap(err, "image '%s'", image->name) : 0;
}

/* The writable-layer id img_bundle() used for @dir. */
char *img_bundle_id(const char *dir)
{
	cleanup_free char *abs = realpath(dir, NULL);
	char hash[IMG_DIGEST_MAX];

	if (!abs)
		return NULL;
	img_digest_of(abs, strlen(abs), hash);
	return xasprintf("bundle-%.24s", hash + 7);
}
