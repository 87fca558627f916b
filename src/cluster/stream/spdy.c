/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SPDY/3.1 framer and session (see spdy.h). The peer is kubectl's moby/spdystream, so the
 * session keeps to what it expects: SYN_REPLY before any DATA of a stream it opened, PING
 * echoed, GOAWAY ends the session. Each stream hands the peer's data to its user through
 * a socketpair, which bounds the buffering and lets the user poll() it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/stream/lib_zlib.h"
#include "cluster/stream/spdy.h"

#define SPDY_VERSION    3
#define SPDY_MAX_LENGTH 0xffffffu /* the 24-bit length field */
/* limits on what a peer can make us hold: control frames, inflated blocks, pairs */
#define SPDY_MAX_CONTROL (1u << 20)
#define SPDY_MAX_BLOCK   (256u << 10)
#define SPDY_MAX_HEADERS 1024u
#define SPDY_MAX_STREAMS 1024u
/* DATA frames we send carry at most this much, so one stream cannot hog the connection */
#define SPDY_DATA_CHUNK (64u << 10)
/* received bytes are acknowledged in batches of half the default 64 KiB window */
#define SPDY_WINDOW_ACK (32u << 10)
/* frames of the reading thread waiting for the sender; PINGs and RSTs beyond are dropped */
#define SPDY_MAX_PENDING 4096u
/* how long the end of a session waits for queued frames to go out */
#define SPDY_DRAIN_MS 1000

/*
 * The SPDY/3 dictionary (draft 3, section 2.6.10.1): length-prefixed words, then a run of
 * raw text. The words are listed ended by '|', which none contains; spdy_dictionary()
 * assembles the bytes, whose Adler-32 is the dictionary id on the wire.
 */
static const char dict_words[] =
	"options|head|post|put|delete|trace|accept|accept-charset|accept-encoding|"
	"accept-language|accept-ranges|age|allow|authorization|cache-control|connection|"
	"content-base|content-encoding|content-language|content-length|content-location|"
	"content-md5|content-range|content-type|date|etag|expect|expires|from|host|if-match|"
	"if-modified-since|if-none-match|if-range|if-unmodified-since|last-modified|location|"
	"max-forwards|pragma|proxy-authenticate|proxy-authorization|range|referer|retry-after|"
	"server|te|trailer|transfer-encoding|upgrade|user-agent|vary|via|warning|"
	"www-authenticate|method|get|status|200 OK|version|HTTP/1.1|url|public|set-cookie|"
	"keep-alive|origin|";

static const char dict_tail[] =
	"100101201202205206300302303304305306307402405406407408409410411412413414415416417502504"
	"505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
	"401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
	"503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, "
	"Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
	"application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
	"gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

static uint8_t dict_bytes[1536];
static size_t dict_len;
static pthread_once_t dict_once = PTHREAD_ONCE_INIT;

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void dict_build(void)
{
	size_t n = 0;

	for (const char *w = dict_words; *w; w = strchr(w, '|') + 1) {
		size_t l = strcspn(w, "|");

		put32(dict_bytes + n, l);
		memcpy(dict_bytes + n + 4, w, l);
		n += 4 + l;
	}
	memcpy(dict_bytes + n, dict_tail, sizeof(dict_tail) - 1);
	dict_len = n + sizeof(dict_tail) - 1;
}

const uint8_t *spdy_dictionary(size_t *ret_len)
{
	pthread_once(&dict_once, dict_build);
	*ret_len = dict_len;
	return dict_bytes;
}

static const char *type_name(uint16_t type)
{
	static const char *const names[] = {
		[SPDY_DATA] = "DATA",
		[SPDY_SYN_STREAM] = "SYN_STREAM",
		[SPDY_SYN_REPLY] = "SYN_REPLY",
		[SPDY_RST_STREAM] = "RST_STREAM",
		[SPDY_SETTINGS] = "SETTINGS",
		[SPDY_PING] = "PING",
		[SPDY_GOAWAY] = "GOAWAY",
		[SPDY_HEADERS] = "HEADERS",
		[SPDY_WINDOW_UPDATE] = "WINDOW_UPDATE",
	};

	if (type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	return "unknown";
}

void spdy_headers_add(struct spdy_headers *h, const char *name, const char *value)
{
	struct spdy_header *e;

	h->v = xrealloc(h->v, (h->n + 1) * sizeof(*h->v));
	e = &h->v[h->n++];
	e->name = xstrdup(name);
	for (char *p = e->name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	e->value = xstrdup(value);
	e->value_len = strlen(value);
}

const char *spdy_headers_get(const struct spdy_headers *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcasecmp(h->v[i].name, name) == 0)
			return h->v[i].value;
	return NULL;
}

void spdy_headers_done(struct spdy_headers *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].name);
		free(h->v[i].value);
	}
	free(h->v);
	h->v = NULL;
	h->n = 0;
}

void spdy_frame_done(struct spdy_frame *f)
{
	if (!f)
		return;
	spdy_headers_done(&f->headers);
	free(f->settings);
	f->settings = NULL;
	f->n_settings = 0;
}

size_t spdy_frame_size(const uint8_t *hdr)
{
	return 8 + (get32(hdr + 4) & SPDY_MAX_LENGTH);
}

/* ---- header compression ---- */

struct spdy_codec {
	z_stream out;
	z_stream in;
};

int spdy_codec_new(struct spdy_codec **ret, struct err *err)
{
	struct spdy_codec *c;
	const uint8_t *dict;
	size_t len;
	int r;

	r = stream_zlib_load(err);
	if (r < 0)
		return r;
	dict = spdy_dictionary(&len);
	c = xcalloc(1, sizeof(*c));
	if (deflateInit(&c->out, Z_DEFAULT_COMPRESSION) != Z_OK) {
		free(c);
		return err_set(err, ENOMEM, "initialise SPDY header compressor");
	}
	if (deflateSetDictionary(&c->out, dict, len) != Z_OK || inflateInit(&c->in) != Z_OK) {
		deflateEnd(&c->out);
		free(c);
		return err_set(err, ENOMEM, "initialise SPDY header compression");
	}
	*ret = c;
	return 0;
}

void spdy_codec_free(struct spdy_codec *c)
{
	if (!c)
		return;
	deflateEnd(&c->out);
	inflateEnd(&c->in);
	free(c);
}

