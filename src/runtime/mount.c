/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container's root file system: spec mounts, device nodes, /dev links, the pivot into
 * the rootfs and the masked and read-only paths. Runs in the container process inside its
 * new mount namespace. Every path below the rootfs is resolved with openat2(RESOLVE_IN_ROOT)
 * so a symlink in the image cannot send a mount outside it; mounts then target the
 * resolved fd through /proc/self/fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "runtime/internal.h"

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

#define FD_PATH_MAX 32

static const char *fd_path(char buf[FD_PATH_MAX], int fd)
{
	snprintf(buf, FD_PATH_MAX, "/proc/self/fd/%d", fd);
	return buf;
}

static int openat2_in_root(int rootfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	while (*path == '/')
		path++;
	if (!*path)
		path = ".";
	do
		fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	return fd;
}

enum create_mode { MUST_EXIST, CREATE_DIR, CREATE_FILE };

/*
 * Opens @path below @rootfd (O_PATH), creating missing parents as directories and the
 * last component as @mode says.
 */
static int open_in_root(int rootfd, const char *path, enum create_mode mode, int *ret_fd,
			struct err *err)
{
	cleanup_free char *p = NULL;
	char *comp, *save = NULL;
	int fd;

	fd = openat2_in_root(rootfd, path, O_PATH);
	if (fd >= 0 || errno != ENOENT || mode == MUST_EXIST) {
		if (fd < 0)
			return err_sys(err, "open '%s' in the container", path);
		*ret_fd = fd;
		return 0;
	}
	p = xstrdup(path);
	fd = openat2_in_root(rootfd, "/", O_PATH | O_DIRECTORY);
	if (fd < 0)
		return err_sys(err, "open container root");
	for (comp = strtok_r(p, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		bool last = !save || !*save || strspn(save, "/") == strlen(save);
		size_t off = (size_t)(comp - p) + strlen(comp);
		cleanup_free char *prefix = xstrndup(path, off);
		int next;

		next = openat2_in_root(rootfd, prefix, O_PATH);
		if (next < 0 && errno == ENOENT) {
			int r;

			if (last && mode == CREATE_FILE) {
				r = openat(fd, comp, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
					   0644);
				if (r >= 0)
					close(r);
			} else {
				r = mkdirat(fd, comp, 0755);
			}
			if (r < 0 && errno != EEXIST) {
				err_sys(err, "create '%s' in the container", prefix);
				close(fd);
				return -err->code;
			}
			next = openat2_in_root(rootfd, prefix, O_PATH);
		}
		if (next < 0) {
			err_sys(err, "open '%s' in the container", prefix);
			close(fd);
			return -err->code;
		}
		close(fd);
		fd = next;
	}
	*ret_fd = fd;
	return 0;
}

/* Flags that a bind remount must keep, or the kernel refuses it in a user namespace. */
static unsigned long locked_flags(int fd)
{
	struct statvfs sv;
	unsigned long f = 0;
	char buf[FD_PATH_MAX];

	if (statvfs(fd_path(buf, fd), &sv) < 0)
		return 0;
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (sv.f_flag & ST_RDONLY)
		f |= MS_RDONLY;
	return f;
}

static int reopen(int rootfd, const char *dest, int *fd, struct err *err)
{
	/* the fd from before the mount names the covered directory; the mount needs a new one */
	int nfd = openat2_in_root(rootfd, dest, O_PATH);

	if (nfd < 0)
		return err_sys(err, "open '%s' in the container", dest);
	close(*fd);
	*fd = nfd;
	return 0;
}

static int mount_attrs(const struct rt_mount *m, int rootfd, int *fd, struct err *err)
{
	char buf[FD_PATH_MAX];

	if (!m->propagation && !m->rec_attr_set && !m->rec_attr_clr)
		return 0;
	/* the fd from before the mount names what it covers: these act on the new mount */
	if (reopen(rootfd, m->destination, fd, err) < 0)
		return -err->code;
	if (m->propagation && mount(NULL, fd_path(buf, *fd), NULL, m->propagation, NULL) < 0)
		return err_sys(err, "set propagation of '%s'", m->destination);
	if (m->rec_attr_set || m->rec_attr_clr) {
		struct mount_attr attr = {.attr_set = m->rec_attr_set, .attr_clr = m->rec_attr_clr};

		if (syscall(SYS_mount_setattr, *fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
			    sizeof(attr)) < 0)
			return err_sys(err, "set recursive attributes of '%s'", m->destination);
	}
	return 0;
}

/* An idmapped bind mount: a detached copy of the source, id-shifted, moved into place. */
static int mount_idmapped(const struct rt_mount *m, int userns, int target, struct err *err)
{
	unsigned rec = m->idmap_recursive || (m->flags & MS_REC) ? AT_RECURSIVE : 0;
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns};
	cleanup_close int tree = -1;

