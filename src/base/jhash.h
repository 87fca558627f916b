/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A 64-bit digest of a JSON value: values that json_equal() calls equal have the same
 * digest (an object's member order does not count), so a holder can tell whether a part
 * of a document changed without keeping the part. Not a cryptographic hash: unequal
 * values collide with a chance of about 2^-64, which a caller must be able to afford.
 */
#ifndef SKIFF_BASE_JHASH_H
#define SKIFF_BASE_JHASH_H

#include <stdint.h>

#include <jansson.h>

/* @v's digest; NULL (an absent value) has one of its own, unlike JSON null's. */
uint64_t jhash(const json_t *v);
/* Folds @b into @a, in order: jhash_mix(a, b) and jhash_mix(b, a) differ. */
uint64_t jhash_mix(uint64_t a, uint64_t b);

#endif