/* The raw (uncompressed) name/value block of draft 3, section 2.6.10. */
static uint8_t *block_pack(const struct spdy_headers *h, size_t *ret_len)
{
	size_t n = 4, off = 4;
	uint8_t *b;

	for (size_t i = 0; i < h->n; i++)
		n += 8 + strlen(h->v[i].name) + h->v[i].value_len;
	b = xmalloc(n);
	put32(b, h->n);
	for (size_t i = 0; i < h->n; i++) {
		size_t nl = strlen(h->v[i].name);

		put32(b + off, nl);
		for (size_t k = 0; k < nl; k++) {
			char ch = h->v[i].name[k];

			b[off + 4 + k] = ch >= 'A' && ch <= 'Z' ? ch + 'a' - 'A' : ch;
		}
		off += 4 + nl;
		put32(b + off, h->v[i].value_len);
		memcpy(b + off + 4, h->v[i].value, h->v[i].value_len);
		off += 4 + h->v[i].value_len;
	}
	*ret_len = n;
	return b;
}

/* Deflates @raw, ending with a sync flush as the spec asks, appending to @out at @used. */
static int block_deflate(struct spdy_codec *c, const uint8_t *raw, size_t len, uint8_t **out,
			 size_t *used, struct err *err)
{
	size_t cap = *used + len + len / 8 + 64;

	*out = xrealloc(*out, cap);
	c->out.next_in = (Bytef *)raw;
	c->out.avail_in = len;
	for (;;) {
		int zr;

		c->out.next_out = *out + *used;
		c->out.avail_out = cap - *used;
		zr = deflate(&c->out, Z_SYNC_FLUSH);
		if (zr != Z_OK && zr != Z_BUF_ERROR)
			return err_set(err, EIO, "compress SPDY header block: zlib error %d", zr);
		*used = cap - c->out.avail_out;
		if (c->out.avail_out > 0 && c->out.avail_in == 0)
			return 0;
		cap *= 2;
		*out = xrealloc(*out, cap);
	}
}

static int block_inflate(struct spdy_codec *c, const uint8_t *in, size_t len, uint8_t **ret,
			 size_t *ret_len, struct err *err)
{
	cleanup_free uint8_t *out = NULL;
	size_t cap = 1024, used = 0;

	out = xmalloc(cap);
	c->in.next_in = (Bytef *)in;
	c->in.avail_in = len;
	while (c->in.avail_in > 0 || used == cap) {
		int zr;

		if (used == cap) {
			if (cap >= SPDY_MAX_BLOCK)
				return err_set(err, EPROTO, "header block inflates beyond %u bytes",
					       SPDY_MAX_BLOCK);
			cap *= 2;
			out = xrealloc(out, cap);
		}
		c->in.next_out = out + used;
		c->in.avail_out = cap - used;
		zr = inflate(&c->in, Z_SYNC_FLUSH);
		used = cap - c->in.avail_out;
		if (zr == Z_NEED_DICT) {
			size_t dl;
			const uint8_t *d = spdy_dictionary(&dl);

			if (inflateSetDictionary(&c->in, d, dl) != Z_OK)
				return err_set(
					err, EPROTO,
					"header block is compressed with an unknown dictionary");
			continue;
		}
		if (zr == Z_BUF_ERROR && c->in.avail_in == 0)
			break;
		if (zr != Z_OK)
			return err_set(err, EPROTO, "header block does not inflate: %s",
				       c->in.msg ? c->in.msg : "bad zlib stream");
	}
	*ret = TAKE_PTR(out);
	*ret_len = used;
	return 0;
}

static int block_unpack(const uint8_t *b, size_t len, struct spdy_headers *ret, struct err *err)
{
	struct spdy_headers h = {NULL, 0};
	size_t off = 4;
	uint32_t n;

	if (len < 4)
		return err_set(err, EPROTO, "header block of %zu bytes has no pair count", len);
	n = get32(b);
	if (n > SPDY_MAX_HEADERS || n > (len - 4) / 8)
		return err_set(err, EPROTO, "header block claims %u pairs in %zu bytes", n, len);
	h.v = xcalloc(n ? n : 1, sizeof(*h.v));
	for (uint32_t i = 0; i < n; i++) {
		uint32_t nl, vl;
		const char *name;

		if (len - off < 4 || (nl = get32(b + off)) > len - off - 4)
			goto truncated;
		name = (const char *)b + off + 4;
		off += 4 + nl;
		if (len - off < 4 || (vl = get32(b + off)) > len - off - 4)
			goto truncated;
		if (nl == 0) {
			spdy_headers_done(&h);
			return err_set(err, EPROTO, "header %u has an empty name", i);
		}
		for (uint32_t k = 0; k < nl; k++) {
			if ((name[k] >= 'A' && name[k] <= 'Z') || name[k] == '\0') {
				spdy_headers_done(&h);
				return err_set(err, EPROTO,
					       "header name '%.*s' is not lowercase ASCII", (int)nl,
					       name);
			}
		}
		for (uint32_t k = 0; k < i; k++) {
			if (strlen(h.v[k].name) == nl && memcmp(h.v[k].name, name, nl) == 0) {
				spdy_headers_done(&h);
				return err_set(err, EPROTO, "header '%.*s' appears twice", (int)nl,
					       name);
			}
		}
		h.v[i].name = xstrndup(name, nl);
		h.v[i].value = xmalloc(vl + 1);
		memcpy(h.v[i].value, b + off + 4, vl);
		h.v[i].value[vl] = '\0';
		h.v[i].value_len = vl;
		h.n = i + 1;
		off += 4 + vl;
	}
	if (off != len) {
		spdy_headers_done(&h);
		return err_set(err, EPROTO, "header block has %zu bytes after its %u pairs",
			       len - off, n);
	}
	*ret = h;
	return 0;

truncated:
	spdy_headers_done(&h);
	return err_set(err, EPROTO, "header block is truncated in pair %zu", h.n);
}

/* ---- frames ---- */

static void put_control(uint8_t *b, uint16_t type, uint8_t flags, size_t len)
{
	put32(b, 0x80000000u | SPDY_VERSION << 16 | type);
	put32(b + 4, (uint32_t)flags << 24 | len);
}

static bool id_ok(uint32_t id)
{
	return id != 0 && id <= 0x7fffffffu;
}