	tree = (int)syscall(SYS_open_tree, AT_FDCWD, m->source,
			    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);
	if (tree < 0)
		return err_sys(err, "clone mount '%s'", m->source);
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | rec, &attr, sizeof(attr)) < 0)
		return err_sys(err,
			       "idmap mount '%s' (the file system must support idmapped mounts)",
			       m->source);
	if (syscall(SYS_move_mount, tree, "", target, "",
		    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return err_sys(err, "move idmapped mount to '%s'", m->destination);
	return 0;
}

static int mount_bind(const struct rt_mount *m, int rootfd, int userns, struct err *err)
{
	cleanup_close int fd = -1;
	unsigned long rest = m->flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
	char buf[FD_PATH_MAX];
	struct stat st;

	if (stat(m->source, &st) < 0)
		return err_sys(err, "bind mount '%s'", m->source);
	if (open_in_root(rootfd, m->destination, S_ISDIR(st.st_mode) ? CREATE_DIR : CREATE_FILE,
			 &fd, err) < 0)
		return -err->code;
	if (userns >= 0) {
		if (mount_idmapped(m, userns, fd, err) < 0)
			return -err->code;
	} else if (mount(m->source, fd_path(buf, fd), NULL, MS_BIND | (m->flags & MS_REC), NULL) <
		   0) {
		return err_sys(err, "bind mount '%s' on '%s'", m->source, m->destination);
	}
	if (rest || m->clear_flags) {
		unsigned long f;

		if (reopen(rootfd, m->destination, &fd, err) < 0)
			return -err->code;
		f = (locked_flags(fd) & ~m->clear_flags) | rest;
		if (mount(NULL, fd_path(buf, fd), NULL, MS_REMOUNT | MS_BIND | f, NULL) < 0)
			return err_sys(err, "remount '%s' with its options", m->destination);
	}
	return mount_attrs(m, rootfd, &fd, err);
}

static int mount_cgroup_tree(const struct rt_mount *m, const struct rt_init_args *a, int rootfd,
			     struct err *err);

static int mount_fs(const struct rt_mount *m, int rootfd, struct err *err)
{
	cleanup_close int fd = -1;
	char buf[FD_PATH_MAX];

	if (open_in_root(rootfd, m->destination, CREATE_DIR, &fd, err) < 0)
		return -err->code;
	if (mount(m->source, fd_path(buf, fd), m->type, m->flags & ~MS_REMOUNT, m->data) < 0)
		return err_sys(err, "mount '%s' on '%s'", m->type, m->destination);
	return mount_attrs(m, rootfd, &fd, err);
}

/* ---- cgroup file system inside the container ---- */

static int mount_cgroup_v1(const struct rt_init_args *a, const struct rt_mount *m, int dirfd,
			   const struct rt_cgroup_hier *h, struct err *err)
{
	const char *name = strrchr(h->mount_point, '/') + 1;
	const char *src = NULL;
	cleanup_close int fd = -1;
	char buf[FD_PATH_MAX];
	int r;

	if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
		return err_sys(err, "create '%s/%s'", m->destination, name);
	fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "open '%s/%s'", m->destination, name);
	if (a->cfg->ns[RT_NS_CGROUP].enabled) {
		/* inside a cgroup namespace the kernel shows the namespace root */
		r = mount("cgroup", fd_path(buf, fd), h->v2 ? "cgroup2" : "cgroup",
			  m->flags & ~(MS_RDONLY | MS_REMOUNT), h->v2 ? NULL : h->controllers);
		if (r < 0)
			return err_sys(err, "mount cgroup '%s' on '%s/%s'",
				       h->controllers ? h->controllers : "unified", m->destination,
				       name);
	} else {
		src = a->cgroup ? rt_cgroup_dir(a->cgroup, h->mount_point) : NULL;
		if (!src)
			return 0;
		if (mount(src, fd_path(buf, fd), NULL, MS_BIND | MS_REC, NULL) < 0)
			return err_sys(err, "bind mount '%s' on '%s/%s'", src, m->destination,
				       name);
	}
	if (m->flags & MS_RDONLY) {
		int nfd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (nfd < 0)
			return err_sys(err, "open '%s/%s'", m->destination, name);
		close(fd);
		fd = nfd;
		if (mount(NULL, fd_path(buf, fd), NULL,
			  MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags(fd), NULL) < 0)
			return err_sys(err, "remount '%s/%s' read-only", m->destination, name);
	}
	return 0;
}

