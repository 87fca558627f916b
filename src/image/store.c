/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content store: blobs under blobs/sha256/<hex>, each verified against its digest
 * while it is written and renamed into place only after fsync; partial downloads under
 * ingest/; names in refs.json, replaced atomically. A lock file orders writers of the
 * names and garbage collection (flock: shared for blob writes, exclusive for refs.json and
 * prune), so concurrent `skiff image` processes are safe.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/jdump.h"
#include "base/jx.h"
#include "image/internal.h"

#define BLOB_READ_MAX (16u << 20)

struct img_store {
	char *root;
	int dirfd;   /* the store root */
	int blobsfd; /* blobs/sha256 */
	int ingestfd;
	int lockfd;
};

static int open_dir(int at, const char *name, int *ret, struct err *err)
{
	if (mkdirat(at, name, 0700) < 0 && errno != EEXIST)
		return err_sys(err, "create '%s'", name);
	*ret = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*ret < 0)
		return err_sys(err, "open '%s'", name);
	return 0;
}

int img_store_open(const char *root, struct img_store **ret, struct err *err)
{
	struct img_store *s = xcalloc(1, sizeof(*s));
	cleanup_close int blobs = -1;

	s->dirfd = s->blobsfd = s->ingestfd = s->lockfd = -1;
	s->root = xstrdup(root);
	if (fs_mkdir_p(root, 0700, err) < 0)
		goto fail;
	s->dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		err_sys(err, "open image store '%s'", root);
		goto fail;
	}
	if (open_dir(s->dirfd, "blobs", &blobs, err) < 0 ||
	    open_dir(blobs, "sha256", &s->blobsfd, err) < 0 ||
	    open_dir(s->dirfd, "ingest", &s->ingestfd, err) < 0)
		goto fail;
	s->lockfd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lockfd < 0) {
		err_sys(err, "open '%s/lock'", root);
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	img_store_close(s);
	return err_wrap(err, "open image store '%s'", root);
}

void img_store_close(struct img_store *s)
{
	if (!s)
		return;
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (s->blobsfd >= 0)
		close(s->blobsfd);
	if (s->ingestfd >= 0)
		close(s->ingestfd);
	if (s->lockfd >= 0)
		close(s->lockfd);
	free(s->root);
	free(s);
}

const char *img_store_root(const struct img_store *s)
{
	return s->root;
}

static int lock(struct img_store *s, int how, struct err *err)
{
	while (flock(s->lockfd, how) < 0)
		if (errno != EINTR)
			return err_sys(err, "lock image store '%s'", s->root);
	return 0;
}

static void unlock(struct img_store *s)
{
	flock(s->lockfd, LOCK_UN);
}

static const char *hex_of(const char *digest)
{
	return digest + strlen("sha256:");
}

/* ---- blobs ---- */

struct img_writer {
	struct img_store *s;
	struct img_hash *hash;
	char expected[IMG_DIGEST_MAX];
	int64_t expected_size;
	int64_t written;
	char *name; /* in ingest/ */
	bool resumable;
	int fd;
};

static char *ingest_name(const char *resume_key)
{
	char *name;

	if (!resume_key) {
		char rnd[16];

		snprintf(rnd, sizeof(rnd), "%08x", (unsigned)random());
		return xasprintf("tmp-%d-%s", (int)getpid(), rnd);
	}
	/* a key is a digest or a URL: keep it a single safe path component */
	name = xasprintf("partial-%s", resume_key);
	for (char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || *p == '.')
			*p = '_';
	return name;
}

/*
 * Opens the writer's ingest file, locked for as long as the writer lives: two processes
 * resuming the same download must not append to one file, nor one of them to a partial
 * the other has just committed (renamed) into blobs/.
 */