int spdy_frame_encode(struct spdy_codec *c, const struct spdy_frame *f, uint8_t **ret_buf,
		      size_t *ret_len, struct err *err)
{
	cleanup_free uint8_t *b = NULL;
	cleanup_free uint8_t *raw = NULL;
	size_t len = 0, hl = 0, rawlen = 0;
	const char *name = type_name(f->type);
	int r;

	switch (f->type) {
	case SPDY_DATA:
		if (!id_ok(f->stream_id) || f->len > SPDY_MAX_LENGTH)
			return err_set(err, EINVAL,
				       "encode DATA frame: bad stream id %u or length %zu",
				       f->stream_id, f->len);
		len = 8 + f->len;
		b = xmalloc(len);
		put32(b, f->stream_id);
		put32(b + 4, (uint32_t)f->flags << 24 | f->len);
		if (f->len)
			memcpy(b + 8, f->data, f->len);
		break;
	case SPDY_SYN_STREAM:
	case SPDY_SYN_REPLY:
	case SPDY_HEADERS:
		if (!id_ok(f->stream_id) || f->assoc_id > 0x7fffffffu || f->priority > 7)
			return err_set(err, EINVAL,
				       "encode %s frame: bad stream id %u, associated id %u or "
				       "priority %u",
				       name, f->stream_id, f->assoc_id, f->priority);
		hl = f->type == SPDY_SYN_STREAM ? 18 : 12;
		len = hl;
		b = xmalloc(hl);
		raw = block_pack(&f->headers, &rawlen);
		r = block_deflate(c, raw, rawlen, &b, &len, err);
		if (r < 0)
			return r;
		if (len - 8 > SPDY_MAX_LENGTH)
			return err_set(err, EINVAL, "encode %s frame: header block too large",
				       name);
		put_control(b, f->type, f->flags, len - 8);
		put32(b + 8, f->stream_id);
		if (f->type == SPDY_SYN_STREAM) {
			put32(b + 12, f->assoc_id);
			b[16] = f->priority << 5;
			b[17] = f->slot;
		}
		break;
	case SPDY_RST_STREAM:
	case SPDY_WINDOW_UPDATE:
		if (f->type == SPDY_RST_STREAM ? !id_ok(f->stream_id) || f->status == 0
					       : f->stream_id > 0x7fffffffu || !id_ok(f->delta))
			return err_set(err, EINVAL, "encode %s frame: bad stream id %u", name,
				       f->stream_id);
		len = 16;
		b = xmalloc(len);
		put_control(b, f->type, 0, 8);
		put32(b + 8, f->stream_id);
		put32(b + 12, f->type == SPDY_RST_STREAM ? f->status : f->delta);
		break;
	case SPDY_SETTINGS:
		len = 12 + 8 * f->n_settings;
		b = xmalloc(len);
		put_control(b, f->type, f->flags, len - 8);
		put32(b + 8, f->n_settings);
		for (size_t i = 0; i < f->n_settings; i++) {
			put32(b + 12 + 8 * i, (uint32_t)f->settings[i].flags << 24 |
						      (f->settings[i].id & 0xffffff));
			put32(b + 16 + 8 * i, f->settings[i].value);
		}
		break;
	case SPDY_PING:
		len = 12;
		b = xmalloc(len);
		put_control(b, f->type, 0, 4);
		put32(b + 8, f->ping_id);
		break;
	case SPDY_GOAWAY:
		len = 16;
		b = xmalloc(len);
		put_control(b, f->type, 0, 8);
		put32(b + 8, f->stream_id & 0x7fffffffu);
		put32(b + 12, f->status);
		break;
	default:
		return err_set(err, EINVAL, "encode SPDY frame: unknown type %u", f->type);
	}
	*ret_buf = TAKE_PTR(b);
	*ret_len = len;
	return 0;
}

static int decode_block(struct spdy_codec *c, const uint8_t *p, size_t len,
			struct spdy_headers *ret, struct err *err)
{
	cleanup_free uint8_t *raw = NULL;
	size_t rawlen = 0;
	int r;

	r = block_inflate(c, p, len, &raw, &rawlen, err);
	if (r < 0)
		return r;
	return block_unpack(raw, rawlen, ret, err);
}

static int decode_control(struct spdy_codec *c, const uint8_t *p, size_t plen, struct spdy_frame *f,
			  struct err *err)
{
	static const size_t min_len[] = {
		[SPDY_SYN_STREAM] = 10, [SPDY_SYN_REPLY] = 4,     [SPDY_RST_STREAM] = 8,
		[SPDY_SETTINGS] = 4,    [SPDY_PING] = 4,          [SPDY_GOAWAY] = 8,
		[SPDY_HEADERS] = 4,     [SPDY_WINDOW_UPDATE] = 8,
	};
	bool fixed = f->type == SPDY_RST_STREAM || f->type == SPDY_PING || f->type == SPDY_GOAWAY ||
		     f->type == SPDY_WINDOW_UPDATE;

	if (plen < min_len[f->type] || (fixed && plen != min_len[f->type]))
		return err_set(err, EPROTO, "%s frame has a payload of %zu bytes",
			       type_name(f->type), plen);
	switch (f->type) {
	case SPDY_SYN_STREAM:
		f->stream_id = get32(p) & 0x7fffffffu;
		f->assoc_id = get32(p + 4) & 0x7fffffffu;
		f->priority = p[8] >> 5;
		f->slot = p[9];
		break;
	case SPDY_SETTINGS:
		f->n_settings = get32(p);
		if (f->n_settings > (plen - 4) / 8 || plen != 4 + 8 * f->n_settings) {
			size_t n = f->n_settings;

			f->n_settings = 0;
			return err_set(err, EPROTO,
				       "SETTINGS frame of %zu bytes claims %zu entries", plen, n);
		}
		f->settings = xcalloc(f->n_settings ? f->n_settings : 1, sizeof(*f->settings));
		for (size_t i = 0; i < f->n_settings; i++) {
			f->settings[i].flags = p[4 + 8 * i];
			f->settings[i].id = get32(p + 4 + 8 * i) & 0xffffff;
			f->settings[i].value = get32(p + 8 + 8 * i);
		}
		return 0;
	case SPDY_PING:
		f->ping_id = get32(p);
		return 0;
	case SPDY_GOAWAY:
		f->stream_id = get32(p) & 0x7fffffffu;
		f->status = get32(p + 4);
		return 0;
	case SPDY_WINDOW_UPDATE:
		f->stream_id = get32(p) & 0x7fffffffu;
		f->delta = get32(p + 4) & 0x7fffffffu;
		if (f->delta == 0)
			return err_set(err, EPROTO, "WINDOW_UPDATE frame of stream %u has delta 0",
				       f->stream_id);
		return 0;
	default: /* SYN_REPLY, RST_STREAM, HEADERS */
		f->stream_id = get32(p) & 0x7fffffffu;
		break;
	}
	if (f->stream_id == 0)
		return err_set(err, EPROTO, "%s frame has stream id 0", type_name(f->type));
	if (f->type == SPDY_RST_STREAM) {
		f->status = get32(p + 4);
		if (f->status == 0)
			return err_set(err, EPROTO, "RST_STREAM frame of stream %u has status 0",
				       f->stream_id);
		return 0;
	}
	if (decode_block(c, p + min_len[f->type], plen - min_len[f->type], &f->headers, err) < 0)
		return err_wrap(err, "%s frame of stream %u", type_name(f->type), f->stream_id);
	return 0;
}

