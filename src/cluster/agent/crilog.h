/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container logs in the CRI format kubelet and `kubectl logs` rely on: one record a line,
 * "<RFC3339Nano UTC, 9 digits> <stdout|stderr> <F|P> <content>\n". The writer is used by the
 * per-container monitor (skiff shim) and rotates the file by size; the reader serves the
 * agent's GET /containerLogs with tail, since, timestamps, byte limit and follow.
 */
#ifndef SKIFF_CLUSTER_AGENT_CRILOG_H
#define SKIFF_CLUSTER_AGENT_CRILOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

/* The longest record content; a longer container line becomes P records and a final F. */
#define CRILOG_MAX_LINE (16 * 1024)

/* Streams; CRILOG_BOTH only selects streams in struct crilog_read_opts. */
enum crilog_stream {
	CRILOG_STDOUT = 1,
	CRILOG_STDERR = 2,
	CRILOG_BOTH = 3,
};

/* "<log_dir>/<ns>_<pod>_<uid>/<container>/<restart_count>.log"; heap string. */
char *crilog_path(const char *log_dir, const char *ns, const char *pod, const char *uid,
		  const char *container, unsigned restart_count);

struct crilog_writer;

/*
 * Opens (creating @dir and the file as needed, appending to an existing one) the log
 * @dir/@name, e.g. "0.log". When the file reaches @max_size bytes (0: never) it is renamed to
 * "<name>.<UTC YYYYMMDD-hhmmss>" (".<n>" added when that name exists) and a new one started;
 * at most @max_files - 1 rotated files are kept (@max_files >= 1), the oldest deleted first.
 */
int crilog_writer_open(const char *dir, const char *name, int64_t max_size, int max_files,
		       struct crilog_writer **ret, struct err *err);

/*
 * Logs @len bytes read from a container's @stream (CRILOG_STDOUT or CRILOG_STDERR) in chunks
 * of any size: complete lines become F records, a line longer than CRILOG_MAX_LINE becomes P
 * records of that size, and the rest stays buffered (per stream) until its newline arrives.
 * Each record is one write(2) to an O_APPEND file, so readers never see half of one.
 * Fails with the errno of write(2), rename(2) or open(2).
 */
int crilog_write(struct crilog_writer *w, enum crilog_stream stream, const void *data, size_t len,
		 struct err *err);

/*
 * Writes the buffered, not yet ended lines of both streams as P records: at end of file, or
 * when the monitor wants a prompt without newline to become visible. Later data of the same
 * line continues it, and readers join the pieces.
 */
int crilog_flush(struct crilog_writer *w, struct err *err);

/* Closes the file; buffered partial lines are dropped (call crilog_flush first). NULL-safe. */
void crilog_writer_close(struct crilog_writer *w);

struct crilog_read_opts {
	int64_t tail_lines;         /* last N lines; -1: all */
	int64_t since_ns;           /* only lines at or after this wall-clock time (ns); 0: all */
	int64_t limit_bytes;        /* stop after this many output bytes; 0: no limit */
	bool timestamps;            /* prefix each line with its RFC3339Nano time and a space */
	bool follow;                /* keep reading as the log grows, across rotations */
	enum crilog_stream streams; /* which streams to output; 0 means CRILOG_BOTH */
};

struct crilog_reader;

/*
 * Opens the log whose current file is @path (e.g. ".../0.log"), with its rotated files
 * ("0.log.<timestamp>") read first, oldest first; rotated files before the tail or wholly
 * older than since_ns are not read. Tail scans backwards in blocks, so its cost does not
 * grow with the file. Fails with ENOENT when @path does not exist.
 */
int crilog_reader_open(const char *path, const struct crilog_read_opts *o,
		       struct crilog_reader **ret, struct err *err);

/*
 * Fills @buf with up to @cap bytes of output: the container's lines, P…F records joined,
 * malformed records skipped. *ret_n == 0 means either the end (crilog_reader_eof() is true)
 * or, when following, that nothing new is there yet: wait for crilog_reader_fd() to become
 * readable (or for a timeout) and call again. A line not yet ended when the reader has
 * caught up is output as far as it goes and continued later without a second timestamp.
 */
int crilog_read(struct crilog_reader *r, char *buf, size_t cap, size_t *ret_n, struct err *err);

/* True once everything has been output (or limit_bytes reached). */
bool crilog_reader_eof(const struct crilog_reader *r);

/*
 * When following: an inotify descriptor that becomes readable when the log's directory
 * changes (appends, rotation); crilog_read() drains it. -1 when not following.
 */
int crilog_reader_fd(const struct crilog_reader *r);

/*
 * Tells a following reader that the container has exited (and its monitor has flushed and
 * closed the log): it then ends at the end of the current file instead of waiting.
 */
void crilog_reader_done(struct crilog_reader *r, bool exited);

/* NULL-safe. */
void crilog_reader_close(struct crilog_reader *r);

#endif
