/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the layer unpacker (image/unpack.c): tar streams built in memory with
 * libarchive's writer, applied to mkdtemp() directories; plain, gzip and zstd input, the
 * diff id, replacement rules, overlayfs whiteouts, and hostile layers that try to write
 * beside the directory (a sibling "outside" must stay empty). Parts that need root skip
 * without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>
#include <nettle/sha2.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "image/internal.h"
#include "image/libs.h"

#define T1 1500000000
#define T2 1600000000

struct fixture {
	char tmp[64];
	int root;    /* where layers go */
	int outside; /* its sibling: hostile layers aim here */
};

/* One tar entry; zero fields take defaults (0644 files, 0755 directories, time T1). */
struct ent {
	const char *path;
	mode_t type; /* AE_IFREG when 0 */
	mode_t perm;
	const char *data;     /* regular files */
	const char *link;     /* symlink target */
	const char *hardlink; /* makes the entry a hardlink */
	int64_t uid, gid;
	time_t mtime;
	unsigned maj, min;
	const char *xattr, *xattr_value;
};

#define ENT(...) (&(const struct ent){__VA_ARGS__})

struct layer {
	struct archive *a;
	int fd;
};

static bool is_root(void)
{
	return geteuid() == 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	cleanup_err struct err err = ERR_INIT;

	assert_non_null(f);
	assert_int_equal(img_libs_archive(&err), 0);
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/skiff-unpack-XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	f->root = open(f->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->root >= 0);
	assert_int_equal(mkdirat(f->root, "outside", 0755), 0);
	f->outside = openat(f->root, "outside", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->outside >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	cleanup_err struct err err = ERR_INIT;

	close(f->outside);
	close(f->root);
	fs_remove_tree(AT_FDCWD, f->tmp, &err);
	free(f);
	return 0;
}

/* A fresh layer directory @name beside "outside". */
static int layer_dir(struct fixture *f, const char *name)
{
	int fd;

	assert_int_equal(mkdirat(f->root, name, 0755), 0);
	fd = openat(f->root, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void layer_begin(struct layer *l, const char *filter)
{
	l->fd = memfd_create("layer", MFD_CLOEXEC);
	assert_true(l->fd >= 0);
	l->a = archive_write_new();
	assert_non_null(l->a);
	assert_int_equal(archive_write_set_format_pax_restricted(l->a), ARCHIVE_OK);
	if (!strcmp(filter, "gzip"))
		assert_int_equal(archive_write_add_filter_gzip(l->a), ARCHIVE_OK);
	else if (!strcmp(filter, "zstd"))
		assert_int_equal(archive_write_add_filter_zstd(l->a), ARCHIVE_OK);
	else
		assert_int_equal(archive_write_add_filter_none(l->a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_fd(l->a, l->fd), ARCHIVE_OK);
}

static void layer_add(struct layer *l, const struct ent *x)
{
	struct archive_entry *e = archive_entry_new();
	mode_t type = x->type ? x->type : AE_IFREG;
	size_t size = x->data ? strlen(x->data) : 0;

	assert_non_null(e);
	archive_entry_copy_pathname(e, x->path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, x->perm ? x->perm : type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_uid(e, x->uid);
	archive_entry_set_gid(e, x->gid);
	archive_entry_set_mtime(e, x->mtime ? x->mtime : T1, 0);
	archive_entry_set_size(e, type == AE_IFREG && !x->hardlink ? (la_int64_t)size : 0);
	if (x->link)
		archive_entry_copy_symlink(e, x->link);
	if (x->hardlink)
		archive_entry_copy_hardlink(e, x->hardlink);
	archive_entry_set_rdevmajor(e, x->maj);
	archive_entry_set_rdevminor(e, x->min);
	if (x->xattr)
		archive_entry_xattr_add_entry(e, x->xattr, x->xattr_value, strlen(x->xattr_value));
	assert_int_equal(archive_write_header(l->a, e), ARCHIVE_OK);
	if (size && !x->hardlink)
		assert_int_equal(archive_write_data(l->a, x->data, size), (la_ssize_t)size);
	archive_entry_free(e);
}

/* Finishes the stream; returns its descriptor, at offset 0. */
static int layer_end(struct layer *l)
{
	assert_int_equal(archive_write_close(l->a), ARCHIVE_OK);
	archive_write_free(l->a);
	assert_int_equal(lseek(l->fd, 0, SEEK_SET), 0);
	return l->fd;
}

/* A layer of @n entries, uncompressed unless @filter says otherwise. */
static int make_layer(const char *filter, const struct ent *const *v, size_t n)
{
	struct layer l;

	layer_begin(&l, filter);
	for (size_t i = 0; i < n; i++)
		layer_add(&l, v[i]);
	return layer_end(&l);
}

#define LAYER(filter, ...)                                                                         \
	make_layer(filter, (const struct ent *const[]){__VA_ARGS__},                               \
		   sizeof((const struct ent *const[]){__VA_ARGS__}) / sizeof(struct ent *))

/* Compresses all of @fd (uncompressed tar) with @filter into a new descriptor. */
static int compress_fd(int fd, const char *filter)
{
	struct stat st;
	struct layer l;
	char *buf;
	struct archive_entry *e = archive_entry_new();

	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	l.fd = memfd_create("compressed", MFD_CLOEXEC);
	l.a = archive_write_new();
	assert_int_equal(archive_write_set_format_raw(l.a), ARCHIVE_OK);
	if (!strcmp(filter, "gzip"))
		assert_int_equal(archive_write_add_filter_gzip(l.a), ARCHIVE_OK);
	else
		assert_int_equal(archive_write_add_filter_zstd(l.a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_fd(l.a, l.fd), ARCHIVE_OK);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, st.st_size);
	assert_int_equal(archive_write_header(l.a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(l.a, buf, (size_t)st.st_size), st.st_size);
	archive_entry_free(e);
	free(buf);
	return layer_end(&l);
}

static void sha256_fd(int fd, char out[IMG_DIGEST_MAX])
{
	struct sha256_ctx ctx;
	uint8_t sum[SHA256_DIGEST_SIZE];
	char buf[65536];
	off_t off = 0;
	ssize_t n;

	sha256_init(&ctx);
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		sha256_update(&ctx, (size_t)n, (const uint8_t *)buf);
		off += n;
	}
	sha256_digest(&ctx, sizeof(sum), sum);
	strcpy(out, "sha256:");
	for (size_t i = 0; i < sizeof(sum); i++)
		sprintf(out + 7 + 2 * i, "%02x", sum[i]);
}

static int apply(int layer, int dir, bool rootless, uint64_t max, char diff_id[IMG_DIGEST_MAX],
		 struct err *err)
{
	struct img_unpack_opts o = {.rootless = rootless, .max_size = max};
	int r = img_layer_apply(layer, dir, &o, diff_id, err);

	close(layer);
	return r;
}

/* Applies @layer and checks it succeeds. */
static void apply_ok(int layer, int dir, bool rootless)
{
	cleanup_err struct err err = ERR_INIT;
	char diff_id[IMG_DIGEST_MAX];

	if (apply(layer, dir, rootless, 0, diff_id, &err) < 0)
		fail_msg("img_layer_apply failed: %s", err.msg);
}

/* Applies @layer and checks it fails with @code and exactly @msg. */
static void apply_fails(int layer, int dir, bool rootless, uint64_t max, int code, const char *msg)
{
	cleanup_err struct err err = ERR_INIT;
	char diff_id[IMG_DIGEST_MAX] = "untouched";

	assert_int_equal(apply(layer, dir, rootless, max, diff_id, &err), -code);
	assert_int_equal(err.code, code);
	if (msg)
		assert_string_equal(err.msg, msg);
	assert_string_equal(diff_id, "untouched");
}

static size_t count_entries(int dirfd)
{
	cleanup_dir DIR *d = fdopendir(dup(dirfd));
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	/* the duplicate shares the offset a previous count left at the end */
	rewinddir(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	return n;
}

static void assert_content(int dir, const char *path, const char *want)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *buf = NULL;
	size_t len;

	if (fs_read_file(dir, path, &buf, &len, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len);
}

static struct stat lstat_at(int dir, const char *path)
{
	struct stat st;

	if (fstatat(dir, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		fail_msg("stat '%s': %s", path, strerror(errno));
	return st;
}

static bool exists(int dir, const char *path)
{
	struct stat st;

	return fstatat(dir, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void assert_xattr(int dir, const char *path, const char *name, const char *want)
{
	char proc[PATH_MAX], buf[256];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dir, path);
	n = lgetxattr(proc, name, buf, sizeof(buf));
	if (!want) {
		assert_int_equal(n, -1);
		return;
	}
	if (n < 0)
		fail_msg("xattr '%s' of '%s': %s", name, path, strerror(errno));
	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, (size_t)n);
}

static char *big_data(size_t n)
{
	char *s = malloc(n + 1);
	uint32_t x = 12345;

	/* incompressible, so a cut compressed stream is cut in the middle of a file */
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		s[i] = (char)('a' + (x >> 16) % 26);
	}
	s[n] = '\0';
	return s;
}

static void test_layer_apply_creates_files_directories_links_and_fifos(void **state)
{
	struct fixture *f = *state;
	cleanup_close int dir = layer_dir(f, "l");
	cleanup_free char *big = big_data(300000);
	char target[16] = "";
	struct stat st, st2;

	apply_ok(LAYER("", ENT(.path = "./", .type = AE_IFDIR, .perm = 0750),
		       ENT(.path = "usr/", .type = AE_IFDIR, .mtime = T2),
		       ENT(.path = "usr/bin/tool", .perm = 04755, .data = "#!/bin/sh\n",
			   .mtime = T2),
		       ENT(.path = "usr/bin/link", .type = AE_IFLNK, .link = "tool"),
		       ENT(.path = "usr/bin/hard", .hardlink = "usr/bin/tool"),
		       ENT(.path = "usr/share/big", .data = big), ENT(.path = "usr/empty"),
		       ENT(.path = "tmp/", .type = AE_IFDIR, .perm = 01777),
		       ENT(.path = "run/fifo", .type = AE_IFIFO, .perm = 0600),
		       ENT(.path = "/abs//./name", .data = "inside")),
		 dir, !is_root());

	assert_content(dir, "usr/bin/tool", "#!/bin/sh\n");
	assert_content(dir, "usr/share/big", big);
	assert_content(dir, "usr/empty", "");
	assert_content(dir, "abs/name", "inside");
	st = lstat_at(dir, "usr/bin/tool");
	assert_int_equal(st.st_mode, S_IFREG | 04755);
	assert_int_equal(st.st_mtim.tv_sec, T2);
	st2 = lstat_at(dir, "usr/bin/hard");
	assert_int_equal(st2.st_ino, st.st_ino);
	assert_int_equal(st.st_nlink, 2);
	st = lstat_at(dir, "usr/bin/link");
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_mtim.tv_sec, T1);
	assert_int_equal(readlinkat(dir, "usr/bin/link", target, sizeof(target)), 4);
	assert_string_equal(target, "tool");
	/* directory times survive the entries written into them afterwards */
	st = lstat_at(dir, "usr");
	assert_int_equal(st.st_mode, S_IFDIR | 0755);
	assert_int_equal(st.st_mtim.tv_sec, T2);
	/* parents the layer does not list are made 0755 */
	assert_int_equal(lstat_at(dir, "usr/bin").st_mode, S_IFDIR | 0755);
	assert_int_equal(lstat_at(dir, "tmp").st_mode, S_IFDIR | 01777);
	assert_int_equal(lstat_at(dir, "run/fifo").st_mode, S_IFIFO | 0600);
	assert_int_equal(lstat_at(dir, ".").st_mode, S_IFDIR | 0750);
	assert_int_equal(count_entries(f->outside), 0);
}

static void test_layer_apply_diff_id_is_the_sha256_of_the_uncompressed_tar(void **state)
{
	static const char *const filters[] = {"", "gzip", "zstd"};
	struct fixture *f = *state;
	cleanup_free char *big = big_data(200000);

	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		cleanup_err struct err err = ERR_INIT;
		cleanup_close int dir = -1;
		char name[16], want[IMG_DIGEST_MAX], got[IMG_DIGEST_MAX];
		int tar = LAYER("", ENT(.path = "etc/", .type = AE_IFDIR),
				ENT(.path = "etc/os-release", .data = "ID=skiff\n"),
				ENT(.path = "big", .data = big));
		int layer = *filters[i] ? compress_fd(tar, filters[i]) : dup(tar);

		sha256_fd(tar, want);
		close(tar);
		snprintf(name, sizeof(name), "l%zu", i);
		dir = layer_dir(f, name);
		if (apply(layer, dir, !is_root(), 0, got, &err) < 0)
			fail_msg("%s: %s", filters[i], err.msg);
		assert_string_equal(got, want);
		assert_content(dir, "etc/os-release", "ID=skiff\n");
		assert_content(dir, "big", big);
	}
}

static void test_layer_apply_later_entries_replace_earlier_ones(void **state)
{
	struct fixture *f = *state;
	cleanup_close int dir = layer_dir(f, "l");
	struct stat st;

	apply_ok(LAYER("", ENT(.path = "x", .data = "file"), ENT(.path = "x/", .type = AE_IFDIR),
		       ENT(.path = "d/", .type = AE_IFDIR), ENT(.path = "d/f", .data = "old"),
		       ENT(.path = "d", .data = "now a file"),
		       ENT(.path = "s", .type = AE_IFLNK, .link = "/etc/passwd"),
		       ENT(.path = "s", .data = "not through the link"),
		       ENT(.path = "m/", .type = AE_IFDIR, .perm = 0700),
		       ENT(.path = "m/f", .data = "kept"),
		       ENT(.path = "m/", .type = AE_IFDIR, .perm = 0711, .mtime = T2),
		       ENT(.path = "h1", .data = "one"), ENT(.path = "h2", .data = "two"),
		       ENT(.path = "h2", .hardlink = "h1"), ENT(.path = "same", .data = "self"),
		       ENT(.path = "same", .hardlink = "same")),
		 dir, !is_root());

	assert_true(S_ISDIR(lstat_at(dir, "x").st_mode));
	assert_content(dir, "d", "now a file");
	assert_content(dir, "s", "not through the link");
	st = lstat_at(dir, "m");
	assert_int_equal(st.st_mode, S_IFDIR | 0711);
	assert_int_equal(st.st_mtim.tv_sec, T2);
	assert_content(dir, "m/f", "kept");
	assert_content(dir, "h2", "one");
	assert_int_equal(lstat_at(dir, "h2").st_ino, lstat_at(dir, "h1").st_ino);
	assert_content(dir, "same", "self");
}

static void test_layer_apply_keeps_owners_devices_and_xattrs_as_root(void **state)
{
	struct fixture *f = *state;
	cleanup_close int dir = -1;
	struct stat st;

	if (!is_root())
		skip();
	dir = layer_dir(f, "l");
	apply_ok(LAYER("", ENT(.path = "home/", .type = AE_IFDIR, .uid = 1000, .gid = 1000),
		       ENT(.path = "home/su", .perm = 04750, .uid = 1000, .gid = 2000, .data = "x",
			   .xattr = "user.greeting", .xattr_value = "hi"),
		       ENT(.path = "home/ln", .type = AE_IFLNK, .link = "su", .uid = 7, .gid = 8),
		       ENT(.path = "dev/null", .type = AE_IFCHR, .perm = 0666, .maj = 1, .min = 3),
		       ENT(.path = "dev/loop0", .type = AE_IFBLK, .perm = 0660, .maj = 7, .min = 0,
			   .gid = 6),
		       ENT(.path = "fake/", .type = AE_IFDIR, .xattr = "trusted.overlay.opaque",
			   .xattr_value = "y")),
		 dir, false);

	st = lstat_at(dir, "home");
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 1000);
	st = lstat_at(dir, "home/su");
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 2000);
	/* set after the owner, which clears setuid */
	assert_int_equal(st.st_mode, S_IFREG | 04750);
	assert_xattr(dir, "home/su", "user.greeting", "hi");
	st = lstat_at(dir, "home/ln");
	assert_int_equal(st.st_uid, 7);
	assert_int_equal(st.st_gid, 8);
	st = lstat_at(dir, "dev/null");
	assert_int_equal(st.st_mode, S_IFCHR | 0666);
	assert_int_equal(st.st_rdev, makedev(1, 3));
	st = lstat_at(dir, "dev/loop0");
	assert_int_equal(st.st_mode, S_IFBLK | 0660);
	assert_int_equal(st.st_rdev, makedev(7, 0));
	assert_int_equal(st.st_gid, 6);
	/* overlayfs' own attributes are not the layer's to set */
	assert_xattr(dir, "fake", "trusted.overlay.opaque", NULL);
}

static void test_layer_apply_sets_modes_exactly_whatever_the_umask(void **state)
{
	struct fixture *f = *state;
	cleanup_close int dir = layer_dir(f, "l");
	mode_t old = umask(077);

	apply_ok(LAYER("", ENT(.path = "d/", .type = AE_IFDIR, .perm = 0775),
		       ENT(.path = "d/r", .perm = 0644), ENT(.path = "d/x", .perm = 0755),
		       ENT(.path = "d/p", .type = AE_IFIFO, .perm = 0666)),
		 dir, !is_root());
	umask(old);
	assert_int_equal(lstat_at(dir, "d").st_mode, S_IFDIR | 0775);
	assert_int_equal(lstat_at(dir, "d/r").st_mode, S_IFREG | 0644);
	assert_int_equal(lstat_at(dir, "d/x").st_mode, S_IFREG | 0755);
	assert_int_equal(lstat_at(dir, "d/p").st_mode, S_IFIFO | 0666);
}

static void test_layer_apply_sets_owners_below_a_setgid_directory(void **state)
{
	struct fixture *f = *state;
	cleanup_close int dir = -1;

	if (!is_root())
		skip();
	dir = layer_dir(f, "l");
	/* new files would take the directory's group without an explicit chown */
	assert_int_equal(fchown(dir, 0, 4321), 0);
	assert_int_equal(fchmod(dir, 02755), 0);
	apply_ok(LAYER("", ENT(.path = "f", .data = "x"), ENT(.path = "d/g", .data = "y")), dir,
		 false);
	assert_int_equal(lstat_at(dir, "f").st_gid, 0);
	assert_int_equal(lstat_at(dir, "d").st_gid, 0);
	assert_int_equal(lstat_at(dir, "d/g").st_gid, 0);
}

static void test_layer_apply_converts_whiteouts_to_overlay_form(void **state)
{
	struct fixture *f = *state;
	cleanup_close int dir = -1;
	struct stat st;

	if (!is_root())
		skip();
	dir = layer_dir(f, "l");
	apply_ok(LAYER("", ENT(.path = "a/", .type = AE_IFDIR), ENT(.path = "a/.wh..wh..opq"),
		       ENT(.path = "a/new", .data = "n"), ENT(.path = ".wh.gone"),
		       ENT(.path = "deep/er/.wh.gone"),
		       ENT(.path = ".wh..wh.plnk/", .type = AE_IFDIR),
		       ENT(.path = "keep", .data = "k"), ENT(.path = ".wh.keep"),
		       ENT(.path = "dd/", .type = AE_IFDIR), ENT(.path = ".wh.dd"),
		       ENT(.path = ".wh.later"), ENT(.path = "later/", .type = AE_IFDIR),
		       ENT(.path = ".wh.implicit"), ENT(.path = "implicit/f", .data = "i"),
		       ENT(.path = ".wh.x"), ENT(.path = "x", .data = "back")),
		 dir, false);

	st = lstat_at(dir, "gone");
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(0, 0));
	assert_true(S_ISCHR(lstat_at(dir, "deep/er/gone").st_mode));
	assert_false(exists(dir, ".wh.gone"));
	assert_false(exists(dir, ".wh..wh.plnk"));
	assert_xattr(dir, "a", "trusted.overlay.opaque", "y");
	assert_content(dir, "a/new", "n");
	/* a whiteout hides lower layers only: what this layer has stays */
	assert_content(dir, "keep", "k");
	assert_content(dir, "x", "back");
	/* ... and a directory replacing a lower one must not show the lower contents */
	assert_xattr(dir, "dd", "trusted.overlay.opaque", "y");
	assert_xattr(dir, "later", "trusted.overlay.opaque", "y");
	assert_xattr(dir, "implicit", "trusted.overlay.opaque", "y");
	assert_content(dir, "implicit/f", "i");
	assert_xattr(dir, ".", "trusted.overlay.opaque", NULL);
}

static void test_layer_apply_rootless_uses_user_xattrs_and_skips_owners(void **state)
{
	struct fixture *f = *state;
	cleanup_close int dir = layer_dir(f, "l");
	cleanup_err struct err err = ERR_INIT;
	char diff_id[IMG_DIGEST_MAX];
	struct stat st;
	int r;

	r = apply(LAYER("", ENT(.path = "a/", .type = AE_IFDIR, .uid = 1234),
			ENT(.path = "a/.wh..wh..opq"),
			ENT(.path = "ro/", .type = AE_IFDIR, .perm = 0555),
			ENT(.path = "ro/f", .perm = 0400, .uid = 1234, .gid = 1234, .data = "r"),
			ENT(.path = ".wh.gone")),
		  dir, true, 0, diff_id, &err);
	if (r == -EOPNOTSUPP) {
		/* no unprivileged 0:0 devices on this kernel: the message says so */
		assert_string_equal(err.msg, "layer entry '.wh.gone': whiteouts need a 0:0 "
					     "character device, which this kernel does not let "
					     "unprivileged users create");
		return;
	}
	if (r < 0)
		fail_msg("%s", err.msg);
	assert_xattr(dir, "a", "user.overlay.opaque", "y");
	assert_xattr(dir, "a", "trusted.overlay.opaque", NULL);
	st = lstat_at(dir, "ro/f");
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(st.st_mode, S_IFREG | 0400);
	assert_int_equal(lstat_at(dir, "ro").st_mode, S_IFDIR | 0555);
	assert_content(dir, "ro/f", "r");
	assert_true(S_ISCHR(lstat_at(dir, "gone").st_mode));
}

struct hostile {
	const char *what;
	int layer;
	bool rootless; /* always without root */
	int code;
	const char *msg;
};

static void test_layer_apply_refuses_entries_that_reach_outside(void **state)
{
	struct fixture *f = *state;
	char abs_outside[PATH_MAX];
	cleanup_close int fd = -1;
	struct hostile cases[12];
	size_t n = 0;

	snprintf(abs_outside, sizeof(abs_outside), "%s/outside", f->tmp);
	cases[n++] = (struct hostile){
		"dot-dot", LAYER("", ENT(.path = "../outside/x", .data = "pwned")), false, EPERM,
		"layer entry '../outside/x': path escapes the layer directory"};
	cases[n++] = (struct hostile){
		"nested dot-dot", LAYER("", ENT(.path = "a/../../outside/x", .data = "pwned")),
		false, EPERM, "layer entry 'a/../../outside/x': path escapes the layer directory"};
	cases[n++] = (struct hostile){
		"file through a relative symlink",
		LAYER("", ENT(.path = "a", .type = AE_IFLNK, .link = "../outside"),
		      ENT(.path = "a/x", .data = "pwned")),
		false, EPERM,
		"layer entry 'a/x': 'a' is a symlink (paths through symlinks are refused)"};
	cases[n++] = (struct hostile){
		"directory through an absolute symlink",
		LAYER("", ENT(.path = "a/", .type = AE_IFDIR),
		      ENT(.path = "a/b", .type = AE_IFLNK, .link = abs_outside),
		      ENT(.path = "a/b/c/", .type = AE_IFDIR)),
		false, EPERM,
		"layer entry 'a/b/c/': 'a/b' is a symlink (paths through symlinks are refused)"};
	cases[n++] = (struct hostile){
		"whiteout through a symlink",
		LAYER("", ENT(.path = "a", .type = AE_IFLNK, .link = abs_outside),
		      ENT(.path = "a/.wh.x")),
		false, EPERM,
		"layer entry 'a/.wh.x': 'a' is a symlink (paths through symlinks are refused)"};
	cases[n++] = (struct hostile){
		"opaque marker through a symlink",
		LAYER("", ENT(.path = "a", .type = AE_IFLNK, .link = abs_outside),
		      ENT(.path = "a/.wh..wh..opq")),
		false, EPERM,
		"layer entry 'a/.wh..wh..opq': 'a' is a symlink (paths through symlinks are "
		"refused)"};
	cases[n++] = (struct hostile){
		"hardlink to outside", LAYER("", ENT(.path = "h", .hardlink = "../outside/f")),
		false, EPERM,
		"layer entry 'h': hardlink target '../outside/f' escapes the layer directory"};
	cases[n++] = (struct hostile){
		"hardlink through a symlink",
		LAYER("", ENT(.path = "l", .type = AE_IFLNK, .link = abs_outside),
		      ENT(.path = "h", .hardlink = "l/f")),
		false, EPERM,
		"layer entry 'h': hardlink target 'l/f' is behind a symlink (paths through "
		"symlinks are refused)"};
	cases[n++] = (struct hostile){"hardlink to nothing",
				      LAYER("", ENT(.path = "h", .hardlink = "missing/f")), false,
				      ENOENT,
				      "layer entry 'h': hardlink target 'missing/f' is not in the "
				      "layer"};
	cases[n++] = (struct hostile){
		"device in rootless mode",
		LAYER("", ENT(.path = "dev/sda", .type = AE_IFBLK, .maj = 8, .min = 0)), true,
		EPERM, "layer entry 'dev/sda': device nodes are not allowed in rootless mode"};
	cases[n++] = (struct hostile){"invalid whiteout", LAYER("", ENT(.path = "a/.wh..")), false,
				      EPERM, "layer entry 'a/.wh..': invalid whiteout"};
	cases[n++] =
		(struct hostile){"file as the root", LAYER("", ENT(.path = ".", .data = "x")),
				 false, EPERM, "layer entry '.': the root must be a directory"};

	/* a file a hardlink could otherwise reach */
	fd = openat(f->outside, "f", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	for (size_t i = 0; i < n; i++) {
		cleanup_close int dir = -1;
		char name[16];

		snprintf(name, sizeof(name), "l%zu", i);
		dir = layer_dir(f, name);
		print_message("# %s\n", cases[i].what);
		apply_fails(cases[i].layer, dir, cases[i].rootless || !is_root(), 0, cases[i].code,
			    cases[i].msg);
		assert_int_equal(count_entries(f->outside), 1);
		assert_int_equal(lstat_at(f->outside, "f").st_nlink, 1);
		assert_int_equal(lstat_at(f->outside, "f").st_size, 0);
	}
}

static void test_layer_apply_links_a_symlink_itself_never_its_target(void **state)
{
	struct fixture *f = *state;
	cleanup_close int dir = layer_dir(f, "l");
	cleanup_close int fd = -1;
	char abs_file[PATH_MAX];

	snprintf(abs_file, sizeof(abs_file), "%s/outside/f", f->tmp);
	fd = openat(f->outside, "f", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	apply_ok(LAYER("", ENT(.path = "l", .type = AE_IFLNK, .link = abs_file),
		       ENT(.path = "h", .hardlink = "l"),
		       ENT(.path = "l2", .type = AE_IFLNK, .link = abs_file),
		       ENT(.path = "l2", .type = AE_IFIFO, .perm = 0666),
		       ENT(.path = "l3", .type = AE_IFLNK, .link = abs_file),
		       ENT(.path = "l3", .data = "replaced, not written through")),
		 dir, !is_root());
	assert_true(S_ISLNK(lstat_at(dir, "h").st_mode));
	assert_int_equal(lstat_at(dir, "h").st_ino, lstat_at(dir, "l").st_ino);
	assert_int_equal(lstat_at(dir, "l2").st_mode, S_IFIFO | 0666);
	assert_content(dir, "l3", "replaced, not written through");
	assert_int_equal(lstat_at(f->outside, "f").st_nlink, 1);
	assert_int_equal(lstat_at(f->outside, "f").st_size, 0);
	assert_int_equal(count_entries(f->outside), 1);
}

static void test_layer_apply_reports_a_truncated_gzip_stream(void **state)
{
	struct fixture *f = *state;
	cleanup_close int dir = layer_dir(f, "l");
	cleanup_free char *big = big_data(400000);
	int tar = LAYER("", ENT(.path = "a", .data = big), ENT(.path = "b", .data = big),
			ENT(.path = "c", .data = big));
	int gz = compress_fd(tar, "gzip");
	cleanup_err struct err err = ERR_INIT;
	char diff_id[IMG_DIGEST_MAX];
	struct stat st;

	close(tar);
	assert_int_equal(fstat(gz, &st), 0);
	assert_int_equal(ftruncate(gz, st.st_size / 2), 0);
	assert_int_equal(apply(gz, dir, !is_root(), 0, diff_id, &err), -EPROTO);
	assert_string_equal(err.msg, "read layer entry 'b': decompress: truncated gzip input");
}

static void test_layer_apply_rejects_what_is_not_a_layer(void **state)
{
	struct fixture *f = *state;
	cleanup_close int dir = layer_dir(f, "l");
	int fd = memfd_create("garbage", MFD_CLOEXEC);
	cleanup_err struct err err = ERR_INIT;
	char diff_id[IMG_DIGEST_MAX];

	for (int i = 0; i < 100; i++)
		assert_int_equal(write(fd, "this is not a tar archive\n", 26), 26);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(apply(fd, dir, false, 0, diff_id, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "read layer: "));
}

static void test_layer_apply_stops_at_the_size_limit(void **state)
{
	struct fixture *f = *state;
	cleanup_close int dir = layer_dir(f, "l");
	cleanup_free char *big = big_data(1000000);
	int layer = compress_fd(LAYER("", ENT(.path = "a", .data = big)), "zstd");

	apply_fails(layer, dir, !is_root(), 500000, EFBIG,
		    "read layer entry 'a': the uncompressed layer exceeds the limit of 500000 "
		    "bytes");
}

static void test_layer_apply_accepts_an_empty_stream(void **state)
{
	struct fixture *f = *state;
	cleanup_close int dir = layer_dir(f, "l");
	cleanup_err struct err err = ERR_INIT;
	char diff_id[IMG_DIGEST_MAX];

	if (apply(memfd_create("empty", MFD_CLOEXEC), dir, false, 0, diff_id, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(diff_id,
			    "sha256:"
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(count_entries(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_layer_apply_creates_files_directories_links_and_fifos),
		T(test_layer_apply_diff_id_is_the_sha256_of_the_uncompressed_tar),
		T(test_layer_apply_later_entries_replace_earlier_ones),
		T(test_layer_apply_keeps_owners_devices_and_xattrs_as_root),
		T(test_layer_apply_sets_modes_exactly_whatever_the_umask),
		T(test_layer_apply_sets_owners_below_a_setgid_directory),
		T(test_layer_apply_converts_whiteouts_to_overlay_form),
		T(test_layer_apply_rootless_uses_user_xattrs_and_skips_owners),
		T(test_layer_apply_refuses_entries_that_reach_outside),
		T(test_layer_apply_links_a_symlink_itself_never_its_target),
		T(test_layer_apply_reports_a_truncated_gzip_stream),
		T(test_layer_apply_rejects_what_is_not_a_layer),
		T(test_layer_apply_stops_at_the_size_limit),
		T(test_layer_apply_accepts_an_empty_stream),
#undef T
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("image_unpack", tests, NULL, NULL);
}