int spdy_frame_decode(struct spdy_codec *c, const uint8_t *buf, size_t len, struct spdy_frame *ret,
		      struct err *err)
{
	struct spdy_frame f = {0};
	uint32_t w0, w1;
	size_t plen;
	int r;

	if (len < 8)
		return err_set(err, EPROTO, "decode SPDY frame: %zu bytes is short of a header",
			       len);
	w0 = get32(buf);
	w1 = get32(buf + 4);
	plen = w1 & SPDY_MAX_LENGTH;
	f.flags = w1 >> 24;
	if (len != 8 + plen)
		return err_set(err, EPROTO,
			       "decode SPDY frame: length field says %zu bytes, got %zu", plen,
			       len - 8);
	if (!(w0 & 0x80000000u)) {
		f.type = SPDY_DATA;
		f.stream_id = w0;
		f.data = buf + 8;
		f.len = plen;
		if (f.stream_id == 0)
			return err_set(err, EPROTO,
				       "decode SPDY frame: DATA frame has stream id 0");
		*ret = f;
		return 0;
	}
	if (((w0 >> 16) & 0x7fff) != SPDY_VERSION)
		return err_set(err, EPROTO, "decode SPDY frame: version %u is not supported (3 is)",
			       (w0 >> 16) & 0x7fff);
	f.type = w0 & 0xffff;
	if (f.type == SPDY_DATA || f.type > SPDY_WINDOW_UPDATE || f.type == 5) {
		*ret = f; /* unknown control frames are ignored (draft 3, section 2.2.1) */
		return 0;
	}
	r = decode_control(c, buf + 8, plen, &f, err);
	if (r < 0) {
		spdy_frame_done(&f);
		return err_wrap(err, "decode SPDY frame");
	}
	*ret = f;
	return 0;
}

/* ---- session ---- */

struct spdy_stream {
	struct spdy_session *s;
	int refs; /* atomic */
	uint32_t id;
	bool peer_opened;
	struct spdy_headers headers;
	int in_r, in_w; /* the reading thread writes the peer's data into in_w */
	size_t unacked; /* reading thread only */
	/* under s->lock */
	bool listed, replied, remote_closed, local_closed, reset, ignore;
	uint32_t rst_status;
};

/*
 * A frame the reading thread sends on its own behalf, handed to the session's sender
 * thread: the reader never waits for the write lock, which a writer may hold while blocked
 * on a peer that is itself waiting for us to read (two sessions pumping data both ways
 * would otherwise deadlock, each reader queued behind its own writer).
 */
struct spdy_pending {
	uint16_t type; /* SYN_REPLY, RST_STREAM, PING, WINDOW_UPDATE or GOAWAY */
	uint32_t stream_id;
	uint32_t value;         /* status, ping id or delta */
	struct spdy_stream *st; /* SYN_REPLY: a reference, marked replied once sent */
};

struct spdy_session {
	struct spdy_transport t;
	bool server;
	struct spdy_codec *codec;
	/* held while a frame is encoded and written: frames go out whole and header blocks
	 * are compressed in wire order; stream ids are allocated under it to keep them rising */
	pthread_mutex_t wlock;
	bool closed; /* under wlock: no more writes */
	bool goaway_sent;
	pthread_mutex_t lock; /* the fields below and the streams' state */
	pthread_cond_t cond;
	struct spdy_stream **streams;
	size_t n_streams;
	uint32_t last_peer_id;
	uint32_t next_id;
	uint32_t next_ping;
	uint32_t ping_seen;
	bool ended;
	size_t unacked; /* reading thread only */
	/* the sender thread's queue, under lock */
	pthread_cond_t pending_cond;
	struct spdy_pending *pending;
	size_t n_pending, cap_pending;
	bool sender_stop, sender_done;
};

int spdy_session_new(const struct spdy_transport *t, bool server, struct spdy_session **ret,
		     struct err *err)
{
	struct spdy_session *s;
	int r;

	s = xcalloc(1, sizeof(*s));
	r = spdy_codec_new(&s->codec, err);
	if (r < 0) {
		free(s);
		return r;
	}
	s->t = *t;
	s->server = server;
	s->next_id = server ? 2 : 1;
	s->next_ping = server ? 2 : 1;
	pthread_mutex_init(&s->wlock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_cond_init(&s->pending_cond, NULL);
	*ret = s;
	return 0;
}

static void stream_free(struct spdy_stream *st)
{
	spdy_headers_done(&st->headers);
	if (st->in_r >= 0)
		close(st->in_r);
	if (st->in_w >= 0)
		close(st->in_w);
	free(st);
}

struct spdy_stream *spdy_stream_ref(struct spdy_stream *st)
{
	__atomic_add_fetch(&st->refs, 1, __ATOMIC_RELAXED);
	return st;
}

void spdy_stream_unref(struct spdy_stream *st)
{
	if (st && __atomic_sub_fetch(&st->refs, 1, __ATOMIC_ACQ_REL) == 0)
		stream_free(st);
}

void spdy_session_free(struct spdy_session *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_streams; i++)
		spdy_stream_unref(s->streams[i]);
	free(s->streams);
	spdy_codec_free(s->codec);
	pthread_mutex_destroy(&s->wlock);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->pending_cond);
	free(s->pending);
	free(s);
}

