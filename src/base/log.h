/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one logging core: text or JSON lines (`time`, `level`, `msg`, like runc writes
 * them, since engines parse the runtime's log) to stderr or a log file. Only commands,
 * daemon loops and this file print; library code returns errors and may only log_debug.
 */
#ifndef SKIFF_BASE_LOG_H
#define SKIFF_BASE_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/*
 * Directs logging to @path (appended to, created 0644) or to stderr when NULL, in
 * @format, dropping messages above @max. Returns -errno if the file cannot be opened;
 * logging then stays on stderr.
 */
int log_setup(const char *path, enum log_format format, enum log_level max);

/* Sets the "component" field written with every JSON line (not copied; must outlive use). */
void log_set_component(const char *component);

bool log_enabled(enum log_level level);

/* True when messages go to a log file rather than stderr. */
bool log_to_file(void);
/* The descriptor messages are written to. */
int log_fd_get(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_DEBUG))                                                        \
			log_msg(LOG_DEBUG, __VA_ARGS__);                                           \
	} while (0)

#endif
