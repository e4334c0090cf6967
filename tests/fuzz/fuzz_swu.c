/* The .swu stream as a download delivers it, through the real signature
 * check: the trust anchors are the committed test key (keys/seed-key.pub.pem,
 * Ed25519) and a CA made from it (keys/seed-ca.pem), so seeds signed with
 * keys/seed-key.pem (make-seeds.sh) reach sw-description and the images.
 *
 * Each input is read
 *   A. verified, into a memory sink, in one piece;
 *   B. the same, in chunks whose sizes come from the input: the same result
 *      and the same message (the reader must not depend on chunking);
 *   C. unverified and without a sink (`bundle inspect`): it passes whatever A
 *      passed.
 * A verified bundle reports an Ed25519 or CMS signature, and every image the
 * sink holds has the size and SHA-256 sw-description gives.
 *
 * A fuzzer that changes sw-description breaks its signature, so an input
 * whose second entry is a 64-byte sw-description.sig is also read with that
 * signature remade with the test key (and its cpio crc checksum fixed):
 * sw-description's parser and the image checks behind it get fuzzed through
 * the reader too. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "bundle/swu.h"
#include "swu_sinks.h"
#include "fuzz.h"

static struct swu_trust trust;
/* The memory sink allocates an image's declared size before its bytes come:
 * a smaller cap than the default 64 MiB keeps each run small and fast. */
static const struct swu_limits limits = {.max_image = 1u << 20};
static const char *key_files[1];
static EVP_PKEY *signing_key;

/* Loading the trust anchors costs more than reading a bundle, so the
 * readers are made once and swu_reader_reset() between inputs (what a
 * restarted download does): each input gets a fresh memory sink through
 * these forwarding ops. */
static struct swu_memory_sink *current_sink;
static struct swu_reader *reader, *loose_reader;

