/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of CRI container logs (cluster/agent/crilog.c): records written from chunks
 * of any size, long and unfinished lines, rotation, and the reader's tail, since,
 * timestamps, byte limit, stream filter, malformed input and follow across rotation.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "cluster/agent/crilog.h"

struct buf {
	char *p;
	size_t n;
	size_t cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static char *make_dir(void)
{
	char tmpl[] = "/tmp/test_crilog.XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static void remove_dir(char *dir)
{
	struct err err = ERR_INIT;

	assert_int_equal(fs_remove_tree(AT_FDCWD, dir, &err), 0);
	free(dir);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_text(const char *dir, const char *name)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, name);
	struct err err = ERR_INIT;
	char *text = NULL;
	size_t len;

	assert_int_equal(fs_read_file(AT_FDCWD, path, &text, &len, &err), 0);
	return text;
}

static size_t count_char(const char *s, char c)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

/* Everything a non-following reader outputs, read in small pieces. */
static char *read_log(const char *path, const struct crilog_read_opts *o)
{
	struct crilog_reader *r = NULL;
	struct err err = ERR_INIT;
	struct buf out = {xstrdup(""), 0, 1};
	char chunk[333];

	assert_int_equal(crilog_reader_open(path, o, &r, &err), 0);
	assert_int_equal(crilog_reader_fd(r), o->follow ? crilog_reader_fd(r) : -1);
	for (int i = 0; i < 1000000 && !crilog_reader_eof(r); i++) {
		size_t n = 0;

		assert_int_equal(crilog_read(r, chunk, sizeof(chunk), &n, &err), 0);
		if (n == 0 && !crilog_reader_eof(r))
			fail_msg("non-following reader returned no data before its end");
		buf_add(&out, chunk, n);
	}
	assert_true(crilog_reader_eof(r));
	crilog_reader_close(r);
	return out.p;
}

static const struct crilog_read_opts all = {.tail_lines = -1};

static bool record_line_ok(const char *line, const char *stream, char tag)
{
	/* 2026-11-25T10:00:00.123456789Z stdout F ... */
	if (strlen(line) < 41 || line[4] != '-' || line[10] != 'T' || line[19] != '.' ||
	    line[29] != 'Z' || line[30] != ' ')
		return false;
	for (int i = 20; i < 29; i++)
		if (line[i] < '0' || line[i] > '9')
			return false;
	return !strncmp(line + 31, stream, 6) && line[37] == ' ' && line[38] == tag &&
	       line[39] == ' ';
}

static void test_crilog_path_follows_kubelet_layout(void **state)
{
	cleanup_free char *p =
		crilog_path("/var/log/skiff/pods", "default", "web", "u-1", "nginx", 3);

	(void)state;
	assert_string_equal(p, "/var/log/skiff/pods/default_web_u-1/nginx/3.log");
}

static void test_crilog_round_trip_writes_cri_records(void **state)
{
	cleanup_free char *file = NULL, *log = NULL, *out = NULL;
	char *dir = make_dir(), *sub = xasprintf("%s/ns_pod_uid/c", dir);
	struct crilog_writer *w = NULL;
	struct err err = ERR_INIT;
	char *line, *save = NULL;

	(void)state;
	assert_int_equal(crilog_writer_open(sub, "0.log", 0, 1, &w, &err), 0);
	assert_int_equal(crilog_write(w, CRILOG_STDOUT, "hello\nworld\n", 12, &err), 0);
	assert_int_equal(crilog_write(w, CRILOG_STDERR, "oops\n", 5, &err), 0);
	assert_int_equal(crilog_write(w, CRILOG_STDOUT, "\n", 1, &err), 0);
	assert_int_equal(crilog_write(w, 7, "x\n", 2, &err), -EINVAL);
	err_clear(&err);
	crilog_writer_close(w);

	log = read_text(sub, "0.log");
	assert_int_equal(count_char(log, '\n'), 4);
	line = strtok_r(log, "\n", &save);
	assert_true(record_line_ok(line, "stdout", 'F'));
	assert_string_equal(line + 40, "hello");
	line = strtok_r(NULL, "\n", &save);
	assert_string_equal(line + 40, "world");
	line = strtok_r(NULL, "\n", &save);
	assert_true(record_line_ok(line, "stderr", 'F'));
	assert_string_equal(line + 40, "oops");
	line = strtok_r(NULL, "\n", &save);
	assert_int_equal(strlen(line), 40); /* an empty line keeps the space after F */

	file = xasprintf("%s/0.log", sub);
	out = read_log(file, &all);
	assert_string_equal(out, "hello\nworld\noops\n\n");
	free(sub);
	remove_dir(dir);
}

static void test_crilog_lines_split_across_chunks_become_one_record(void **state)
{
	cleanup_free char *log = NULL;
	char *dir = make_dir();
	struct crilog_writer *w = NULL;
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(crilog_writer_open(dir, "0.log", 0, 1, &w, &err), 0);
	assert_int_equal(crilog_write(w, CRILOG_STDOUT, "hel", 3, &err), 0);
	assert_int_equal(crilog_write(w, CRILOG_STDERR, "e1", 2, &err), 0);
	assert_int_equal(crilog_write(w, CRILOG_STDOUT, "lo wo", 5, &err), 0);
	assert_int_equal(crilog_write(w, CRILOG_STDOUT, "rld\nsecond", 10, &err), 0);
	assert_int_equal(crilog_write(w, CRILOG_STDERR, "\n", 1, &err), 0);
	assert_int_equal(crilog_write(w, CRILOG_STDOUT, "\n", 1, &err), 0);
	crilog_writer_close(w);

	log = read_text(dir, "0.log");
	assert_int_equal(count_char(log, '\n'), 3);
	assert_non_null(strstr(log, " stdout F hello world\n"));
	assert_non_null(strstr(log, " stderr F e1\n"));
	assert_non_null(strstr(log, " stdout F second\n"));
	assert_null(strstr(log, " P "));
	remove_dir(dir);
}

static void test_crilog_long_lines_become_partial_records_and_are_joined(void **state)
{
	cleanup_free char *log = NULL, *file = NULL, *out = NULL, *exact = NULL;
	char *dir = make_dir(), *line = xmalloc(40001), *save = NULL, *rec;
	struct crilog_writer *w = NULL;
	struct err err = ERR_INIT;
	size_t lens[8], n = 0;

	(void)state;
	for (int i = 0; i < 40000; i++)
		line[i] = (char)('a' + i % 26);
	line[40000] = '\n';
	assert_int_equal(crilog_writer_open(dir, "0.log", 0, 1, &w, &err), 0);
	for (int i = 0; i < 40001; i += 1000)
		assert_int_equal(crilog_write(w, CRILOG_STDOUT, line + i,
					      i + 1000 > 40001 ? 40001 - (size_t)i : 1000, &err),
				 0);
	/* exactly the maximum, then its newline in the next chunk: one F record */
	exact = xmalloc(CRILOG_MAX_LINE);
	memset(exact, 'z', CRILOG_MAX_LINE);
	assert_int_equal(crilog_write(w, CRILOG_STDERR, exact, CRILOG_MAX_LINE, &err), 0);
	assert_int_equal(crilog_write(w, CRILOG_STDERR, "\n", 1, &err), 0);
	crilog_writer_close(w);

	log = read_text(dir, "0.log");
	for (rec = strtok_r(log, "\n", &save); rec && n < 8; rec = strtok_r(NULL, "\n", &save))
		lens[n++] = strlen(rec) - 40;
	assert_int_equal(n, 4);
	assert_int_equal(lens[0], CRILOG_MAX_LINE);
	assert_int_equal(lens[1], CRILOG_MAX_LINE);
	assert_int_equal(lens[2], 40000 - 2 * CRILOG_MAX_LINE);
	assert_int_equal(lens[3], CRILOG_MAX_LINE);
	free(log);
	log = read_text(dir, "0.log");
	assert_non_null(strstr(log, " stdout P abc"));
	assert_non_null(strstr(log, " stdout F "));

	file = xasprintf("%s/0.log", dir);
	out = read_log(file, &all);
	assert_int_equal(strlen(out), 40001 + CRILOG_MAX_LINE + 1);
	assert_memory_equal(out, line, 40001);
	assert_int_equal(out[40001], 'z');
	free(line);
	remove_dir(dir);
}

static void test_crilog_flush_writes_unfinished_lines_as_partial(void **state)
{
	cleanup_free char *file = NULL, *out1 = NULL, *out2 = NULL, *log = NULL;
	char *dir = make_dir();
	struct crilog_writer *w = NULL;
	struct err err = ERR_INIT;

	(void)state;
	file = xasprintf("%s/0.log", dir);
	assert_int_equal(crilog_writer_open(dir, "0.log", 0, 1, &w, &err), 0);
	assert_int_equal(crilog_write(w, CRILOG_STDOUT, "prompt: ", 8, &err), 0);
	assert_int_equal(crilog_flush(w, &err), 0);
	log = read_text(dir, "0.log");
	assert_non_null(strstr(log, " stdout P prompt: \n"));
	out1 = read_log(file, &all);
	assert_string_equal(out1, "prompt: ");
	assert_int_equal(crilog_write(w, CRILOG_STDOUT, "rest\n", 5, &err), 0);
	crilog_writer_close(w);
	out2 = read_log(file, &(struct crilog_read_opts){.tail_lines = -1, .timestamps = true});
	assert_int_equal(strlen(out2), 31 + 13);
	assert_string_equal(out2 + 31, "prompt: rest\n");
	remove_dir(dir);
}

static char *numbered_line(unsigned i)
{
	/* 100 bytes with the newline */
	return xasprintf("line %06u %087u\n", i, 0u);
}

static unsigned first_number(const char *out)
{
	return (unsigned)strtoul(out + 5, NULL, 10);
}

static void test_crilog_tail_reads_across_rotated_files(void **state)
{
	cleanup_free char *file = NULL, *out = NULL;
	char *dir = make_dir();
	struct crilog_writer *w = NULL;
	struct err err = ERR_INIT;
	const unsigned total = 30000;
	size_t nl;

	(void)state;
	file = xasprintf("%s/0.log", dir);
	assert_int_equal(crilog_writer_open(dir, "0.log", 1 << 20, 6, &w, &err), 0);
	for (unsigned i = 0; i < total; i++) {
		cleanup_free char *l = numbered_line(i);

		assert_int_equal(
			crilog_write(w, i % 7 ? CRILOG_STDOUT : CRILOG_STDERR, l, strlen(l), &err),
			0);
	}
	crilog_writer_close(w);

	out = read_log(file, &(struct crilog_read_opts){.tail_lines = 10});
	assert_int_equal(count_char(out, '\n'), 10);
	assert_int_equal(first_number(out), total - 10);
	free(out);

	/* more lines than the current file holds: the tail starts in a rotated one */
	out = read_log(file, &(struct crilog_read_opts){.tail_lines = 15000});
	assert_int_equal(count_char(out, '\n'), 15000);
	assert_int_equal(first_number(out), total - 15000);
	for (unsigned i = 0; i < 15000; i++)
		assert_int_equal(first_number(out + (size_t)i * 100), total - 15000 + i);
	free(out);

	/* only stderr lines count when only stderr is asked for */
	out = read_log(file, &(struct crilog_read_opts){.tail_lines = 3, .streams = CRILOG_STDERR});
	assert_int_equal(count_char(out, '\n'), 3);
	assert_int_equal(first_number(out + 200) % 7, 0);
	free(out);

	out = read_log(file, &all);
	nl = count_char(out, '\n');
	assert_int_equal(nl, total);
	for (unsigned i = 0; i < total; i++)
		assert_int_equal(first_number(out + (size_t)i * 100), i);
	free(out);

	out = read_log(file, &(struct crilog_read_opts){.tail_lines = 0});
	assert_string_equal(out, "");
	remove_dir(dir);
}

static size_t count_rotated(const char *dir)
{
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += !strncmp(de->d_name, "0.log.", 6);
	return n;
}

static void test_crilog_rotation_keeps_max_files(void **state)
{
	cleanup_free char *file = NULL, *out = NULL;
	char *dir = make_dir();
	struct crilog_writer *w = NULL;
	struct err err = ERR_INIT;
	unsigned first;

	(void)state;
	file = xasprintf("%s/0.log", dir);
	write_text(dir, "0.log.20200101-000000.gz", "not ours");
	assert_int_equal(crilog_writer_open(dir, "0.log", 1000, 3, &w, &err), 0);
	for (unsigned i = 0; i < 100; i++) {
		cleanup_free char *l = numbered_line(i);

		assert_int_equal(crilog_write(w, CRILOG_STDOUT, l, strlen(l), &err), 0);
	}
	crilog_writer_close(w);
	/* two rotated files plus the .gz left alone */
	assert_int_equal(count_rotated(dir), 3);

	out = read_log(file, &all);
	first = first_number(out);
	assert_true(first > 0);
	assert_int_equal(count_char(out, '\n'), 100 - first);
	for (unsigned i = first; i < 100; i++)
		assert_int_equal(first_number(out + (size_t)(i - first) * 100), i);
	remove_dir(dir);
}

static const char hand_log[] = "2026-01-01T00:00:01.000000000Z stdout F l1\n"
			       "2026-01-01T00:00:02.000000000Z stderr F l2\n"
			       "2026-01-01T00:00:03.5Z stdout P l3-\n"
			       "2026-01-01T00:00:03.600000000Z stdout F part\n"
			       "2026-01-01T01:00:04+01:00 stdout F l4\n"
			       "2026-01-01T00:00:05.000000001Z stderr F l5\n";

static const char hand_rotated[] = "2025-12-31T23:59:58.000000000Z stdout F r1\n"
				   "2025-12-31T23:59:59.000000000Z stdout F r2\n";

/* 2026-01-01T00:00:00Z */
#define T0 (1767225600LL * 1000000000LL)

static void test_crilog_since_and_timestamps(void **state)
{
	cleanup_free char *file = NULL, *out = NULL;
	char *dir = make_dir();

	(void)state;
	file = xasprintf("%s/0.log", dir);
	write_text(dir, "0.log", hand_log);
	write_text(dir, "0.log.20260101-000000", hand_rotated);

	out = read_log(file, &all);
	assert_string_equal(out, "r1\nr2\nl1\nl2\nl3-part\nl4\nl5\n");
	free(out);

	out = read_log(file,
		       &(struct crilog_read_opts){.tail_lines = -1, .since_ns = T0 + 3000000000LL});
	assert_string_equal(out, "l3-part\nl4\nl5\n");
	free(out);

	out = read_log(file,
		       &(struct crilog_read_opts){.tail_lines = -1, .since_ns = T0 - 1500000000LL});
	assert_string_equal(out, "r2\nl1\nl2\nl3-part\nl4\nl5\n");
	free(out);

	out = read_log(file,
		       &(struct crilog_read_opts){.tail_lines = 4, .since_ns = T0 + 4000000000LL});
	assert_string_equal(out, "l4\nl5\n");
	free(out);

	out = read_log(file, &(struct crilog_read_opts){.tail_lines = 3, .timestamps = true});
	assert_string_equal(out, "2026-01-01T00:00:03.500000000Z l3-part\n"
				 "2026-01-01T00:00:04.000000000Z l4\n"
				 "2026-01-01T00:00:05.000000001Z l5\n");
	remove_dir(dir);
}

static void test_crilog_limit_bytes_and_stream_filter(void **state)
{
	cleanup_free char *file = NULL, *out = NULL;
	char *dir = make_dir();

	(void)state;
	file = xasprintf("%s/0.log", dir);
	write_text(dir, "0.log", hand_log);

	out = read_log(file, &(struct crilog_read_opts){.tail_lines = -1, .limit_bytes = 7});
	assert_string_equal(out, "l1\nl2\nl");
	free(out);

	out = read_log(file,
		       &(struct crilog_read_opts){.tail_lines = -1, .streams = CRILOG_STDOUT});
	assert_string_equal(out, "l1\nl3-part\nl4\n");
	free(out);

	out = read_log(file,
		       &(struct crilog_read_opts){.tail_lines = -1, .streams = CRILOG_STDERR});
	assert_string_equal(out, "l2\nl5\n");
	free(out);

	out = read_log(file, &(struct crilog_read_opts){.tail_lines = 1,
							.streams = CRILOG_STDOUT,
							.limit_bytes = 100});
	assert_string_equal(out, "l4\n");
	remove_dir(dir);
}

static void test_crilog_malformed_records_are_skipped(void **state)
{
	cleanup_free char *file = NULL, *out = NULL, *text = NULL, *huge = NULL;
	char *dir = make_dir();
	const char head[] = "garbage\n"
			    "\n"
			    "2026-13-01T00:00:01Z stdout F bad month\n"
			    "2026-01-01T00:00:01Z stdin F bad stream\n"
			    "2026-01-01T00:00:01Z stdout X bad tag\n"
			    "2026-01-01T00:00:01Z stdout FX bad tag\n"
			    "2026-01-01T00:00:01 stdout F no zone\n"
			    "2026-01-01T00:00:01.Z stdout F empty fraction\n"
			    "2026-01-01T00:00:01Z stdout F good1\n"
			    "2026-01-01T00:00:01Z stdout F:x good2\n"
			    "2026-01-01T00:00:01Z stdout F\n";

	(void)state;
	file = xasprintf("%s/0.log", dir);
	huge = xmalloc(200001);
	memset(huge, 'q', 200000);
	huge[200000] = '\0';
	text = xasprintf("%s%s\n2026-01-01T00:00:02Z stderr F good3\n2026-01-01T00:00:03Z stdout F "
			 "tail-without-newline",
			 head, huge);
	write_text(dir, "0.log", text);
	out = read_log(file, &all);
	assert_string_equal(out, "good1\ngood2\n\ngood3\ntail-without-newline\n");
	free(out);
	out = read_log(file, &(struct crilog_read_opts){.tail_lines = 2});
	assert_string_equal(out, "good3\ntail-without-newline\n");
	remove_dir(dir);
}

static char *drain(struct crilog_reader *r)
{
	struct err err = ERR_INIT;
	struct buf out = {xstrdup(""), 0, 1};
	char chunk[64];
	size_t n;

	do {
		n = 0;
		assert_int_equal(crilog_read(r, chunk, sizeof(chunk), &n, &err), 0);
		buf_add(&out, chunk, n);
	} while (n > 0);
	return out.p;
}

static void wait_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	assert_int_equal(poll(&p, 1, 2000), 1);
}

