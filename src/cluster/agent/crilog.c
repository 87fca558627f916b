/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRI container logs: the writer the shim feeds from a container's pipes (line splitting,
 * size rotation) and the reader behind the agent's /containerLogs (tail by backward block
 * scan, since, timestamps, byte limit, follow across rotation through inotify).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "cluster/agent/crilog.h"

/* "2026-11-25T10:00:00.123456789Z": the fixed-width form kubelet writes and prints. */
#define TS_LEN 30
#define TS_BUF 64
/* Room for the timestamp, the stream and the tag before a record's content. */
#define HDR_MAX 96
/* The reader's window: a record longer than this is not one we wrote and is skipped. */
#define RBUF_CAP (64 * 1024)
/* A line joined from P records is output in pieces beyond this, bounding memory. */
#define PEND_MAX (256 * 1024)
/* Backward scan block for tail. */
#define BLK (64 * 1024)

char *crilog_path(const char *log_dir, const char *ns, const char *pod, const char *uid,
		  const char *container, unsigned restart_count)
{
	return xasprintf("%s/%s_%s_%s/%s/%u.log", log_dir, ns, pod, uid, container, restart_count);
}

/* Writes @ns into @out (TS_BUF bytes); returns the length, TS_LEN for years 0-9999. */
static size_t fmt_ts(int64_t ns, char *out)
{
	time_t sec = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);
	struct tm tm;
	size_t n;

	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	gmtime_r(&sec, &tm);
	n = strftime(out, TS_BUF - 12, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(out + n, 12, ".%09ldZ", frac);
	return n;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* RFC 3339 with an optional fraction of any length and a Z or ±hh:mm zone. */
static int parse_ts(const char *s, size_t n, int64_t *ret)
{
	struct tm tm = {0};
	int64_t frac = 0, scale = 100000000, off = 0;
	size_t i = 19;
	time_t sec;

	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return -1;
	tm.tm_year = digits(s, 4) - 1900;
	tm.tm_mon = digits(s + 5, 2) - 1;
	tm.tm_mday = digits(s + 8, 2);
	tm.tm_hour = digits(s + 11, 2);
	tm.tm_min = digits(s + 14, 2);
	tm.tm_sec = digits(s + 17, 2);
	if (tm.tm_year < -1900 + 1 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 ||
	    tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60)
		return -1;
	if (s[i] == '.') {
		i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return -1;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			frac += (s[i] - '0') * scale;
			scale /= 10;
		}
	}
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
		int hh = digits(s + i + 1, 2), mm = digits(s + i + 4, 2);

		if (hh < 0 || mm < 0 || hh > 23 || mm > 59)
			return -1;
		off = (hh * 3600 + mm * 60) * (s[i] == '+' ? 1 : -1);
		i += 6;
	}
	if (i != n)
		return -1;
	sec = timegm(&tm);
	*ret = ((int64_t)sec - off) * 1000000000 + frac;
	return 0;
}

struct rec {
	int64_t ts;
	int stream; /* CRILOG_STDOUT or CRILOG_STDERR */
	bool partial;
	const char *content;
	size_t clen;
};

/* Parses one record without its newline; -1 when malformed. */
static int parse_record(const char *line, size_t len, struct rec *r)
{
	const char *end = line + len, *sp, *p;

	sp = memchr(line, ' ', len);
	if (!sp || parse_ts(line, (size_t)(sp - line), &r->ts) < 0)
		return -1;
	p = sp + 1;
	if ((size_t)(end - p) >= 7 && memcmp(p, "stdout ", 7) == 0)
		r->stream = CRILOG_STDOUT;
	else if ((size_t)(end - p) >= 7 && memcmp(p, "stderr ", 7) == 0)
		r->stream = CRILOG_STDERR;
	else
		return -1;
	p += 7;
	/* Tags are ':'-separated for forward compatibility; the first says full or partial. */
	if (p >= end || (*p != 'F' && *p != 'P') || (p + 1 < end && p[1] != ' ' && p[1] != ':'))
		return -1;
	r->partial = *p == 'P';
	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp) {
		r->content = sp + 1;
		r->clen = (size_t)(end - sp - 1);
	} else {
		r->content = end;
		r->clen = 0;
	}
	return 0;
}

