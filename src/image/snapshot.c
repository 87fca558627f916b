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
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
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

/* Unpacks layer @i into a fresh directory and publishes it as snapshots/<chain>. */
static int unpack_layer(struct img_store *s, int snapfd, const struct img_descriptor *layer,
			const char *diff_id, const char *chain, const struct img_unpack_opts *o,
			struct err *err)
{
	cleanup_free char *tmp = xasprintf("tmp-%d-%s", (int)getpid(), chain + 7);
	cleanup_close int blob = -1, tmpfd = -1, fsfd = -1;
	char got[IMG_DIGEST_MAX];
	int r;

	fs_remove_tree(snapfd, tmp, err);
	err_clear(err);
	if (mkdirat(snapfd, tmp, 0700) < 0)
		return err_sys(err, "create snapshot directory");
	tmpfd = openat(snapfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmpfd < 0 || mkdirat(tmpfd, "fs", 0755) < 0 ||
	    (fsfd = openat(tmpfd, "fs", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = err_sys(err, "create snapshot directory");
		goto fail;
	}
	r = img_blob_open(s, layer->digest, &blob, err);
	if (r == 0)
		r = img_layer_apply(blob, fsfd, o, got, err);
	if (r == 0 && strcmp(got, diff_id))
		r = err_set(err, EBADMSG,
			    "layer %s: uncompressed content has digest %s, the "
			    "config says %s",
			    layer->digest, got, diff_id);
	if (r < 0)
		goto fail;
	if (syncfs(fsfd) < 0) {
		r = err_sys(err, "sync snapshot of layer %s", layer->digest);
		goto fail;
	}
	/* another process may have unpacked the same layer meanwhile: theirs is as good */
	if (renameat(snapfd, tmp, snapfd, chain + 7) < 0 && errno != EEXIST && errno != ENOTEMPTY) {
		r = err_sys(err, "publish snapshot of layer %s", layer->digest);
		goto fail;
	}
	fs_remove_tree(snapfd, tmp, err);
	err_clear(err);
	return 0;
fail : {
	struct err e2 = ERR_INIT;

	fs_remove_tree(snapfd, tmp, &e2);
	err_clear(&e2);
}
	return err_wrap(err, "unpack layer %s", layer->digest);
}

int img_snapshots_prepare(struct img_store *s, const struct img_manifest *m,
			  const struct img_config *c, const struct img_unpack_opts *o,
			  char ***ret_lowers, struct err *err)
{
	cleanup_close int snapfd = -1;
	char chain[IMG_DIGEST_MAX] = "";
	char **lowers = xcalloc(m->n_layers + 1, sizeof(char *));
	/* the unpacked layers so far, top first, at the end of the array */
	int *fds = xcalloc(m->n_layers + 1, sizeof(int));
	struct stat st;
	int r = 0;

	for (size_t i = 0; i <= m->n_layers; i++)
		fds[i] = -1;

	if (open_subdir(img_store_root(s), "snapshots", &snapfd, err) < 0) {
		strv_free(lowers);
		free(fds);
		return -err->code;
	}
	for (size_t i = 0; i < m->n_layers; i++) {
		/* chain id: the first diff id, then sha256("<previous chain> <diff id>") */
		if (i == 0) {
			snprintf(chain, sizeof(chain), "%s", c->diff_ids[0]);
		} else {
			cleanup_free char *both = xasprintf("%s %s", chain, c->diff_ids[i]);

			img_digest_of(both, strlen(both), chain);
		}
		if (fstatat(snapfd, chain + 7, &st, 0) < 0) {
			struct img_unpack_opts lo = *o;

			lo.lower_fds = fds + (m->n_layers - i);
			lo.n_lower = i;
			if (unpack_layer(s, snapfd, &m->layers[i], c->diff_ids[i], chain, &lo,
					 err) < 0) {
				r = -err->code;
				break;
			}
		}
		/* overlay wants the top layer first */
		lowers[m->n_layers - 1 - i] =
			xasprintf("%s/snapshots/%s/fs", img_store_root(s), chain + 7);
		fds[m->n_layers - 1 - i] =
			open(lowers[m->n_layers - 1 - i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fds[m->n_layers - 1 - i] < 0) {
			r = err_sys(err, "open snapshot '%s'", lowers[m->n_layers - 1 - i]);
			break;
		}
	}
	for (size_t i = 0; i < m->n_layers; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
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
		text = json_dumps(base_spec, JSON_INDENT(8) | JSON_PRESERVE_ORDER);
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