static int stream_new(struct spdy_session *s, uint32_t id, bool peer_opened,
		      struct spdy_stream **ret, struct err *err)
{
	struct spdy_stream *st;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return err_sys(err, "create buffer of SPDY stream %u", id);
	st = xcalloc(1, sizeof(*st));
	st->s = s;
	st->refs = 1;
	st->id = id;
	st->peer_opened = peer_opened;
	st->in_r = sv[0];
	st->in_w = sv[1];
	*ret = st;
	return 0;
}

/* Both under s->lock. The list holds one reference. */
static void stream_list(struct spdy_session *s, struct spdy_stream *st)
{
	s->streams = xrealloc(s->streams, (s->n_streams + 1) * sizeof(*s->streams));
	s->streams[s->n_streams++] = spdy_stream_ref(st);
	st->listed = true;
}

static void stream_unlist(struct spdy_session *s, struct spdy_stream *st)
{
	if (!st->listed)
		return;
	for (size_t i = 0; i < s->n_streams; i++) {
		if (s->streams[i] == st) {
			s->streams[i] = s->streams[--s->n_streams];
			break;
		}
	}
	st->listed = false;
	spdy_stream_unref(st);
}

/* Under s->lock: the peer will send nothing more; the user reads end of stream. */
static void stream_end_input(struct spdy_stream *st)
{
	shutdown(st->in_w, SHUT_WR);
}

/* Under s->lock: forgets the stream once both sides are closed or it was reset. */
static void stream_settle(struct spdy_session *s, struct spdy_stream *st)
{
	if (st->reset || (st->remote_closed && st->local_closed))
		stream_unlist(s, st);
}

static struct spdy_stream *stream_find(struct spdy_session *s, uint32_t id)
{
	struct spdy_stream *st = NULL;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_streams; i++) {
		if (s->streams[i]->id == id) {
			st = spdy_stream_ref(s->streams[i]);
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return st;
}

static int send_locked(struct spdy_session *s, const struct spdy_frame *f, struct err *err)
{
	cleanup_free uint8_t *b = NULL;
	size_t len;
	int r;

	if (s->closed)
		return err_set(err, EPIPE, "send SPDY %s frame: the session is closed",
			       type_name(f->type));
	r = spdy_frame_encode(s->codec, f, &b, &len, err);
	if (r < 0)
		return r;
	r = s->t.write(s->t.arg, b, len);
	if (r < 0) {
		/* a partial frame leaves the peer's framing broken: nothing more can follow */
		s->closed = true;
		return err_errno(err, -r, "send SPDY %s frame", type_name(f->type));
	}
	return 0;
}

static int session_send(struct spdy_session *s, const struct spdy_frame *f, struct err *err)
{
	int r;

	pthread_mutex_lock(&s->wlock);
	r = send_locked(s, f, err);
	pthread_mutex_unlock(&s->wlock);
	return r;
}

/*
 * Queues a frame of the reading thread for the sender. Window updates of one stream add
 * up while they wait; a SYN_REPLY takes a reference on @st.
 */
static void pending_push(struct spdy_session *s, uint16_t type, uint32_t stream_id, uint32_t value,
			 struct spdy_stream *st)
{
	struct spdy_pending *p;

	pthread_mutex_lock(&s->lock);
	if (type == SPDY_WINDOW_UPDATE) {
		for (size_t i = 0; i < s->n_pending; i++) {
			p = &s->pending[i];
			if (p->type == SPDY_WINDOW_UPDATE && p->stream_id == stream_id &&
			    p->value <= 0x7fffffffu - value) {
				p->value += value;
				pthread_mutex_unlock(&s->lock);
				return;
			}
		}
	}
	if (s->n_pending >= SPDY_MAX_PENDING && (type == SPDY_PING || type == SPDY_RST_STREAM)) {
		pthread_mutex_unlock(&s->lock);
		log_debug("SPDY peer is not reading: dropping a %s frame", type_name(type));
		return;
	}
	if (s->n_pending == s->cap_pending) {
		s->cap_pending = s->cap_pending ? 2 * s->cap_pending : 16;
		s->pending = xrealloc(s->pending, s->cap_pending * sizeof(*s->pending));
	}
	s->pending[s->n_pending++] = (struct spdy_pending){
		.type = type,
		.stream_id = stream_id,
		.value = value,
		.st = st ? spdy_stream_ref(st) : NULL,
	};
	pthread_cond_signal(&s->pending_cond);
	pthread_mutex_unlock(&s->lock);
}

static void send_rst(struct spdy_session *s, uint32_t id, uint32_t status)
{
	pending_push(s, SPDY_RST_STREAM, id, status, NULL);
}

static void send_pending(struct spdy_session *s, struct spdy_pending *p)
{
	struct spdy_frame f = {.type = p->type, .stream_id = p->stream_id};
	struct err err = ERR_INIT;
	bool skip = false;
	int r;

	if (p->st) {
		pthread_mutex_lock(&s->lock);
		skip = p->st->reset; /* the user reset it meanwhile: the RST said it all */
		pthread_mutex_unlock(&s->lock);
	}
	if (skip) {
		r = 0;
	} else if (p->type == SPDY_GOAWAY) {
		r = spdy_session_goaway(s, p->value, &err);
	} else {
		if (p->type == SPDY_PING)
			f.ping_id = p->value;
		else if (p->type == SPDY_WINDOW_UPDATE)
			f.delta = p->value;
		else
			f.status = p->value;
		r = session_send(s, &f, &err);
	}
	/* failures end the session anyway */
	if (r < 0)
		log_debug("%s", err.msg);
	err_clear(&err);
	if (p->st) {
		pthread_mutex_lock(&s->lock);
		p->st->replied = true;
		stream_settle(s, p->st);
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
		spdy_stream_unref(p->st);
	}
}

/* The sender thread: writes what the reader queued, in order, until told to stop. */
static void *sender_main(void *arg)
{
	struct spdy_session *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct spdy_pending *batch;
		size_t n;

		while (s->n_pending == 0 && !s->sender_stop)
			pthread_cond_wait(&s->pending_cond, &s->lock);
		if (s->n_pending == 0)
			break;
		batch = s->pending;
		n = s->n_pending;
		s->pending = NULL;
		s->n_pending = s->cap_pending = 0;
		pthread_mutex_unlock(&s->lock);
		for (size_t i = 0; i < n; i++)
			send_pending(s, &batch[i]);
		free(batch);
		pthread_mutex_lock(&s->lock);
	}
	s->sender_done = true;
	pthread_cond_broadcast(&s->pending_cond);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int spdy_session_goaway(struct spdy_session *s, enum spdy_goaway_status status, struct err *err)
{
	struct spdy_frame f = {.type = SPDY_GOAWAY, .status = status};
	int r = 0;

	pthread_mutex_lock(&s->lock);
	f.stream_id = s->last_peer_id;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&s->wlock);
	if (!s->goaway_sent && !s->closed) {
		s->goaway_sent = true;
		r = send_locked(s, &f, err);
		s->closed = true;
	}
	pthread_mutex_unlock(&s->wlock);
	return r;
}