/* Rotated files are "<base>.<YYYYMMDD-hhmmss>" with an optional ".<n>" for same-second ones. */
struct rotated {
	char *name;
	char stamp[16];
	unsigned long n;
};

static bool rotated_name(const char *base, const char *name, struct rotated *ret)
{
	size_t bl = strlen(base);
	const char *s;
	char *end;

	if (strncmp(name, base, bl) != 0 || name[bl] != '.')
		return false;
	s = name + bl + 1;
	if (strlen(s) < 15 || digits(s, 8) < 0 || s[8] != '-' || digits(s + 9, 6) < 0)
		return false;
	memcpy(ret->stamp, s, 15);
	ret->stamp[15] = '\0';
	ret->n = 0;
	s += 15;
	if (*s == '\0')
		return true;
	if (*s != '.' || s[1] < '0' || s[1] > '9')
		return false;
	errno = 0;
	ret->n = strtoul(s + 1, &end, 10);
	return *end == '\0' && errno == 0;
}

static int rotated_cmp(const void *a, const void *b)
{
	const struct rotated *x = a, *y = b;
	int c = strcmp(x->stamp, y->stamp);

	if (c)
		return c;
	return x->n < y->n ? -1 : x->n > y->n;
}

static void rotated_free(struct rotated *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* The rotated files of @base in @dirfd, oldest first. */
static int list_rotated(int dirfd, const char *base, struct rotated **ret, size_t *ret_n,
			struct err *err)
{
	cleanup_dir DIR *d = NULL;
	struct rotated *v = NULL, cur;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int fd;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "open log directory");
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return err_sys(err, "open log directory");
	}
	while ((de = readdir(d))) {
		if (!rotated_name(base, de->d_name, &cur))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			v = xrealloc(v, cap * sizeof(*v));
		}
		cur.name = xstrdup(de->d_name);
		v[n++] = cur;
	}
	if (n)
		qsort(v, n, sizeof(*v), rotated_cmp);
	*ret = v;
	*ret_n = n;
	return 0;
}

/* The writer. */

struct crilog_writer {
	int dirfd;
	int fd;
	char *dir;
	char *name;
	int64_t size;
	int64_t max_size;
	int max_files;
	char *line[2];
	size_t len[2];
	char *rec; /* one record: header, content, newline */
};

static int writer_open_file(struct crilog_writer *w, struct err *err)
{
	struct stat st;
	int fd;

	fd = openat(w->dirfd, w->name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return err_sys(err, "open log '%s/%s'", w->dir, w->name);
	if (fstat(fd, &st) < 0) {
		int r = err_sys(err, "stat log '%s/%s'", w->dir, w->name);

		close(fd);
		return r;
	}
	w->fd = fd;
	w->size = st.st_size;
	return 0;
}

int crilog_writer_open(const char *dir, const char *name, int64_t max_size, int max_files,
		       struct crilog_writer **ret, struct err *err)
{
	struct crilog_writer *w;
	int r;

	if (!*name || strchr(name, '/'))
		return err_set(err, EINVAL, "open log: invalid file name '%s'", name);
	if (max_size < 0 || max_files < 1)
		return err_set(err, EINVAL,
			       "open log '%s/%s': max size must be >= 0 and max files >= 1", dir,
			       name);
	r = fs_mkdir_p(dir, 0755, err);
	if (r < 0)
		return r;
	w = xcalloc(1, sizeof(*w));
	w->fd = -1;
	w->dir = xstrdup(dir);
	w->name = xstrdup(name);
	w->max_size = max_size;
	w->max_files = max_files;
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		r = err_sys(err, "open log directory '%s'", dir);
		crilog_writer_close(w);
		return r;
	}
	r = writer_open_file(w, err);
	if (r < 0) {
		crilog_writer_close(w);
		return r;
	}
	w->line[0] = xmalloc(CRILOG_MAX_LINE);
	w->line[1] = xmalloc(CRILOG_MAX_LINE);
	w->rec = xmalloc(HDR_MAX + CRILOG_MAX_LINE + 1);
	*ret = w;
	return 0;
}