static int mount_cgroup_tree(const struct rt_mount *m, const struct rt_init_args *a, int rootfd,
			     struct err *err)
{
	const struct rt_cgroup_hier *hs;
	cleanup_close int fd = -1;
	char buf[FD_PATH_MAX];
	size_t n;

	if (rt_cgroup_hierarchies(&hs, &n, err) < 0)
		return -err->code;
	if (!a->cgroup && a->cfg->ns[RT_NS_USER].enabled) {
		/*
		 * rootless without a cgroup of its own: a user namespace may not mount v1
		 * hierarchies, so the container sees the host's tree, read-only as asked
		 */
		struct rt_mount host = *m;

		host.source = "/sys/fs/cgroup";
		host.bind = true;
		host.flags |= MS_BIND | MS_REC;
		return mount_bind(&host, rootfd, -1, err);
	}
	/*
	 * A new cgroup namespace must be rooted at the container's cgroup before the
	 * hierarchies are mounted in it; bind mounts of the cgroup's directories need not wait.
	 */
	if (rt_init_unshare_cgroupns(a, err) < 0)
		return -err->code;
	if (open_in_root(rootfd, m->destination, CREATE_DIR, &fd, err) < 0)
		return -err->code;
	if (n == 1 && hs[0].v2) {
		/* a pure v2 host: the unified hierarchy is the whole tree */
		struct rt_mount one = *m;

		one.type = "cgroup2";
		if (!a->cfg->ns[RT_NS_CGROUP].enabled && a->cgroup) {
			one.source = (char *)rt_cgroup_dir(a->cgroup, hs[0].mount_point);
			one.bind = true;
			one.flags |= MS_BIND | MS_REC;
			return one.source ? mount_bind(&one, rootfd, -1, err) : 0;
		}
		return mount_fs(&one, rootfd, err);
	}
	if (mount("tmpfs", fd_path(buf, fd), "tmpfs",
		  (m->flags & ~(MS_RDONLY | MS_REMOUNT | MS_BIND | MS_REC)), "mode=755") < 0)
		return err_sys(err, "mount tmpfs on '%s'", m->destination);
	if (reopen(rootfd, m->destination, &fd, err) < 0)
		return -err->code;
	{
		cleanup_close int dirfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dirfd < 0)
			return err_sys(err, "open '%s'", m->destination);
		for (size_t i = 0; i < n; i++)
			if (mount_cgroup_v1(a, m, dirfd, &hs[i], err) < 0)
				return -err->code;
	}
	if ((m->flags & MS_RDONLY) &&
	    mount(NULL, fd_path(buf, fd), NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags(fd),
		  NULL) < 0)
		return err_sys(err, "remount '%s' read-only", m->destination);
	return 0;
}

/* ---- devices ---- */

static const struct rt_device default_devices[] = {
	{"/dev/null", 'c', 1, 3, 0666, true, 0, 0, false, false},
	{"/dev/zero", 'c', 1, 5, 0666, true, 0, 0, false, false},
	{"/dev/full", 'c', 1, 7, 0666, true, 0, 0, false, false},
	{"/dev/random", 'c', 1, 8, 0666, true, 0, 0, false, false},
	{"/dev/urandom", 'c', 1, 9, 0666, true, 0, 0, false, false},
	{"/dev/tty", 'c', 5, 0, 0666, true, 0, 0, false, false},
};

static int create_device(const struct rt_device *d, int rootfd, bool in_userns, bool from_config,
			 struct err *err)
{
	cleanup_close int parent = -1;
	cleanup_free char *dir = xstrdup(d->path);
	char *slash = strrchr(dir, '/');
	const char *name = strrchr(d->path, '/') + 1;
	mode_t type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
	mode_t mode = d->has_mode ? (d->file_mode & 07777) : 0666;
	char buf[FD_PATH_MAX];