static void test_crilog_follow_continues_across_rotation(void **state)
{
	cleanup_free char *file = NULL, *out = NULL;
	char *dir = make_dir();
	struct crilog_writer *w = NULL;
	struct crilog_reader *r = NULL;
	struct err err = ERR_INIT;

	(void)state;
	file = xasprintf("%s/0.log", dir);
	/* a record of a one-letter line is 42 bytes: the third rotates the file */
	assert_int_equal(crilog_writer_open(dir, "0.log", 100, 2, &w, &err), 0);
	assert_int_equal(crilog_write(w, CRILOG_STDOUT, "a\n", 2, &err), 0);
	assert_int_equal(crilog_reader_open(
				 file, &(struct crilog_read_opts){.tail_lines = -1, .follow = true},
				 &r, &err),
			 0);
	assert_true(crilog_reader_fd(r) >= 0);
	out = drain(r);
	assert_string_equal(out, "a\n");
	assert_false(crilog_reader_eof(r));
	free(out);

	assert_int_equal(crilog_write(w, CRILOG_STDOUT, "b\n", 2, &err), 0);
	wait_readable(crilog_reader_fd(r));
	out = drain(r);
	assert_string_equal(out, "b\n");
	free(out);

	assert_int_equal(crilog_write(w, CRILOG_STDERR, "c\n", 2, &err), 0);
	assert_int_equal(count_rotated(dir), 1);
	assert_int_equal(crilog_write(w, CRILOG_STDOUT, "d", 1, &err), 0);
	assert_int_equal(crilog_flush(w, &err), 0);
	wait_readable(crilog_reader_fd(r));
	out = drain(r);
	assert_string_equal(out, "c\nd");
	free(out);
	assert_int_equal(crilog_write(w, CRILOG_STDOUT, "e\n", 2, &err), 0);
	wait_readable(crilog_reader_fd(r));
	out = drain(r);
	/* the line continued without a second timestamp */
	assert_string_equal(out, "e\n");
	free(out);
	assert_false(crilog_reader_eof(r));

	/* a second rotation while the reader is not looking */
	assert_int_equal(crilog_write(w, CRILOG_STDOUT, "f\n", 2, &err), 0);
	assert_int_equal(crilog_write(w, CRILOG_STDOUT, "g\n", 2, &err), 0);
	crilog_writer_close(w);
	crilog_reader_done(r, true);
	out = drain(r);
	assert_string_equal(out, "f\ng\n");
	assert_true(crilog_reader_eof(r));
	crilog_reader_close(r);
	remove_dir(dir);
}