void crilog_writer_close(struct crilog_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w->line[0]);
	free(w->line[1]);
	free(w->rec);
	free(w->dir);
	free(w->name);
	free(w);
}

static int prune_rotated(struct crilog_writer *w, struct err *err)
{
	struct rotated *v = NULL;
	size_t n = 0, keep = (size_t)w->max_files - 1;
	int r;

	r = list_rotated(w->dirfd, w->name, &v, &n, err);
	if (r < 0)
		return err_wrap(err, "rotate log '%s/%s'", w->dir, w->name);
	for (size_t i = 0; i + keep < n && r == 0; i++) {
		if (unlinkat(w->dirfd, v[i].name, 0) < 0 && errno != ENOENT)
			r = err_sys(err, "remove rotated log '%s/%s'", w->dir, v[i].name);
	}
	rotated_free(v, n);
	return r;
}

static int rotate(struct crilog_writer *w, struct err *err)
{
	cleanup_free char *target = NULL;
	struct rotated *v = NULL;
	size_t n = 0;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int r;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	/*
	 * Several rotations in one second get ".<n>" above every name of that second still
	 * there, so that pruning the oldest never frees a name that would sort first.
	 */
	r = list_rotated(w->dirfd, w->name, &v, &n, err);
	if (r < 0)
		return err_wrap(err, "rotate log '%s/%s'", w->dir, w->name);
	if (n && !strcmp(v[n - 1].stamp, stamp))
		target = xasprintf("%s.%s.%lu", w->name, stamp, v[n - 1].n + 1);
	else
		target = xasprintf("%s.%s", w->name, stamp);
	rotated_free(v, n);
	if (renameat(w->dirfd, w->name, w->dirfd, target) < 0)
		return err_sys(err, "rotate log '%s/%s'", w->dir, w->name);
	close(w->fd);
	w->fd = -1;
	if (writer_open_file(w, err) < 0)
		return err_wrap(err, "rotate log");
	return prune_rotated(w, err);
}

static int write_record(struct crilog_writer *w, int stream, char tag, const char *data, size_t n,
			struct err *err)
{
	char ts[TS_BUF];
	size_t h, total, done = 0;

	if (w->fd < 0 && writer_open_file(w, err) < 0)
		return -err->code;
	fmt_ts(now_ns(), ts);
	h = (size_t)snprintf(w->rec, HDR_MAX, "%s %s %c ", ts,
			     stream == CRILOG_STDERR ? "stderr" : "stdout", tag);
	memcpy(w->rec + h, data, n);
	total = h + n;
	w->rec[total++] = '\n';
	while (done < total) {
		ssize_t k = write(w->fd, w->rec + done, total - done);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(err, "write log '%s/%s'", w->dir, w->name);
		}
		done += (size_t)k;
	}
	w->size += (int64_t)total;
	if (w->max_size > 0 && w->size >= w->max_size)
		return rotate(w, err);
	return 0;
}

int crilog_write(struct crilog_writer *w, enum crilog_stream stream, const void *data, size_t len,
		 struct err *err)
{
	const char *p = data;
	int s = stream == CRILOG_STDERR ? 1 : 0, r;

