/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Log sink. Messages are formatted into one buffer and written with a single write(2) so
 * that lines from concurrent processes sharing a log file never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/jdump.h"
#include "base/log.h"

static int log_fd = STDERR_FILENO;
static enum log_format log_fmt = LOG_FORMAT_TEXT;
static enum log_level log_max = LOG_WARN;
static const char *log_component;

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warning",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

int log_setup(const char *path, enum log_format format, enum log_level max)
{
	log_fmt = format;
	log_max = max;
	if (path && *path) {
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0)
			return -errno;
		if (log_fd != STDERR_FILENO)
			close(log_fd);
		log_fd = fd;
	}
	return 0;
}

void log_set_component(const char *component)
{
	log_component = component;
}

int log_fd_get(void)
{
	return log_fd;
}

bool log_to_file(void)
{
	return log_fd != STDERR_FILENO;
}

bool log_enabled(enum log_level level)
{
	return level <= log_max;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static char *format_json(enum log_level level, const char *msg)
{
	char stamp[64];
	struct timeval tv;
	struct tm tm;
	json_t *o;
	char *line;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec);
	o = json_pack("{s:s, s:s, s:s}", "level", level_names[level], "msg", msg, "time", stamp);
	if (!o)
		return xasprintf("{\"level\":\"error\",\"msg\":\"unencodable log message\"}\n");
	if (log_component)
		json_object_set_new(o, "component", json_string(log_component));
	line = jdump_s(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!line)
		return xasprintf("{\"level\":\"error\",\"msg\":\"unencodable log message\"}\n");
	/* jansson allocates with malloc by default; append the newline in a copy */
	char *out = xasprintf("%s\n", line);
	free(line);
	return out;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char *msg, *line;
	va_list ap;
	int saved = errno;

	if (level > log_max)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (log_fmt == LOG_FORMAT_JSON)
		line = format_json(level, msg);
	else if (level == LOG_ERROR)
		line = xasprintf("%s\n", msg);
	else
		line = xasprintf("%s: %s\n", level_names[level], msg);
	write_all(log_fd, line, strlen(line));
	free(line);
	free(msg);
	errno = saved;
}