	*slash = '\0';
	if (open_in_root(rootfd, *dir ? dir : "/", CREATE_DIR, &parent, err) < 0)
		return -err->code;
	{
		/* O_PATH fds cannot be used with mknodat: reopen the directory */
		int dfd = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd < 0)
			return err_sys(err, "open '%s'", *dir ? dir : "/");
		close(parent);
		parent = dfd;
	}
	if (from_config) {
		struct stat st;

		/* config-linux.md#devices: what is already there must be this very device */
		if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    ((st.st_mode & S_IFMT) != type ||
		     (type != S_IFIFO && st.st_rdev != makedev(d->major, d->minor))))
			return err_set(
				err, EEXIST,
				"linux.devices: '%s' exists in the rootfs and is not that device",
				d->path);
	}
	unlinkat(parent, name, 0);
	if (in_userns && type != S_IFIFO) {
		/* no mknod in a user namespace: bind the host's node over an empty file */
		cleanup_close int fd =
			openat(parent, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd < 0)
			return err_sys(err, "create '%s'", d->path);
		close(fd);
		fd = openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return err_sys(err, "open '%s'", d->path);
		if (mount(d->path, fd_path(buf, fd), NULL, MS_BIND, NULL) < 0)
			return err_sys(err, "bind mount device '%s'", d->path);
		return 0;
	}
	if (mknodat(parent, name, type | mode, makedev(d->major, d->minor)) < 0)
		return err_sys(err, "create device '%s'", d->path);
	/* mknod applied the umask; the spec's mode is exact */
	if (fchmodat(parent, name, mode, 0) < 0)
		return err_sys(err, "chmod device '%s'", d->path);
	if ((d->has_uid || d->has_gid) &&
	    fchownat(parent, name, d->has_uid ? d->uid : (uid_t)-1, d->has_gid ? d->gid : (gid_t)-1,
		     AT_SYMLINK_NOFOLLOW) < 0)
		return err_sys(err, "chown device '%s'", d->path);
	return 0;
}

static int create_dev_links(int rootfd, struct err *err)
{
	static const char *const links[][2] = {
		{"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
		{"pts/ptmx", "ptmx"},
	};
	cleanup_close int dev = -1;

	dev = openat2_in_root(rootfd, "/dev", O_RDONLY | O_DIRECTORY);
	if (dev < 0)
		return err_sys(err, "open /dev in the container");
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		if (!strcmp(links[i][1], "ptmx"))
			unlinkat(dev, "ptmx", 0);
		if (symlinkat(links[i][0], dev, links[i][1]) < 0 && errno != EEXIST)
			return err_sys(err, "create link '/dev/%s'", links[i][1]);
	}
	if (access("/proc/kcore", F_OK) == 0 && symlinkat("/proc/kcore", dev, "core") < 0 &&
	    errno != EEXIST)
		return err_sys(err, "create link '/dev/core'");
	return 0;
}

static bool needs_dev_setup(const struct rt_config *cfg)
{
	for (size_t i = 0; i < cfg->n_mounts; i++)
		if (!strcmp(cfg->mounts[i].destination, "/dev") && cfg->mounts[i].bind)
			return false;
	return true;
}

static int setup_devices(const struct rt_config *cfg, int rootfd, struct err *err)
{
	bool in_userns = cfg->ns[RT_NS_USER].enabled;
	mode_t old = umask(0);
	int r = 0;

	for (size_t i = 0; r == 0 && i < sizeof(default_devices) / sizeof(default_devices[0]);
	     i++) {
		bool overridden = false;

		for (size_t j = 0; j < cfg->n_devices; j++)
			if (!strcmp(cfg->devices[j].path, default_devices[i].path))
				overridden = true;
		if (!overridden)
			r = create_device(&default_devices[i], rootfd, in_userns, false, err);
	}
	for (size_t j = 0; r == 0 && j < cfg->n_devices; j++)
		r = create_device(&cfg->devices[j], rootfd, in_userns, true, err);
	umask(old);
	if (r < 0)
		return r;
	return create_dev_links(rootfd, err);
}

/* ---- pivot ---- */

static int pivot(const char *root, bool no_pivot, struct err *err)
{
	cleanup_close int oldroot = -1, newroot = -1;

	if (no_pivot) {
		if (chdir(root) < 0)
			return err_sys(err, "chdir to '%s'", root);
		if (mount(root, "/", NULL, MS_MOVE, NULL) < 0)
			return err_sys(err, "move '%s' to '/'", root);
		if (chroot(".") < 0)
			return err_sys(err, "chroot to '%s'", root);
		if (chdir("/") < 0)
			return err_sys(err, "chdir to '/'");
		return 0;
	}
	oldroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	newroot = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (oldroot < 0 || newroot < 0)
		return err_sys(err, "open '%s'", oldroot < 0 ? "/" : root);
	if (fchdir(newroot) < 0)
		return err_sys(err, "chdir to '%s'", root);
	/* pivot_root(".", ".") stacks the old root under the new one; no put_old dir needed */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return err_sys(err, "pivot_root to '%s'", root);
	if (fchdir(oldroot) < 0)
		return err_sys(err, "chdir to the old root");
	/* keep the unmount below from propagating to the host */
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return err_sys(err, "make the old root a slave mount");
	if (umount2(".", MNT_DETACH) < 0)
		return err_sys(err, "unmount the old root");
	if (chdir("/") < 0)
		return err_sys(err, "chdir to '/'");
	return 0;
}

