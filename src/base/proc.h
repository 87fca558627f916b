/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process's own name. A process that executes itself again through a link or a file
 * descriptor (/proc/self/exe, a sealed memfd copy) takes that link's name, so ps, top,
 * pgrep and killall would show and match "exe" or "memfd:skiff" instead of the binary's.
 */
#ifndef SKIFF_BASE_PROC_H
#define SKIFF_BASE_PROC_H

/* Names the calling thread (the process, from its main thread) after @argv0's base name. */
void proc_name_after(const char *argv0);

#endif
