/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Content digests: sha256 through nettle, written "sha256:<64 lowercase hex>" as the OCI
 * image-spec (descriptor.md#digests) spells them. Used by the store to name blobs and by
 * the manifest parser and the registry client to check them.
 */
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "base/alloc.h"
#include "image/internal.h"

#define SHA256_PREFIX "sha256:"

struct img_hash {
	struct sha256_ctx ctx;
};

struct img_hash *img_hash_new(void)
{
	struct img_hash *h = xmalloc(sizeof(*h));

	sha256_init(&h->ctx);
	return h;
}

void img_hash_update(struct img_hash *h, const void *buf, size_t n)
{
	sha256_update(&h->ctx, n, buf);
}

void img_hash_final(struct img_hash *h, char out[IMG_DIGEST_MAX])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t sum[SHA256_DIGEST_SIZE];
	char *p = out;

	sha256_digest(&h->ctx, sizeof(sum), sum);
	free(h);
	memcpy(p, SHA256_PREFIX, strlen(SHA256_PREFIX));
	p += strlen(SHA256_PREFIX);
	for (size_t i = 0; i < sizeof(sum); i++) {
		*p++ = hex[sum[i] >> 4];
		*p++ = hex[sum[i] & 0xf];
	}
	*p = '\0';
}

void img_digest_of(const void *buf, size_t n, char out[IMG_DIGEST_MAX])
{
	struct img_hash *h = img_hash_new();

	img_hash_update(h, buf, n);
	img_hash_final(h, out);
}

bool img_digest_valid(const char *digest)
{
	const char *hex;

	if (!digest || strncmp(digest, SHA256_PREFIX, strlen(SHA256_PREFIX)) != 0)
		return false;
	hex = digest + strlen(SHA256_PREFIX);
	/* descriptor.md: sha256 is lowercase hex only, 64 digits */
	if (strspn(hex, "0123456789abcdef") != 2 * SHA256_DIGEST_SIZE)
		return false;
	return hex[2 * SHA256_DIGEST_SIZE] == '\0';
}