int rt_rootfs_setup(const struct rt_init_args *a, int (*before_pivot)(void *), void *data,
		    struct err *err)
{
	const struct rt_config *cfg = a->cfg;
	unsigned long prop = cfg->rootfs_propagation;
	cleanup_close int rootfd = -1;
	const char *root = cfg->root_path;

	/* nothing done below may reach the host's mount table */
	if (!(prop & (MS_PRIVATE | MS_SLAVE)))
		prop = MS_SLAVE | MS_REC;
	if (mount(NULL, "/", NULL, prop | MS_REC, NULL) < 0)
		return err_sys(err, "set propagation of '/'");
	if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
		return err_sys(err, "bind mount rootfs '%s'", root);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return err_sys(err, "open rootfs '%s'", root);
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		const struct rt_mount *m = &cfg->mounts[i];
		int r;

		if (m->type && !strcmp(m->type, "cgroup"))
			r = mount_cgroup_tree(m, a, rootfd, err);
		else if (m->bind)
			r = mount_bind(m, rootfd, a->idmap_fds ? a->idmap_fds[i] : -1, err);
		else
			r = mount_fs(m, rootfd, err);
		if (r < 0)
			return err_wrap(err, "mounts[%zu]", i);
	}
	if (needs_dev_setup(cfg) && setup_devices(cfg, rootfd, err) < 0)
		return -err->code;
	if (before_pivot && before_pivot(data) < 0)
		return -EIO;
	if (pivot(root, a->no_pivot, err) < 0)
		return -err->code;
	if (cfg->rootfs_propagation & (MS_SHARED | MS_UNBINDABLE) &&
	    mount(NULL, "/", NULL, cfg->rootfs_propagation, NULL) < 0)
		return err_sys(err, "set propagation of the container's '/'");
	return 0;
}

static int mask_path(const char *path, struct err *err)
{
	cleanup_close int fd = openat2_in_root(AT_FDCWD, path, O_PATH | O_NOFOLLOW);
	char buf[FD_PATH_MAX];
	struct stat st;

	if (fd < 0)
		return errno == ENOENT ? 0 : err_sys(err, "open masked path '%s'", path);
	if (fstat(fd, &st) < 0)
		return err_sys(err, "stat masked path '%s'", path);
	if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", fd_path(buf, fd), "tmpfs", MS_RDONLY, "size=0k,nr_inodes=1") < 0)
			return err_sys(err, "mask '%s'", path);
	} else if (mount("/dev/null", fd_path(buf, fd), NULL, MS_BIND, NULL) < 0) {
		return err_sys(err, "mask '%s'", path);
	}
	return 0;
}

static int readonly_path(const char *path, struct err *err)
{
	cleanup_close int fd = openat2_in_root(AT_FDCWD, path, O_PATH | O_NOFOLLOW);
	char buf[FD_PATH_MAX];

	if (fd < 0)
		return errno == ENOENT ? 0 : err_sys(err, "open read-only path '%s'", path);
	if (mount(fd_path(buf, fd), fd_path(buf, fd), NULL, MS_BIND | MS_REC, NULL) < 0)
		return err_sys(err, "bind mount read-only path '%s'", path);
	close(fd);
	fd = openat2_in_root(AT_FDCWD, path, O_PATH | O_NOFOLLOW);
	if (fd < 0)
		return err_sys(err, "open read-only path '%s'", path);
	if (mount(NULL, fd_path(buf, fd), NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags(fd),
		  NULL) < 0)
		return err_sys(err, "remount '%s' read-only", path);
	return 0;
}

int rt_rootfs_finish(const struct rt_config *cfg, struct err *err)
{
	if (cfg->root_readonly) {
		cleanup_close int fd = open("/", O_PATH | O_CLOEXEC);
		char buf[FD_PATH_MAX];

		if (fd < 0 || mount(NULL, fd_path(buf, fd), NULL,
				    MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags(fd), NULL) < 0)
			return err_sys(err, "remount the root file system read-only");
	}
	for (char **p = cfg->readonly_paths; p && *p; p++)
		if (readonly_path(*p, err) < 0)
			return -err->code;
	for (char **p = cfg->masked_paths; p && *p; p++)
		if (mask_path(*p, err) < 0)
			return -err->code;
	return 0;
}
