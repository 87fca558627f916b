/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON decoding, as json_loadb()/json_loads() decode it but about four times faster on
 * the documents the cluster passes around (objects of ASCII keys and strings, integers,
 * the usual escapes). The same tree comes out: same types, values and key order, later
 * duplicates replacing earlier ones. Whatever the fast path does not handle itself
 * (\u escapes, bytes beyond ASCII, integers of 19 digits or more, deep nesting, the
 * flags other than JSON_DECODE_ANY and JSON_REJECT_DUPLICATES) and every malformed
 * document go to jansson, so errors are jansson's, word for word.
 */
#ifndef SKIFF_BASE_JLOAD_H
#define SKIFF_BASE_JLOAD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

json_t *jload_b(const char *buf, size_t len, size_t flags, json_error_t *error);
json_t *jload_s(const char *s, size_t flags, json_error_t *error);

/*
 * @p at a value's first byte: the byte past its end, or NULL when the text ends first or
 * holds no value there. Brackets are counted, not matched, and nothing else is checked:
 * for finding one's way in text known to be JSON, such as a document decoded before.
 */
const char *jload_skip(const char *p, const char *end);

/*
 * A memo of subtrees, for a stream of documents that repeat much of each other (a watch
 * of pods made from a few templates): an object or array at a depth from @from to @to
 * (the document itself is depth 1) whose text is at least JLOAD_MEMO_MIN bytes and was
 * decoded before with the memo comes back as the same tree, one reference more, instead
 * of a new one. A text is kept once seen twice, in a table of fixed size where a newer
 * text takes an older one's slot, up to 16 KiB a text and 8 MiB of texts in all. The
 * trees it returns share parts with each other and with the memo, so nobody may change
 * them in place. One thread at a time.
 */
#define JLOAD_MEMO_MIN 32

struct jload_memo;

struct jload_memo *jload_memo_new(unsigned from, unsigned to);
void jload_memo_free(struct jload_memo *m);
/* As jload_b() with flags 0, through @m (NULL: plain jload_b). */
json_t *jload_memo_b(struct jload_memo *m, const char *buf, size_t len, json_error_t *error);
/* Values looked up in @m, how many of them it held, and the bytes of the texts it keeps. */
void jload_memo_stats(const struct jload_memo *m, uint64_t *lookups, uint64_t *hits, size_t *kept);

#endif