	if (stream != CRILOG_STDOUT && stream != CRILOG_STDERR)
		return err_set(err, EINVAL, "write log '%s/%s': invalid stream %d", w->dir, w->name,
			       (int)stream);
	while (len > 0) {
		const char *nl = memchr(p, '\n', len);
		size_t seg = nl ? (size_t)(nl - p) : len;
		size_t take = seg < CRILOG_MAX_LINE - w->len[s] ? seg : CRILOG_MAX_LINE - w->len[s];

		memcpy(w->line[s] + w->len[s], p, take);
		w->len[s] += take;
		p += take;
		len -= take;
		if (take == seg && nl) {
			/* The newline ends the line, even one exactly CRILOG_MAX_LINE long. */
			p++;
			len--;
			r = write_record(w, s + 1, 'F', w->line[s], w->len[s], err);
			w->len[s] = 0;
			if (r < 0)
				return r;
		} else if (w->len[s] == CRILOG_MAX_LINE && len > 0) {
			r = write_record(w, s + 1, 'P', w->line[s], w->len[s], err);
			w->len[s] = 0;
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int crilog_flush(struct crilog_writer *w, struct err *err)
{
	for (int s = 0; s < 2; s++) {
		int r;

		if (!w->len[s])
			continue;
		r = write_record(w, s + 1, 'P', w->line[s], w->len[s], err);
		w->len[s] = 0;
		if (r < 0)
			return r;
	}
	return 0;
}

/* The reader. */

struct rfile {
	int fd;
	dev_t dev;
	ino_t ino;
};

/* A line being joined from P records, per stream. */
struct pend {
	bool in_line;
	bool skip;
	bool prefixed;
	int64_t ts;
	char *buf;
	size_t len;
	size_t cap;
};

struct crilog_reader {
	struct crilog_read_opts o;
	char *path;
	char *base;
	int dirfd;
	int ino_fd;
	struct rfile *files;
	size_t nfiles;
	size_t cur;
	off_t off; /* next byte to read from files[cur] */
	bool switch_seen;
	char *rbuf;
	size_t rpos;
	size_t rlen;
	bool discarding;
	struct pend pend[2];
	char *out;
	size_t out_len;
	size_t out_cap;
	int64_t emitted;
	bool limit_hit;
	bool input_done;
	bool done;
	bool eof;
};

static void emit(struct crilog_reader *r, const char *data, size_t n)
{
	if (r->limit_hit || n == 0)
		return;
	if (r->o.limit_bytes > 0 && r->emitted + (int64_t)n >= r->o.limit_bytes) {
		n = (size_t)(r->o.limit_bytes - r->emitted);
		r->limit_hit = true;
	}
	if (r->out_len + n > r->out_cap) {
		r->out_cap = (r->out_len + n) * 2;
		r->out = xrealloc(r->out, r->out_cap);
	}
	memcpy(r->out + r->out_len, data, n);
	r->out_len += n;
	r->emitted += (int64_t)n;
}

static void pend_emit(struct crilog_reader *r, struct pend *p)
{
	if (!p->prefixed && r->o.timestamps) {
		char ts[TS_BUF];
		size_t n = fmt_ts(p->ts, ts);

		ts[n] = ' ';
		emit(r, ts, n + 1);
	}
	p->prefixed = true;
	emit(r, p->buf, p->len);
	p->len = 0;
}

static void process_record(struct crilog_reader *r, const char *line, size_t len)
{
	struct pend *p;
	struct rec rec;

	if (parse_record(line, len, &rec) < 0 || !(rec.stream & r->o.streams))
		return;
	p = &r->pend[rec.stream - 1];
	if (!p->in_line) {
		p->in_line = true;
		p->ts = rec.ts;
		p->skip = r->o.since_ns && rec.ts < r->o.since_ns;
		p->prefixed = false;
		p->len = 0;
	}
	if (!p->skip) {
		if (p->len + rec.clen > PEND_MAX)
			pend_emit(r, p);
		if (p->len + rec.clen > p->cap) {
			p->cap = p->len + rec.clen > 4096 ? p->len + rec.clen : 4096;
			p->buf = xrealloc(p->buf, p->cap);
		}
		memcpy(p->buf + p->len, rec.content, rec.clen);
		p->len += rec.clen;
	}
	if (!rec.partial) {
		if (!p->skip) {
			pend_emit(r, p);
			emit(r, "\n", 1);
		}
		p->in_line = false;
	}
}

/* Output what has been joined so far of lines not yet ended (the reader has caught up). */
static void flush_pending(struct crilog_reader *r)
{
	for (int s = 0; s < 2; s++) {
		struct pend *p = &r->pend[s];

		if (p->in_line && !p->skip && p->len)
			pend_emit(r, p);
	}
}

/* The end of a file: bytes after its last newline are a record of their own. */
static void finish_file(struct crilog_reader *r)
{
	if (r->rlen > r->rpos && !r->discarding)
		process_record(r, r->rbuf + r->rpos, r->rlen - r->rpos);
	r->rpos = r->rlen = 0;
	r->discarding = false;
}

static int add_file(struct crilog_reader *r, int fd, struct err *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		close(fd);
		return err_sys(err, "stat log '%s'", r->path);
	}
	r->files = xrealloc(r->files, (r->nfiles + 1) * sizeof(*r->files));
	r->files[r->nfiles++] = (struct rfile){.fd = fd, .dev = st.st_dev, .ino = st.st_ino};
	return 0;
}

/*
 * Following the last file at its end: if the log was rotated, queue the files written after
 * ours (the rotated ones newer than ours, then the current one). Returns 1 when it did.
 */
static int check_rotated(struct crilog_reader *r, struct err *err)
{
	const struct rfile *last = &r->files[r->nfiles - 1];
	struct rotated *v = NULL;
	size_t n = 0, i;
	struct stat st;
	int fd, ret = 0;

	if (fstatat(r->dirfd, r->base, &st, 0) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_sys(err, "stat log '%s'", r->path);
	}
	if (st.st_dev == last->dev && st.st_ino == last->ino)
		return 0;
	if (list_rotated(r->dirfd, r->base, &v, &n, err) < 0)
		return err_wrap(err, "follow log '%s'", r->path);
	for (i = 0; i < n; i++) {
		if (fstatat(r->dirfd, v[i].name, &st, 0) == 0 && st.st_dev == last->dev &&
		    st.st_ino == last->ino)
			break;
	}
	/* Ours gone (pruned) or not found: what lies between is lost; go on with the current. */
	for (i = i < n ? i + 1 : n; i < n && ret == 0; i++) {
		fd = openat(r->dirfd, v[i].name, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			ret = add_file(r, fd, err);
	}
	rotated_free(v, n);
	if (ret < 0)
		return ret;
	fd = openat(r->dirfd, r->base, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return r->nfiles - 1 > r->cur;
		return err_sys(err, "open log '%s'", r->path);
	}
	ret = add_file(r, fd, err);
	return ret < 0 ? ret : 1;
}

/* One step of input: a record processed or more bytes read (1), or nothing yet (0). */
static int step(struct crilog_reader *r, struct err *err)
{
	char *nl = memchr(r->rbuf + r->rpos, '\n', r->rlen - r->rpos);
	ssize_t k;
	int rot;

	if (nl) {
		size_t end = (size_t)(nl - r->rbuf);

		if (!r->discarding)
			process_record(r, r->rbuf + r->rpos, end - r->rpos);
		r->discarding = false;
		r->rpos = end + 1;
		return 1;
	}
	if (r->rpos) {
		memmove(r->rbuf, r->rbuf + r->rpos, r->rlen - r->rpos);
		r->rlen -= r->rpos;
		r->rpos = 0;
	}
	if (r->rlen == RBUF_CAP) {
		r->discarding = true;
		r->rlen = 0;
		return 1;
	}
	k = pread(r->files[r->cur].fd, r->rbuf + r->rlen, RBUF_CAP - r->rlen, r->off);
	if (k < 0) {
		if (errno == EINTR)
			return 1;
		return err_sys(err, "read log '%s'", r->path);
	}
	if (k > 0) {
		r->off += k;
		r->rlen += (size_t)k;
		return 1;
	}
	if (r->cur + 1 < r->nfiles) {
		finish_file(r);
		r->cur++;
		r->off = 0;
		return 1;
	}
	if (!r->o.follow) {
		finish_file(r);
		r->input_done = true;
		return 1;
	}
	rot = check_rotated(r, err);
	if (rot < 0)
		return rot;
	if (rot)
		return 1; /* read ours once more to its end, then switch */
	if (r->done) {
		finish_file(r);
		r->input_done = true;
		return 1;
	}
	return 0;
}

int crilog_read(struct crilog_reader *r, char *buf, size_t cap, size_t *ret_n, struct err *err)
{
	size_t n;

	if (r->ino_fd >= 0) {
		char ev[4096];

		while (read(r->ino_fd, ev, sizeof(ev)) > 0)
			;
	}
	while (r->out_len < cap && !r->limit_hit && !r->input_done) {
		int k = step(r, err);

		if (k < 0)
			return k;
		if (k == 0) {
			flush_pending(r);
			break;
		}
	}
	if (r->input_done)
		flush_pending(r);
	n = r->out_len < cap ? r->out_len : cap;
	if (n) {
		memcpy(buf, r->out, n);
		memmove(r->out, r->out + n, r->out_len - n);
		r->out_len -= n;
	}
	if (r->out_len == 0 && (r->limit_hit || r->input_done))
		r->eof = true;
	*ret_n = n;
	return 0;
}

bool crilog_reader_eof(const struct crilog_reader *r)
{
	return r->eof;
}

int crilog_reader_fd(const struct crilog_reader *r)
{
	return r->ino_fd;
}

void crilog_reader_done(struct crilog_reader *r, bool exited)
{
	r->done = exited;
}

void crilog_reader_close(struct crilog_reader *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nfiles; i++)
		if (r->files[i].fd >= 0)
			close(r->files[i].fd);
	if (r->ino_fd >= 0)
		close(r->ino_fd);
	if (r->dirfd >= 0)
		close(r->dirfd);
	free(r->pend[0].buf);
	free(r->pend[1].buf);
	free(r->files);
	free(r->rbuf);
	free(r->out);
	free(r->path);
	free(r->base);
	free(r);
}

/* Backward scanning for tail and since, one block at a time. */
struct bscan {
	int fd;
	off_t blk_off;
	size_t blk_len;
	char *blk;
};

/* The offset of the last newline before @before, -1 when none, -2 on read error. */
static off_t prev_nl(struct bscan *b, off_t before)
{
	while (before > 0) {
		if (b->blk_len && before > b->blk_off && before <= b->blk_off + (off_t)b->blk_len) {
			char *p = memrchr(b->blk, '\n', (size_t)(before - b->blk_off));

			if (p)
				return b->blk_off + (p - b->blk);
			before = b->blk_off;
			continue;
		}
		off_t start = before > BLK ? before - BLK : 0;
		ssize_t k = pread(b->fd, b->blk, (size_t)(before - start), start);

		if (k < 0)
			return -2;
		if (k < before - start) {
			/* Shorter than it was: read what is there. */
			before = start + k;
			if (k == 0)
				return -1;
		}
		b->blk_off = start;
		b->blk_len = (size_t)k;
	}
	return -1;
}

/* Parses the header of the record in [start, end) (end excludes the newline). */
static int record_at(struct bscan *b, off_t start, off_t end, struct rec *rec)
{
	char hdr[HDR_MAX];
	size_t n = (size_t)(end - start) < sizeof(hdr) ? (size_t)(end - start) : sizeof(hdr);
	ssize_t k;

	if (start >= b->blk_off && start + (off_t)n <= b->blk_off + (off_t)b->blk_len) {
		memcpy(hdr, b->blk + (start - b->blk_off), n);
	} else {
		k = pread(b->fd, hdr, n, start);
		if (k < 0 || (size_t)k != n)
			return -1;
	}
	return parse_record(hdr, n, rec);
}

/*
 * Walks the complete records of one file from its end. With @need (lines still wanted)
 * it counts ended lines of the selected streams; it stops where everything after is
 * wanted. Returns 1 with *ret_start set when the start lies in this file, 0 when the
 * whole file is wanted, -errno on read errors.
 */
static int scan_back(struct crilog_reader *r, int fd, int64_t *need, off_t *ret_start,
		     struct err *err)
{
	struct bscan b = {.fd = fd};
	struct stat st;
	off_t end, nl;
	int ret = 0;

	if (fstat(fd, &st) < 0)
		return err_sys(err, "stat log '%s'", r->path);
	b.blk = xmalloc(BLK);
	nl = prev_nl(&b, st.st_size);
	if (nl == -2) {
		free(b.blk);
		return err_sys(err, "read log '%s'", r->path);
	}
	/*
	 * Bytes after the last newline are a record still being written when following;
	 * otherwise they are read as one, so they count here too.
	 */
	end = r->o.follow || nl + 1 == st.st_size ? nl + 1 : st.st_size + 1;
	while (end > 0) {
		struct rec rec;
		off_t start;

		nl = prev_nl(&b, end - 1);
		if (nl == -2) {
			ret = err_sys(err, "read log '%s'", r->path);
			break;
		}
		start = nl + 1;
		if (record_at(&b, start, end - 1, &rec) == 0) {
			if (r->o.since_ns && rec.ts < r->o.since_ns) {
				*ret_start = end;
				ret = 1;
				break;
			}
			if (*need >= 0 && !rec.partial && (rec.stream & r->o.streams)) {
				if (*need == 0) {
					*ret_start = end;
					ret = 1;
					break;
				}
				(*need)--;
			}
		}
		end = start;
	}
	free(b.blk);
	return ret;
}

/* Where reading starts: the first file needed and the offset in it. */
static int find_start(struct crilog_reader *r, size_t *ret_idx, off_t *ret_off, struct err *err)
{
	int64_t need = r->o.tail_lines;

	*ret_idx = 0;
	*ret_off = 0;
	if (need < 0 && !r->o.since_ns)
		return 0;
	for (size_t i = r->nfiles; i-- > 0;) {
		off_t start = 0;
		int k = scan_back(r, r->files[i].fd, &need, &start, err);

		if (k < 0)
			return k;
		if (k) {
			*ret_idx = i;
			*ret_off = start;
			return 0;
		}
	}
	return 0;
}

int crilog_reader_open(const char *path, const struct crilog_read_opts *o,
		       struct crilog_reader **ret, struct err *err)
{
	struct crilog_reader *r;
	cleanup_free char *dir = NULL;
	struct rotated *v = NULL;
	const char *slash;
	size_t n = 0, start_idx;
	off_t start_off;
	int fd, k = 0;

	r = xcalloc(1, sizeof(*r));
	r->o = *o;
	if (!r->o.streams)
		r->o.streams = CRILOG_BOTH;
	r->dirfd = r->ino_fd = -1;
	r->path = xstrdup(path);
	slash = strrchr(path, '/');
	dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
	r->base = xstrdup(slash ? slash + 1 : path);
	r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->dirfd < 0) {
		k = err_sys(err, "open log '%s'", path);
		goto fail;
	}
	if (o->follow) {
		/* Before the files are opened, so no change after that goes unnoticed. */
		r->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (r->ino_fd < 0 ||
		    inotify_add_watch(r->ino_fd, dir,
				      IN_MODIFY | IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO |
					      IN_DELETE | IN_CLOSE_WRITE) < 0) {
			k = err_sys(err, "watch log '%s'", path);
			goto fail;
		}
	}
	fd = openat(r->dirfd, r->base, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		k = err_sys(err, "open log '%s'", path);
		goto fail;
	}
	k = list_rotated(r->dirfd, r->base, &v, &n, err);
	if (k < 0) {
		close(fd);
		goto fail;
	}
	for (size_t i = 0; i < n && k == 0; i++) {
		int rfd = openat(r->dirfd, v[i].name, O_RDONLY | O_CLOEXEC);

		if (rfd >= 0)
			k = add_file(r, rfd, err);
	}
	rotated_free(v, n);
	if (k == 0)
		k = add_file(r, fd, err);
	else
		close(fd);
	if (k < 0)
		goto fail;
	k = find_start(r, &start_idx, &start_off, err);
	if (k < 0)
		goto fail;
	for (size_t i = 0; i < start_idx; i++) {
		close(r->files[i].fd);
		r->files[i].fd = -1;
	}
	r->cur = start_idx;
	r->off = start_off;
	r->rbuf = xmalloc(RBUF_CAP);
	if (r->o.tail_lines == 0 && !r->o.follow)
		r->input_done = true;
	*ret = r;
	return 0;
fail:
	crilog_reader_close(r);
	return k;
}