static int fwd_open(void *ctx, const struct swu_image *img, char *err, size_t errlen)
{
	(void)ctx;
	return swu_memory_sink_ops.open(current_sink, img, err, errlen);
}
static int fwd_write(void *ctx, const struct swu_image *img, const uint8_t *data, size_t len,
                     char *err, size_t errlen)
{
	(void)ctx;
	return swu_memory_sink_ops.write(current_sink, img, data, len, err, errlen);
}
static int fwd_commit(void *ctx, const struct swu_image *img, char *err, size_t errlen)
{
	(void)ctx;
	return swu_memory_sink_ops.commit(current_sink, img, err, errlen);
}
static int fwd_finish(void *ctx, char *err, size_t errlen)
{
	(void)ctx;
	return swu_memory_sink_ops.finish(current_sink, err, errlen);
}
static void fwd_abort(void *ctx, const struct swu_image *img)
{
	(void)ctx;
	swu_memory_sink_ops.abort(current_sink, img);
}
static const struct swu_sink_ops forward = {
    .open = fwd_open,
    .write = fwd_write,
    .commit = fwd_commit,
    .finish = fwd_finish,
    .abort = fwd_abort,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	static const char pub[] = FUZZ_KEY_DIR "/seed-key.pub.pem";
	static const struct swu_trust loose = {.allow_unverified = true};
	char err[512];
	key_files[0] = pub;
	trust.key_files = key_files;
	trust.key_count = 1;
	trust.ca_file = FUZZ_KEY_DIR "/seed-ca.pem";
	FILE *f = fopen(FUZZ_KEY_DIR "/seed-key.pem", "re");
	FUZZ_CHECK(f != NULL);
	signing_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	FUZZ_CHECK(signing_key != NULL);
	if (swu_reader_new(&reader, &trust, &limits, &forward, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_swu: %s\n", err);
		abort();
	}
	FUZZ_CHECK(swu_reader_new(&loose_reader, &loose, &limits, NULL, NULL, err, sizeof(err)) ==
	           0);
	return 0;
}

struct outcome {
	int rc;
	char err[512];
};

static void feed(struct swu_reader *r, const uint8_t *data, size_t size, size_t chunk_seed,
                 struct outcome *o)
{
	size_t off = 0;
	o->rc = 0;
	o->err[0] = '\0';
	while (o->rc == 0 && off < size) {
		size_t n = size - off;
		if (chunk_seed) { /* 1..97 bytes, varying along the stream */
			size_t c = (chunk_seed * 31 + off * 7) % 97 + 1;
			n = n < c ? n : c;
		}
		o->rc = swu_reader_feed(r, data + off, n, o->err, sizeof(o->err));
		off += n;
	}
	if (o->rc == 0)
		o->rc = swu_reader_finish(r, o->err, sizeof(o->err));
}

static void verified(const uint8_t *data, size_t size, size_t chunk_seed, struct outcome *o)
{
	struct swu_reader *r = reader;
	FUZZ_CHECK(swu_memory_sink_new(&current_sink) == 0);
	swu_reader_reset(r);
	FUZZ_CHECK(swu_reader_offset(r) == 0 && !swu_reader_done(r) && !swu_reader_manifest(r));
	feed(r, data, size, chunk_seed, o);
	const struct swu_manifest *m = swu_reader_manifest(r);
	if (o->rc == 0) {
		FUZZ_CHECK(m && m->signature_verified);
		FUZZ_CHECK(m->signature_kind == SWU_SIG_ED25519 ||
		           m->signature_kind == SWU_SIG_CMS);
		FUZZ_CHECK(swu_reader_done(r) && swu_reader_offset(r) == size);
		for (size_t i = 0; i < m->image_count; i++) {
			const struct swu_image *img = &m->images[i];
			const uint8_t *bytes;
			size_t len;
			uint8_t md[32];
			FUZZ_CHECK(swu_memory_sink_get(current_sink, img->filename, &bytes, &len) ==
			           0);
			FUZZ_CHECK(len == img->size);
			FUZZ_CHECK(EVP_Digest(bytes, len, md, NULL, EVP_sha256(), NULL) == 1);
			FUZZ_CHECK(memcmp(md, img->sha256, 32) == 0);
		}
	} else {
		FUZZ_CHECK(o->rc < 0 && o->err[0] != '\0');
		/* a failed reader keeps failing the same way */
		char again[512];
		FUZZ_CHECK(swu_reader_finish(r, again, sizeof(again)) == o->rc);
		FUZZ_CHECK(strcmp(again, o->err) == 0);
	}
	swu_reader_reset(r); /* aborts what the sink holds unless finished */
	swu_memory_sink_free(current_sink);
	current_sink = NULL;
}

static void one(const uint8_t *data, size_t size)
{
	struct outcome a, b, c;
	verified(data, size, 0, &a);
	if (getenv("FUZZ_VERBOSE")) /* what a seed reaches: FUZZ_VERBOSE=1 fuzz_swu FILE */
		fprintf(stderr, "verified read: %d %s\n", a.rc, a.rc ? a.err : "ok");
	verified(data, size, size ? data[size / 2] + 1u : 1u, &b);
	if (a.rc != b.rc || strcmp(a.err, b.err) != 0)
		fprintf(stderr, "whole: %d %s\nchunked: %d %s\n", a.rc, a.err, b.rc, b.err);
	FUZZ_CHECK(a.rc == b.rc && strcmp(a.err, b.err) == 0);

	swu_reader_reset(loose_reader);
	feed(loose_reader, data, size, 0, &c);
	if (a.rc == 0)
		FUZZ_CHECK(c.rc == 0);
	if (c.rc == 0)
		FUZZ_CHECK(swu_reader_manifest(loose_reader) != NULL);
}

/* ---- signing the input's sw-description again ---- */

static bool field(const uint8_t *h, int i, uint32_t *out)
{
	uint32_t v = 0;
	for (int k = 0; k < 8; k++) {
		uint8_t ch = h[6 + 8 * i + k];
		int d = ch >= '0' && ch <= '9'   ? ch - '0'
		        : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
		        : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
		                                 : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	return true;
}

/* The entry at *pos: its name and data; *pos moves past it. */
static bool entry(const uint8_t *buf, size_t size, size_t *pos, const char **name, size_t *data_off,
                  uint32_t *data_len)
{
	uint32_t namesize, filesize;
	size_t p = *pos;
	if (p > size || size - p < 110 || !field(buf + p, 11, &namesize) ||
	    !field(buf + p, 6, &filesize))
		return false;
	size_t name_off = p + 110;
	if (namesize == 0 || size - name_off < namesize || buf[name_off + namesize - 1] != '\0')
		return false;
	size_t d = (name_off + namesize + 3) & ~(size_t)3;
	if (d > size || size - d < filesize)
		return false;
	*name = (const char *)buf + name_off;
	*data_off = d;
	*data_len = filesize;
	*pos = (d + filesize + 3) & ~(size_t)3;
	return true;
}

static bool resign(uint8_t *buf, size_t size)
{
	const char *name;
	size_t pos = 0, desc, sig, sig_header;
	uint32_t desc_len, sig_len;
	if (!entry(buf, size, &pos, &name, &desc, &desc_len) || strcmp(name, "sw-description"))
		return false;
	sig_header = pos;
	if (!entry(buf, size, &pos, &name, &sig, &sig_len) || strcmp(name, "sw-description.sig") ||
	    sig_len != 64)
		return false;
	uint8_t fresh[64];
	size_t len = sizeof(fresh);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	FUZZ_CHECK(md && EVP_DigestSignInit(md, NULL, NULL, NULL, signing_key) == 1);
	FUZZ_CHECK(EVP_DigestSign(md, fresh, &len, buf + desc, desc_len) == 1 && len == 64);
	EVP_MD_CTX_free(md);
	bool changed = memcmp(buf + sig, fresh, 64) != 0;
	memcpy(buf + sig, fresh, 64);
	if (!memcmp(buf + sig_header, "070702", 6)) { /* crc: the sum of the data bytes */
		uint32_t sum = 0;
		char hex[9];
		for (int i = 0; i < 64; i++)
			sum += fresh[i];
		snprintf(hex, sizeof(hex), "%08X", sum);
		changed |= memcmp(buf + sig_header + 6 + 8 * 12, hex, 8) != 0;
		memcpy(buf + sig_header + 6 + 8 * 12, hex, 8);
	}
	return changed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size);
	uint8_t *copy = malloc(size ? size : 1);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, data, size);
	if (resign(copy, size))
		one(copy, size);
	free(copy);
	return 0;
}
