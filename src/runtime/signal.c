/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signal names and numbers as `runtime kill` and the engines calling it spell them:
 * "9", "KILL", "SIGKILL", "sigterm", and the real-time forms "RTMIN+3" and "SIGRTMAX-2".
 */
#include <ctype.h>
#include <signal.h>
#include <stddef.h>
#include <strings.h>

#include "runtime/runtime.h"

struct sig_name {
	const char *name; /* without the SIG prefix */
	int sig;
};

/* Macros, not numbers: a few signals are numbered differently on other architectures. */
static const struct sig_name sig_names[] = {
	{"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
	{"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"IOT", SIGABRT},      {"BUS", SIGBUS},
	{"FPE", SIGFPE},       {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
	{"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
#ifdef SIGSTKFLT
	{"STKFLT", SIGSTKFLT},
#endif
	{"CHLD", SIGCHLD},     {"CLD", SIGCHLD},  {"CONT", SIGCONT},     {"STOP", SIGSTOP},
	{"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
	{"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
	{"WINCH", SIGWINCH},   {"IO", SIGIO},     {"POLL", SIGIO},
#ifdef SIGPWR
	{"PWR", SIGPWR},
#endif
	{"SYS", SIGSYS},
};

/* Digits only (no sign, no blanks), at most @max; -1 otherwise. */
static int parse_uint(const char *s, int max)
{
	int v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	return v;
}

/*
 * "RTMIN", "RTMIN+n", "RTMAX", "RTMAX-n", as kill(1) accepts them. SIGRTMIN is the C
 * library's first free real-time signal (glibc keeps two for itself), evaluated at run time.
 */
static int parse_realtime(const char *name)
{
	int range = SIGRTMAX - SIGRTMIN;
	int n;

	if (strncasecmp(name, "RTMIN", 5) == 0) {
		if (name[5] == '\0')
			return SIGRTMIN;
		if (name[5] != '+')
			return -1;
		n = parse_uint(name + 6, range);
		return n < 0 ? -1 : SIGRTMIN + n;
	}
	if (strncasecmp(name, "RTMAX", 5) == 0) {
		if (name[5] == '\0')
			return SIGRTMAX;
		if (name[5] != '-')
			return -1;
		n = parse_uint(name + 6, range);
		return n < 0 ? -1 : SIGRTMAX - n;
	}
	return -1;
}

/*
 * Names are case-insensitive with an optional "SIG" prefix, as runc parses them. Numbers
 * run from 0 to SIGRTMAX: 0 is accepted because kill(2) treats it as "does the process
 * exist" and runc passes it through too; larger numbers would only fail later in kill(2).
 */
int rt_signal_parse(const char *s)
{
	const char *name = s;

	if (!s || !*s)
		return -1;
	if (isdigit((unsigned char)s[0]))
		return parse_uint(s, SIGRTMAX);
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof(sig_names) / sizeof(sig_names[0]); i++)
		if (strcasecmp(sig_names[i].name, name) == 0)
			return sig_names[i].sig;
	return parse_realtime(name);
}
