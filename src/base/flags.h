/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command-line flags in the style Go tools accept (runc, kubectl): "--name value",
 * "--name=value", "-name value", one-letter aliases ("-d"), boolean flags without a value,
 * flags before or after positional arguments, "--" ending the flags.
 */
#ifndef SKIFF_BASE_FLAGS_H
#define SKIFF_BASE_FLAGS_H

#include <stdbool.h>

struct err;

enum flag_type { FLAG_BOOL, FLAG_STR, FLAG_INT, FLAG_LIST };

struct flag {
	const char *name; /* long name without dashes */
	char alias;       /* one-letter alias or 0 */
	enum flag_type type;
	/*
	 * bool *, const char ** (points into argv), int *, or for FLAG_LIST a char *** that
	 * collects every value in a NULL-terminated heap array of pointers into argv (the
	 * caller frees the array, not its strings)
	 */
	void *dest;
};

/*
 * Parses argv[0..argc) (argv[0] is not skipped: pass the arguments only). Positional
 * arguments are moved to the front of argv in order; their count goes to @ret_npos.
 * With @stop_at_positional, the first positional argument ends flag parsing (for commands
 * whose arguments are another command line).
 */
int flags_parse(const struct flag *flags, int argc, char **argv, bool stop_at_positional,
		int *ret_npos, struct err *err);

#endif