static int deadline_wait(struct spdy_session *s, const struct timespec *deadline)
{
	return clock_timedwait(&s->cond, &s->lock, deadline);
}

int spdy_session_ping(struct spdy_session *s, int timeout_ms, struct err *err)
{
	struct spdy_frame f = {.type = SPDY_PING};
	struct timespec deadline;
	int r = 0;

	pthread_mutex_lock(&s->wlock);
	f.ping_id = s->next_ping;
	s->next_ping += 2;
	r = send_locked(s, &f, err);
	pthread_mutex_unlock(&s->wlock);
	if (r < 0)
		return r;
	clock_deadline(&deadline, timeout_ms);
	pthread_mutex_lock(&s->lock);
	while (s->ping_seen < f.ping_id && !s->ended && r != ETIMEDOUT)
		r = deadline_wait(s, &deadline);
	if (s->ping_seen >= f.ping_id)
		r = 0;
	else if (s->ended)
		r = err_set(err, EPIPE, "ping SPDY peer: the session ended");
	else
		r = err_set(err, ETIMEDOUT, "ping SPDY peer: no answer within %d ms", timeout_ms);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int spdy_session_open(struct spdy_session *s, const struct spdy_headers *h, bool fin,
		      struct spdy_stream **ret, struct err *err)
{
	struct spdy_frame f = {.type = SPDY_SYN_STREAM, .flags = fin ? SPDY_FLAG_FIN : 0};
	struct spdy_stream *st = NULL;
	int r;

	pthread_mutex_lock(&s->wlock);
	if (s->next_id > 0x7fffffffu) {
		pthread_mutex_unlock(&s->wlock);
		return err_set(err, EOVERFLOW, "open SPDY stream: stream ids are used up");
	}
	r = stream_new(s, s->next_id, false, &st, err);
	if (r < 0) {
		pthread_mutex_unlock(&s->wlock);
		return r;
	}
	s->next_id += 2;
	for (size_t i = 0; i < h->n; i++)
		spdy_headers_add(&st->headers, h->v[i].name, h->v[i].value);
	pthread_mutex_lock(&s->lock);
	if (s->ended) {
		pthread_mutex_unlock(&s->lock);
		pthread_mutex_unlock(&s->wlock);
		spdy_stream_unref(st);
		return err_set(err, EPIPE, "open SPDY stream: the session ended");
	}
	st->local_closed = fin;
	stream_list(s, st);
	pthread_mutex_unlock(&s->lock);
	f.stream_id = st->id;
	f.headers = *h;
	r = send_locked(s, &f, err);
	pthread_mutex_unlock(&s->wlock);
	if (r < 0) {
		pthread_mutex_lock(&s->lock);
		st->reset = true;
		stream_end_input(st);
		stream_unlist(s, st);
		pthread_mutex_unlock(&s->lock);
		spdy_stream_unref(st);
		return err_wrap(err, "open SPDY stream");
	}
	*ret = st;
	return 0;
}

uint32_t spdy_stream_id(const struct spdy_stream *st)
{
	return st->id;
}

const struct spdy_headers *spdy_stream_headers(const struct spdy_stream *st)
{
	return &st->headers;
}

int spdy_stream_fd(const struct spdy_stream *st)
{
	return st->in_r;
}

uint32_t spdy_stream_reset_status(const struct spdy_stream *st)
{
	uint32_t v;

	pthread_mutex_lock(&st->s->lock);
	v = st->rst_status;
	pthread_mutex_unlock(&st->s->lock);
	return v;
}

ssize_t spdy_stream_read(struct spdy_stream *st, void *buf, size_t cap, struct err *err)
{
	struct spdy_session *s = st->s;
	uint32_t status;
	ssize_t n;
	bool cut;

	do
		n = read(st->in_r, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_sys(err, "read SPDY stream %u", st->id);
	if (n > 0)
		return n;
	pthread_mutex_lock(&s->lock);
	cut = st->reset || !st->remote_closed;
	status = st->rst_status;
	pthread_mutex_unlock(&s->lock);
	if (cut)
		return err_set(err, ECONNRESET, "read SPDY stream %u: %s", st->id,
			       status ? "reset by the peer" : "the stream was cut off");
	return 0;
}

void spdy_stream_ignore_input(struct spdy_stream *st)
{
	pthread_mutex_lock(&st->s->lock);
	st->ignore = true;
	pthread_mutex_unlock(&st->s->lock);
	/* wakes the reading thread should it be blocked handing data to this stream */
	shutdown(st->in_r, SHUT_RD);
}

/* Under s->lock: waits for a stream the peer opened to be replied to, as data before the
 * reply is dropped by spdystream; 0 once writable, -errno otherwise. */
static int stream_writable(struct spdy_stream *st, const char *what, struct err *err)
{
	struct spdy_session *s = st->s;

	while (st->peer_opened && !st->replied && !st->reset && !s->ended)
		pthread_cond_wait(&s->cond, &s->lock);
	if (st->reset)
		return err_set(err, ECONNRESET, "%s SPDY stream %u: the stream was reset", what,
			       st->id);
	if (s->ended)
		return err_set(err, EPIPE, "%s SPDY stream %u: the session ended", what, st->id);
	if (st->local_closed)
		return err_set(err, EPIPE, "%s SPDY stream %u: already closed", what, st->id);
	return 0;
}

int spdy_stream_write(struct spdy_stream *st, const void *buf, size_t len, struct err *err)
{
	struct spdy_session *s = st->s;
	const uint8_t *p = buf;
	int r;

	pthread_mutex_lock(&s->lock);
	r = stream_writable(st, "write", err);
	pthread_mutex_unlock(&s->lock);
	while (r == 0 && len > 0) {
		size_t n = len < SPDY_DATA_CHUNK ? len : SPDY_DATA_CHUNK;
		struct spdy_frame f = {.type = SPDY_DATA, .stream_id = st->id, .data = p, .len = n};

		r = session_send(s, &f, err);
		p += n;
		len -= n;
	}
	return r;
}

int spdy_stream_close(struct spdy_stream *st, struct err *err)
{
	struct spdy_session *s = st->s;
	struct spdy_frame f = {.type = SPDY_DATA, .flags = SPDY_FLAG_FIN, .stream_id = st->id};
	int r;

	pthread_mutex_lock(&s->lock);
	if (st->local_closed || st->reset) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	r = stream_writable(st, "close", err);
	if (r == 0)
		st->local_closed = true;
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return r;
	r = session_send(s, &f, err);
	pthread_mutex_lock(&s->lock);
	stream_settle(s, st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int spdy_stream_reset(struct spdy_stream *st, enum spdy_rst_status status, struct err *err)
{
	struct spdy_session *s = st->s;
	struct spdy_frame f = {.type = SPDY_RST_STREAM, .stream_id = st->id, .status = status};
	bool send;

	pthread_mutex_lock(&s->lock);
	send = !st->reset && !(st->remote_closed && st->local_closed) && !s->ended;
	st->reset = true;
	stream_end_input(st);
	stream_unlist(s, st);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return send ? session_send(s, &f, err) : 0;
}

int spdy_stream_wait_reply(struct spdy_stream *st, int timeout_ms, struct err *err)
{
	struct spdy_session *s = st->s;
	struct timespec deadline;
	int r = 0;

	clock_deadline(&deadline, timeout_ms);
	pthread_mutex_lock(&s->lock);
	while (!st->replied && !st->reset && !s->ended && r != ETIMEDOUT)
		r = deadline_wait(s, &deadline);
	if (st->replied)
		r = 0;
	else if (st->reset)
		r = err_set(err, ECONNRESET, "open SPDY stream %u: refused (status %u)", st->id,
			    st->rst_status);
	else if (s->ended)
		r = err_set(err, EPIPE, "open SPDY stream %u: the session ended", st->id);
	else
		r = err_set(err, ETIMEDOUT, "open SPDY stream %u: no reply within %d ms", st->id,
			    timeout_ms);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- the reading loop ---- */

static int read_full(struct spdy_session *s, void *buf, size_t len, bool eof_ok, struct err *err)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = s->t.read(s->t.arg, p + got, len - got);

		if (n < 0)
			return err_errno(err, (int)-n, "read SPDY session");
		if (n == 0) {
			if (got == 0 && eof_ok)
				return 0;
			return err_set(err, EPROTO,
				       "read SPDY session: end of stream inside a frame");
		}
		got += n;
	}
	return 1;
}

static bool is_peer_id(struct spdy_session *s, uint32_t id)
{
	return (id % 2 == 1) == s->server;
}

static void ack_data(struct spdy_session *s, struct spdy_stream *st, size_t n, bool fin)
{
	if (st && !fin) {
		st->unacked += n;
		if (st->unacked >= SPDY_WINDOW_ACK) {
			pending_push(s, SPDY_WINDOW_UPDATE, st->id, st->unacked, NULL);
			st->unacked = 0;
		}
	}
	s->unacked += n;
	if (s->unacked >= SPDY_WINDOW_ACK) {
		pending_push(s, SPDY_WINDOW_UPDATE, 0, s->unacked, NULL);
		s->unacked = 0;
	}
}

static void deliver(struct spdy_stream *st, const uint8_t *p, size_t n, bool *drop)
{
	while (n > 0 && !*drop) {
		ssize_t w = send(st->in_w, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			/* the user stopped reading (ignore_input or closed): drop the rest */
			*drop = true;
			break;
		}
		p += w;
		n -= w;
	}
}

static int handle_data(struct spdy_session *s, const uint8_t *hdr, uint8_t *buf, size_t cap,
		       struct err *err)
{
	uint32_t id = get32(hdr) & 0x7fffffffu;
	uint8_t flags = hdr[4];
	size_t left = get32(hdr + 4) & SPDY_MAX_LENGTH;
	struct spdy_stream *st = stream_find(s, id);
	bool drop = true;
	int r = 0;

	if (id == 0) {
		spdy_stream_unref(st);
		return err_set(err, EPROTO, "DATA frame has stream id 0");
	}
	if (st) {
		pthread_mutex_lock(&s->lock);
		if (st->remote_closed) {
			/* draft 3, section 2.2.2: data after the sender's FIN */
			st->reset = true;
			stream_end_input(st);
			stream_unlist(s, st);
			pthread_mutex_unlock(&s->lock);
			send_rst(s, id, SPDY_STREAM_ALREADY_CLOSED);
		} else {
			drop = st->ignore;
			pthread_mutex_unlock(&s->lock);
		}
	} else {
		pthread_mutex_lock(&s->lock);
		/* ids never opened are an error; closed ones get data still in flight */
		bool unknown = is_peer_id(s, id) ? id > s->last_peer_id : id >= s->next_id;

		pthread_mutex_unlock(&s->lock);
		if (unknown)
			send_rst(s, id, SPDY_INVALID_STREAM);
	}
	while (left > 0 && r == 0) {
		size_t n = left < cap ? left : cap;

		r = read_full(s, buf, n, false, err);
		if (r < 0)
			break;
		r = 0;
		if (st && !drop)
			deliver(st, buf, n, &drop);
		ack_data(s, st, n, flags & SPDY_FLAG_FIN);
		left -= n;
	}
	if (r == 0 && st && (flags & SPDY_FLAG_FIN)) {
		pthread_mutex_lock(&s->lock);
		st->remote_closed = true;
		stream_end_input(st);
		stream_settle(s, st);
		pthread_mutex_unlock(&s->lock);
	}
	spdy_stream_unref(st);
	return r;
}

static int handle_syn_stream(struct spdy_session *s, struct spdy_frame *f, spdy_stream_fn on_stream,
			     void *arg, struct err *err)
{
	struct spdy_stream *st = NULL;
	struct err serr = ERR_INIT;
	bool full;
	int r;

	pthread_mutex_lock(&s->lock);
	if (!is_peer_id(s, f->stream_id) || f->stream_id <= s->last_peer_id) {
		pthread_mutex_unlock(&s->lock);
		return err_set(err, EPROTO, "SYN_STREAM with stream id %u (last was %u)",
			       f->stream_id, s->last_peer_id);
	}
	s->last_peer_id = f->stream_id;
	full = s->n_streams >= SPDY_MAX_STREAMS;
	pthread_mutex_unlock(&s->lock);
	if (full || !on_stream) {
		send_rst(s, f->stream_id, SPDY_REFUSED_STREAM);
		return 0;
	}
	if (stream_new(s, f->stream_id, true, &st, &serr) < 0) {
		log_debug("%s, refusing the stream", serr.msg);
		err_clear(&serr);
		send_rst(s, f->stream_id, SPDY_REFUSED_STREAM);
		return 0;
	}
	st->headers = f->headers;
	f->headers = (struct spdy_headers){NULL, 0};
	pthread_mutex_lock(&s->lock);
	stream_list(s, st);
	if (f->flags & SPDY_FLAG_FIN) {
		st->remote_closed = true;
		stream_end_input(st);
	}
	pthread_mutex_unlock(&s->lock);

	r = on_stream(arg, st, &st->headers);
	pthread_mutex_lock(&s->lock);
	if (r < 0) {
		st->reset = true;
		stream_end_input(st);
		stream_unlist(s, st);
	} else if (f->flags & SPDY_FLAG_UNIDIRECTIONAL) {
		st->replied = st->local_closed = true;
		stream_settle(s, st);
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		send_rst(s, f->stream_id, SPDY_REFUSED_STREAM);
	else if (!(f->flags & SPDY_FLAG_UNIDIRECTIONAL))
		/* the stream becomes writable once its reply is on the wire */
		pending_push(s, SPDY_SYN_REPLY, f->stream_id, 0, st);
	spdy_stream_unref(st);
	return 0;
}

static void handle_stream_control(struct spdy_session *s, const struct spdy_frame *f)
{
	struct spdy_stream *st = stream_find(s, f->stream_id);

	if (!st)
		return; /* never answer a RST with a RST; late frames of closed streams are moot */
	pthread_mutex_lock(&s->lock);
	if (f->type == SPDY_RST_STREAM) {
		st->reset = true;
		st->rst_status = f->status;
		stream_end_input(st);
		stream_unlist(s, st);
	} else {
		if (f->type == SPDY_SYN_REPLY && !st->peer_opened)
			st->replied = true;
		if (f->flags & SPDY_FLAG_FIN) {
			st->remote_closed = true;
			stream_end_input(st);
			stream_settle(s, st);
		}
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	spdy_stream_unref(st);
}

/* 1 to go on, 0 when the peer went away, -errno to end on an error */
static int handle_control(struct spdy_session *s, const uint8_t *hdr, spdy_stream_fn on_stream,
			  void *arg, struct err *err)
{
	size_t len = spdy_frame_size(hdr);
	cleanup_free uint8_t *buf = NULL;
	struct spdy_frame f;
	int r;

	if (len - 8 > SPDY_MAX_CONTROL)
		return err_set(err, EPROTO,
			       "SPDY control frame of %zu bytes exceeds the limit of %u", len - 8,
			       SPDY_MAX_CONTROL);
	buf = xmalloc(len);
	memcpy(buf, hdr, 8);
	r = read_full(s, buf + 8, len - 8, false, err);
	if (r < 0)
		return r;
	r = spdy_frame_decode(s->codec, buf, len, &f, err);
	if (r < 0)
		return r;
	r = 1;
	switch (f.type) {
	case SPDY_SYN_STREAM:
		r = handle_syn_stream(s, &f, on_stream, arg, err);
		r = r < 0 ? r : 1;
		break;
	case SPDY_SYN_REPLY:
	case SPDY_RST_STREAM:
	case SPDY_HEADERS:
		handle_stream_control(s, &f);
		break;
	case SPDY_PING:
		if (is_peer_id(s, f.ping_id)) {
			pending_push(s, SPDY_PING, 0, f.ping_id, NULL);
		} else {
			pthread_mutex_lock(&s->lock);
			if (f.ping_id > s->ping_seen)
				s->ping_seen = f.ping_id;
			pthread_cond_broadcast(&s->cond);
			pthread_mutex_unlock(&s->lock);
		}
		break;
	case SPDY_GOAWAY:
		log_debug("SPDY peer went away (last stream %u, status %u)", f.stream_id, f.status);
		r = 0;
		break;
	default: /* SETTINGS, WINDOW_UPDATE: nothing we send waits on them; unknown types */
		break;
	}
	spdy_frame_done(&f);
	return r;
}

static void session_end(struct spdy_session *s)
{
	pthread_mutex_lock(&s->lock);
	s->ended = true;
	while (s->n_streams > 0) {
		struct spdy_stream *st = s->streams[0];

		stream_end_input(st);
		stream_unlist(s, st);
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	/* writers blocked on a peer that stopped reading return once the transport is shut */
	if (s->t.shutdown)
		s->t.shutdown(s->t.arg);
	pthread_mutex_lock(&s->wlock);
	s->closed = true;
	pthread_mutex_unlock(&s->wlock);
}

int spdy_session_serve(struct spdy_session *s, spdy_stream_fn on_stream, void *arg, struct err *err)
{
	cleanup_free uint8_t *buf = xmalloc(SPDY_DATA_CHUNK);
	struct timespec deadline;
	pthread_t sender;
	uint8_t hdr[8];
	int r;

	r = pthread_create(&sender, NULL, sender_main, s);
	if (r != 0) {
		session_end(s);
		return err_errno(err, r, "start the sender of a SPDY session");
	}
	for (;;) {
		r = read_full(s, hdr, sizeof(hdr), true, err);
		if (r <= 0)
			break;
		if (hdr[0] & 0x80)
			r = handle_control(s, hdr, on_stream, arg, err);
		else
			r = handle_data(s, hdr, buf, SPDY_DATA_CHUNK, err) < 0 ? -1 : 1;
		if (r <= 0)
			break;
	}
	if (r < 0 && err->code == EPROTO)
		pending_push(s, SPDY_GOAWAY, 0, SPDY_GOAWAY_PROTOCOL_ERROR, NULL);
	/* what the reader queued goes out, unless the peer stopped reading */
	clock_deadline(&deadline, SPDY_DRAIN_MS);
	pthread_mutex_lock(&s->lock);
	s->sender_stop = true;
	pthread_cond_signal(&s->pending_cond);
	while (!s->sender_done &&
	       clock_timedwait(&s->pending_cond, &s->lock, &deadline) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&s->lock);
	session_end(s);
	pthread_join(sender, NULL);
	return r < 0 ? -err->code : 0;
}