static void test_crilog_reader_reports_missing_log(void **state)
{
	struct crilog_reader *r = NULL;
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(crilog_reader_open("/nonexistent/dir/0.log", &all, &r, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/dir/0.log"));
	err_clear(&err);
	assert_int_equal(crilog_writer_open("/tmp", "a/b", 0, 1, NULL, &err), -EINVAL);
	err_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crilog_path_follows_kubelet_layout),
		cmocka_unit_test(test_crilog_round_trip_writes_cri_records),
		cmocka_unit_test(test_crilog_lines_split_across_chunks_become_one_record),
		cmocka_unit_test(test_crilog_long_lines_become_partial_records_and_are_joined),
		cmocka_unit_test(test_crilog_flush_writes_unfinished_lines_as_partial),
		cmocka_unit_test(test_crilog_tail_reads_across_rotated_files),
		cmocka_unit_test(test_crilog_rotation_keeps_max_files),
		cmocka_unit_test(test_crilog_since_and_timestamps),
		cmocka_unit_test(test_crilog_limit_bytes_and_stream_filter),
		cmocka_unit_test(test_crilog_malformed_records_are_skipped),
		cmocka_unit_test(test_crilog_follow_continues_across_rotation),
		cmocka_unit_test(test_crilog_reader_reports_missing_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
