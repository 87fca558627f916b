/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flag parsing shared by every command.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/flags.h"

static const struct flag *lookup(const struct flag *flags, const char *name, size_t len)
{
	for (const struct flag *f = flags; f->name; f++) {
		if (strlen(f->name) == len && !strncmp(f->name, name, len))
			return f;
		if (len == 1 && f->alias == name[0])
			return f;
	}
	return NULL;
}

static int set_value(const struct flag *f, const char *v, struct err *err)
{
	char *end;
	long n;

	switch (f->type) {
	case FLAG_STR:
		*(const char **)f->dest = v;
		return 0;
	case FLAG_LIST: {
		char ***list = f->dest;
		size_t len = 0;

		while (*list && (*list)[len])
			len++;
		*list = xrealloc(*list, (len + 2) * sizeof(char *));
		(*list)[len] = (char *)v;
		(*list)[len + 1] = NULL;
		return 0;
	}
	case FLAG_INT:
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || !*v || *end || n < INT_MIN || n > INT_MAX)
			return err_set(err, EINVAL, "flag --%s: '%s' is not an integer", f->name,
				       v);
		*(int *)f->dest = (int)n;
		return 0;
	case FLAG_BOOL:
		if (!strcmp(v, "true") || !strcmp(v, "1"))
			*(bool *)f->dest = true;
		else if (!strcmp(v, "false") || !strcmp(v, "0"))
			*(bool *)f->dest = false;
		else
			return err_set(err, EINVAL, "flag --%s: '%s' is not a boolean", f->name, v);
		return 0;
	}
	return err_set(err, EINVAL, "flag --%s: unknown type", f->name);
}

int flags_parse(const struct flag *flags, int argc, char **argv, bool stop_at_positional,
		int *ret_npos, struct err *err)
{
	int npos = 0, i;

	for (i = 0; i < argc; i++) {
		char *a = argv[i];
		const struct flag *f;
		const char *name, *eq;

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			argv[npos++] = a;
			if (stop_at_positional) {
				i++;
				break;
			}
			continue;
		}
		name = a + (a[1] == '-' ? 2 : 1);
		eq = strchr(name, '=');
		f = lookup(flags, name, eq ? (size_t)(eq - name) : strlen(name));
		if (!f)
			return err_set(err, EINVAL, "unknown flag '%s'", a);
		if (eq) {
			if (set_value(f, eq + 1, err) < 0)
				return -err->code;
		} else if (f->type == FLAG_BOOL) {
			*(bool *)f->dest = true;
		} else {
			if (i + 1 >= argc)
				return err_set(err, EINVAL, "flag --%s needs a value", f->name);
			if (set_value(f, argv[++i], err) < 0)
				return -err->code;
		}
	}
	for (; i < argc; i++)
		argv[npos++] = argv[i];
	*ret_npos = npos;
	return 0;
}