static int open_partial(struct img_store *s, struct img_writer *w, struct err *err)
{
	for (int tries = 0; tries < 100; tries++) {
		struct stat a, b;

		w->fd = openat(s->ingestfd, w->name,
			       O_RDWR | O_CREAT | O_CLOEXEC | (w->resumable ? 0 : O_EXCL), 0600);
		if (w->fd < 0)
			return err_sys(err, "create '%s/ingest/%s'", s->root, w->name);
		while (flock(w->fd, LOCK_EX) < 0)
			if (errno != EINTR)
				return err_sys(err, "lock '%s/ingest/%s'", s->root, w->name);
		/* still the file of that name? the holder may have committed it meanwhile */
		if (fstat(w->fd, &a) == 0 && fstatat(s->ingestfd, w->name, &b, 0) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return 0;
		close(w->fd);
		w->fd = -1;
	}
	return err_set(err, EBUSY, "'%s/ingest/%s' keeps changing", s->root, w->name);
}

int img_blob_writer(struct img_store *s, const char *expected, int64_t expected_size,
		    const char *resume_key, struct img_writer **ret, struct err *err)
{
	struct img_writer *w;
	char buf[65536];
	ssize_t n;

	if (expected && !img_digest_valid(expected))
		return err_set(err, EINVAL, "invalid digest '%s'", expected);
	w = xcalloc(1, sizeof(*w));
	w->s = s;
	w->expected_size = expected_size;
	if (expected)
		snprintf(w->expected, sizeof(w->expected), "%s", expected);
	w->hash = img_hash_new();
	w->name = ingest_name(resume_key);
	w->resumable = resume_key != NULL;
	if (open_partial(s, w, err) < 0) {
		img_writer_abort(w, true);
		return -err->code;
	}
	/* a partial from an earlier attempt: its bytes count, and are hashed again */
	while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
		img_hash_update(w->hash, buf, (size_t)n);
		w->written += n;
	}
	if (n < 0 || (expected_size >= 0 && w->written > expected_size)) {
		/* unreadable or too long: start over */
		if (ftruncate(w->fd, 0) < 0 || lseek(w->fd, 0, SEEK_SET) < 0) {
			err_sys(err, "reset '%s'", w->name);
			img_writer_abort(w, true);
			return -err->code;
		}
		img_hash_final(w->hash, buf);
		w->hash = img_hash_new();
		w->written = 0;
	}
	*ret = w;
	return 0;
}

int64_t img_writer_offset(const struct img_writer *w)
{
	return w->written;
}

int img_writer_write(struct img_writer *w, const void *buf, size_t n, struct err *err)
{
	const char *p = buf;

	if (w->expected_size >= 0 && w->written + (int64_t)n > w->expected_size)
		return err_set(err, EFBIG, "blob %s: more than the %lld bytes announced",
			       *w->expected ? w->expected : "", (long long)w->expected_size);
	img_hash_update(w->hash, buf, n);
	w->written += (int64_t)n;
	while (n > 0) {
		ssize_t k = write(w->fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return err_sys(err, "write '%s/ingest/%s'", w->s->root, w->name);
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

void img_writer_abort(struct img_writer *w, bool discard)
{
	char sink[IMG_DIGEST_MAX];

	if (!w)
		return;
	/* only our own file, and while we hold its lock: the name may be someone else's now */
	if (w->fd >= 0 && (discard || !w->resumable)) {
		struct stat a, b;

		if (fstat(w->fd, &a) == 0 && fstatat(w->s->ingestfd, w->name, &b, 0) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			unlinkat(w->s->ingestfd, w->name, 0);
	}
	if (w->fd >= 0)
		close(w->fd);
	if (w->hash)
		img_hash_final(w->hash, sink);
	free(w->name);
	free(w);
}

int img_writer_commit(struct img_writer *w, char ret_digest[IMG_DIGEST_MAX], struct err *err)
{
	char digest[IMG_DIGEST_MAX];
	int r = 0;

	img_hash_final(w->hash, digest);
	w->hash = NULL;
	if (w->expected_size >= 0 && w->written != w->expected_size)
		r = err_set(err, EBADMSG, "blob %s: got %lld bytes, expected %lld",
			    *w->expected ? w->expected : digest, (long long)w->written,
			    (long long)w->expected_size);
	else if (*w->expected && strcmp(digest, w->expected))
		r = err_set(err, EBADMSG, "blob %s: content has digest %s", w->expected, digest);
	else if (fsync(w->fd) < 0)
		r = err_sys(err, "sync '%s/ingest/%s'", w->s->root, w->name);
	else if (renameat(w->s->ingestfd, w->name, w->s->blobsfd, hex_of(digest)) < 0)
		r = err_sys(err, "store blob %s", digest);
	else if (fsync(w->s->blobsfd) < 0)
		r = err_sys(err, "sync '%s/blobs/sha256'", w->s->root);
	/* a bad download is not kept for resuming: it would fail again */
	img_writer_abort(w, true);
	if (r == 0)
		memcpy(ret_digest, digest, IMG_DIGEST_MAX);
	return r;
}

int img_blob_put(struct img_store *s, const void *buf, size_t n, char ret_digest[IMG_DIGEST_MAX],
		 struct err *err)
{
	struct img_writer *w = NULL;
	char digest[IMG_DIGEST_MAX];

	img_digest_of(buf, n, digest);
	if (img_blob_exists(s, digest)) {
		memcpy(ret_digest, digest, IMG_DIGEST_MAX);
		return 0;
	}
	if (img_blob_writer(s, digest, (int64_t)n, NULL, &w, err) < 0)
		return -err->code;
	if (img_writer_write(w, buf, n, err) < 0) {
		img_writer_abort(w, true);
		return -err->code;
	}
	return img_writer_commit(w, ret_digest, err);
}

bool img_blob_exists(struct img_store *s, const char *digest)
{
	return img_digest_valid(digest) &&
	       faccessat(s->blobsfd, hex_of(digest), F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int img_blob_size(struct img_store *s, const char *digest, int64_t *ret, struct err *err)
{
	struct stat st;

	if (!img_digest_valid(digest))
		return err_set(err, EINVAL, "invalid digest '%s'", digest);
	if (fstatat(s->blobsfd, hex_of(digest), &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT
			       ? err_set(err, ENOENT, "blob '%s' is not in the store", digest)
			       : err_sys(err, "stat blob '%s'", digest);
	*ret = st.st_size;
	return 0;
}

int img_blob_open(struct img_store *s, const char *digest, int *ret_fd, struct err *err)
{
	int fd;

	if (!img_digest_valid(digest))
		return err_set(err, EINVAL, "invalid digest '%s'", digest);
	fd = openat(s->blobsfd, hex_of(digest), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT
			       ? err_set(err, ENOENT, "blob '%s' is not in the store", digest)
			       : err_sys(err, "open blob '%s'", digest);
	*ret_fd = fd;
	return 0;
}

int img_blob_read(struct img_store *s, const char *digest, char **ret, size_t *ret_len,
		  struct err *err)
{
	int64_t size;

	if (img_blob_size(s, digest, &size, err) < 0)
		return -err->code;
	if (size > (int64_t)BLOB_READ_MAX)
		return err_set(err, EFBIG, "blob '%s': %lld bytes is too large for a manifest",
			       digest, (long long)size);
	return fs_read_file(s->blobsfd, hex_of(digest), ret, ret_len, err);
}

/* ---- names ---- */

static int refs_load(struct img_store *s, json_t **ret, struct err *err)
{
	cleanup_free char *text = NULL;
	size_t len;
	json_t *j;
	int r;

	r = fs_read_file(s->dirfd, "refs.json", &text, &len, err);
	if (r == -ENOENT) {
		err_clear(err);
		*ret = json_object();
		return 0;
	}
	if (r < 0)
		return -err->code;
	if (jx_parse(text, len, "refs.json", &j, err) < 0)
		return err_wrap(err, "image store '%s'", s->root);
	if (!json_is_object(j)) {
		json_decref(j);
		return err_set(err, EPROTO, "image store '%s': refs.json is not an object",
			       s->root);
	}
	*ret = j;
	return 0;
}

static int refs_save(struct img_store *s, json_t *refs, struct err *err)
{
	cleanup_free char *text = jdump_s(refs, JSON_INDENT(1) | JSON_SORT_KEYS);
	cleanup_close int fd = -1;

	if (!text)
		return err_set(err, ENOMEM, "encode refs.json");
	if (fs_write_atomic(s->dirfd, "refs.json", text, strlen(text), 0600, err) < 0)
		return err_wrap(err, "image store '%s'", s->root);
	/* the rename is durable once the directory is */
	if (fsync(s->dirfd) < 0)
		return err_sys(err, "sync image store '%s'", s->root);
	return 0;
}

int img_tag(struct img_store *s, const char *name, const char *digest, const char *media_type,
	    struct err *err)
{
	cleanup_json json_t *refs = NULL;
	int64_t size = 0;
	int r;

	if (img_blob_size(s, digest, &size, err) < 0)
		return err_wrap(err, "tag '%s'", name);
	if (lock(s, LOCK_EX, err) < 0)
		return -err->code;
	r = refs_load(s, &refs, err);
	if (r == 0) {
		json_object_set_new(refs, name,
				    json_pack("{s:s, s:s, s:I}", "digest", digest, "mediaType",
					      media_type, "size", (json_int_t)size));
		r = refs_save(s, refs, err);
	}
	unlock(s);
	return r;
}

int img_untag(struct img_store *s, const char *name, struct err *err)
{
	cleanup_json json_t *refs = NULL;
	int r;

	if (lock(s, LOCK_EX, err) < 0)
		return -err->code;
	r = refs_load(s, &refs, err);
	if (r == 0 && json_object_del(refs, name) < 0)
		r = err_set(err, ENOENT, "image '%s' is not in the store", name);
	if (r == 0)
		r = refs_save(s, refs, err);
	unlock(s);
	return r;
}

static void fill_image(struct img_image *im, const char *name, const json_t *e)
{
	memset(im, 0, sizeof(*im));
	im->name = xstrdup(name);
	im->digest = xstrdup(json_string_value(json_object_get(e, "digest")) ?: "");
	im->media_type = xstrdup(json_string_value(json_object_get(e, "mediaType")) ?: "");
	im->size = json_integer_value(json_object_get(e, "size"));
}

void img_image_done(struct img_image *im)
{
	if (!im)
		return;
	free(im->name);
	free(im->digest);
	free(im->media_type);
	free(im->created);
	memset(im, 0, sizeof(*im));
}

void img_images_free(struct img_image *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		img_image_done(&v[i]);
	free(v);
}

static int cmp_image(const void *a, const void *b)
{
	return strcmp(((const struct img_image *)a)->name, ((const struct img_image *)b)->name);
}

int img_list(struct img_store *s, struct img_image **ret, size_t *ret_n, struct err *err)
{
	cleanup_json json_t *refs = NULL;
	struct img_image *v;
	const char *name;
	json_t *e;
	size_t n = 0;

	if (lock(s, LOCK_SH, err) < 0)
		return -err->code;
	if (refs_load(s, &refs, err) < 0) {
		unlock(s);
		return -err->code;
	}
	unlock(s);
	v = xcalloc(json_object_size(refs) + 1, sizeof(*v));
	json_object_foreach (refs, name, e)
		fill_image(&v[n++], name, e);
	qsort(v, n, sizeof(*v), cmp_image);
	*ret = v;
	*ret_n = n;
	return 0;
}

int img_resolve(struct img_store *s, const char *what, struct img_image *ret, struct err *err)
{
	cleanup_json json_t *refs = NULL;
	struct img_ref ref = {0};
	struct err perr = ERR_INIT;
	const char *name;
	json_t *e;
	size_t wlen = strlen(what);

	if (refs_load(s, &refs, err) < 0)
		return -err->code;
	/* a name, as given or normalised */
	if ((e = json_object_get(refs, what))) {
		fill_image(ret, what, e);
		return 0;
	}
	if (img_ref_parse(what, &ref, &perr) == 0) {
		cleanup_free char *full = img_ref_string(&ref);

		img_ref_done(&ref);
		if ((e = json_object_get(refs, full))) {
			fill_image(ret, full, e);
			return 0;
		}
	}
	err_clear(&perr);
	/*
	 * an id: a prefix (12+ hex digits) of the image id that ls and inspect print (the
	 * config digest, as docker and podman use it) or of the manifest digest
	 */
	if (!strncmp(what, "sha256:", 7)) {
		what += 7;
		wlen -= 7;
	}
	if (wlen >= 12 && strspn(what, "0123456789abcdef") == wlen) {
		json_object_foreach (refs, name, e) {
			const char *d = json_string_value(json_object_get(e, "digest"));
			cleanup_free char *text = NULL;
			struct img_manifest *m = NULL;
			char mdigest[IMG_DIGEST_MAX];
			bool match;
			size_t len;

			if (!d)
				continue;
			match = !strncmp(d + 7, what, wlen);
			if (!match &&
			    img_manifest_of(s, d, NULL, &text, &len, mdigest, &perr) == 0 &&
			    img_manifest_parse(text, len, &m, &perr) == 0)
				match = !strncmp(m->config.digest + 7, what, wlen);
			img_manifest_free(m);
			err_clear(&perr);
			if (match) {
				fill_image(ret, name, e);
				return 0;
			}
		}
	}
	return err_set(err, ENOENT, "image '%s' is not in the store", what);
}

/* ---- garbage collection ---- */

static void mark(json_t *live, const char *digest)
{
	if (digest)
		json_object_set_new(live, digest + 7, json_true());
}

/* Marks a manifest or index and everything it references that the store holds. */
/* Marks the chain ids of @m's layers: the snapshots an image needs. */
static void mark_snapshots(struct img_store *s, json_t *snaps, const struct img_manifest *m)
{
	cleanup_free char *text = NULL;
	struct img_config *c = NULL;
	struct err err = ERR_INIT;
	char chain[IMG_DIGEST_MAX];
	size_t len;

	if (img_blob_read(s, m->config.digest, &text, &len, &err) < 0 ||
	    img_config_parse(text, len, &c, &err) < 0) {
		err_clear(&err);
		return;
	}
	for (size_t i = 0; i < c->n_diff_ids; i++) {
		if (i == 0) {
			snprintf(chain, sizeof(chain), "%s", c->diff_ids[0]);
		} else {
			cleanup_free char *both = xasprintf("%s %s", chain, c->diff_ids[i]);

			img_digest_of(both, strlen(both), chain);
		}
		json_object_set_new(snaps, chain + 7, json_true());
	}
	img_config_free(c);
}

static void mark_tree(struct img_store *s, json_t *live, json_t *snaps, const char *digest,
		      int depth)
{
	cleanup_free char *text = NULL;
	struct err err = ERR_INIT;
	char *mt = NULL;
	size_t len;

	mark(live, digest);
	if (depth > 3 || img_blob_read(s, digest, &text, &len, &err) < 0 ||
	    img_media_type_of(text, len, &mt, &err) < 0) {
		err_clear(&err);
		return;
	}
	if (img_media_is_index(mt)) {
		struct img_index *ix = NULL;

		if (img_index_parse(text, len, &ix, &err) == 0)
			for (size_t i = 0; i < ix->n; i++)
				mark_tree(s, live, snaps, ix->manifests[i].digest, depth + 1);
		img_index_free(ix);
	} else {
		struct img_manifest *m = NULL;

		if (img_manifest_parse(text, len, &m, &err) == 0) {
			mark(live, m->config.digest);
			for (size_t i = 0; i < m->n_layers; i++)
				mark(live, m->layers[i].digest);
			mark_snapshots(s, snaps, m);
		}
		img_manifest_free(m);
	}
	err_clear(&err);
	free(mt);
}

/* Is the snapshot a lower layer of a mounted overlay (a running container)? */
static bool snapshot_in_use(const char *mountinfo, const char *hex)
{
	cleanup_free char *needle = xasprintf("/snapshots/%s/fs", hex);

	return mountinfo && strstr(mountinfo, needle);
}

/* A snapshot being unpacked by a live process ("tmp-<pid>-...") is left alone. */
static bool unpack_in_progress(const char *name)
{
	int pid;

	return sscanf(name, "tmp-%d-", &pid) == 1 && (kill(pid, 0) == 0 || errno == EPERM);
}

static int prune_snapshots(struct img_store *s, json_t *snaps, size_t *ret_n, struct err *err)
{
	cleanup_free char *path = xasprintf("%s/snapshots", s->root);
	cleanup_free char *mountinfo = NULL;
	cleanup_dir DIR *d = opendir(path);
	struct dirent *de;

	*ret_n = 0;
	if (!d)
		return errno == ENOENT ? 0 : err_sys(err, "list '%s'", path);
	if (fs_read_file(AT_FDCWD, "/proc/self/mountinfo", &mountinfo, NULL, err) < 0)
		return -err->code;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || json_object_get(snaps, de->d_name) ||
		    snapshot_in_use(mountinfo, de->d_name) || unpack_in_progress(de->d_name))
			continue;
		if (fs_remove_tree(dirfd(d), de->d_name, err) < 0)
			return err_wrap(err, "remove snapshot '%s'", de->d_name);
		(*ret_n)++;
	}
	return 0;
}

int img_prune(struct img_store *s, uint64_t *ret_bytes, size_t *ret_blobs, size_t *ret_snapshots,
	      struct err *err)
{
	cleanup_json json_t *refs = NULL, *live = json_object(), *snaps = json_object();
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	const char *name;
	json_t *e;
	uint64_t bytes = 0;
	size_t blobs = 0, nsnaps = 0;
	int fd, r = 0;

	if (lock(s, LOCK_EX, err) < 0)
		return -err->code;
	if (refs_load(s, &refs, err) < 0) {
		unlock(s);
		return -err->code;
	}
	json_object_foreach (refs, name, e)
		mark_tree(s, live, snaps, json_string_value(json_object_get(e, "digest")), 0);
	fd = openat(s->blobsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		unlock(s);
		return err_sys(err, "list '%s/blobs'", s->root);
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.' || json_object_get(live, de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			bytes += (uint64_t)st.st_size;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
			r = err_sys(err, "remove blob 'sha256:%s'", de->d_name);
			break;
		}
		blobs++;
	}
	if (r == 0)
		r = prune_snapshots(s, snaps, &nsnaps, err);
	unlock(s);
	*ret_bytes = bytes;
	*ret_blobs = blobs;
	*ret_snapshots = nsnaps;
	return r;
}

int img_manifest_of(struct img_store *s, const char *digest, const char *platform, char **ret_text,
		    size_t *ret_len, char ret_digest[IMG_DIGEST_MAX], struct err *err)
{
	cleanup_free char *text = NULL, *mt = NULL;
	struct img_platform want = {0};
	struct img_index *ix = NULL;
	const struct img_descriptor *d = NULL;
	size_t len;
	int r;

	if (img_blob_read(s, digest, &text, &len, err) < 0 ||
	    img_media_type_of(text, len, &mt, err) < 0)
		return -err->code;
	if (!img_media_is_index(mt)) {
		snprintf(ret_digest, IMG_DIGEST_MAX, "%s", digest);
		*ret_text = TAKE_PTR(text);
		*ret_len = len;
		return 0;
	}
	r = img_index_parse(text, len, &ix, err);
	if (r == 0)
		r = img_platform_parse(platform, &want, err);
	if (r == 0 && img_index_select(ix, &want, &d, err) == 0 && !img_blob_exists(s, d->digest))
		d = NULL;
	if (r == 0 && !d) {
		/* a pull for another platform stores only that entry: use what is here */
		err_clear(err);
		for (size_t i = 0; i < ix->n && !d; i++)
			if (!img_media_is_index(ix->manifests[i].media_type) &&
			    img_blob_exists(s, ix->manifests[i].digest))
				d = &ix->manifests[i];
		if (!d)
			r = err_set(err, ENOENT, "index %s: none of its manifests is in the store",
				    digest);
	}
	if (r == 0)
		snprintf(ret_digest, IMG_DIGEST_MAX, "%s", d->digest);
	img_platform_done(&want);
	img_index_free(ix);
	if (r < 0)
		return r;
	return img_blob_read(s, ret_digest, ret_text, ret_len, err);
}
