/* The streaming .swu reader on the bundles make_bundles.sh built with
 * openssl, cpio and swugenerator: results that do not depend on how the
 * stream is cut, sinks that see verified bytes only and keep nothing from a
 * bundle that fails, reset, limits and trust configuration. */
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/swu.h"
#include "swu_sinks.h"

/* The bundles make_bundles.sh made at build time (MCU_OTA_BUNDLE_FIXTURES
 * names another folder of them). */
static const char *fixtures(void)
{
	const char *d = getenv("MCU_OTA_BUNDLE_FIXTURES");
	char count[4200];
	if (!d)
		d = BUNDLE_FIXTURES_DIR;
	snprintf(count, sizeof(count), "%s/count", d);
	if (access(count, R_OK) != 0) {
		fprintf(stderr,
		        "no test bundles in %s: build the bundle_fixtures target (it needs "
		        "swugenerator, cpio and openssl when cmake runs: tests/deps.sh)\n",
		        d);
		exit(2);
	}
	return d;
}

struct blob {
	uint8_t *data;
	size_t len;
};

static struct blob load(const char *name)
{
	char path[512];
	struct blob b = {0};
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fixtures(), name);
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(2);
	}
	b.len = (size_t)st.st_size;
	b.data = malloc(b.len ? b.len : 1);
	if (!b.data || read(fd, b.data, b.len) != (ssize_t)b.len)
		exit(2);
	close(fd);
	return b;
}

static char key_rsa[512], key_ed[512], key_p256[512], ca[512];
static const char *keys[3];

static void paths(void)
{
	snprintf(key_rsa, sizeof(key_rsa), "%s/keys/rsa.pub", fixtures());
	snprintf(key_ed, sizeof(key_ed), "%s/keys/ed25519.pub", fixtures());
	snprintf(key_p256, sizeof(key_p256), "%s/keys/p256.pub", fixtures());
	snprintf(ca, sizeof(ca), "%s/pki/ca.pem", fixtures());
	keys[0] = key_rsa;
	keys[1] = key_ed;
	keys[2] = key_p256;
}

static struct swu_trust trust_all(void)
{
	paths();
	return (struct swu_trust){.key_files = keys, .key_count = 3, .ca_file = ca};
}

/* ---- a sink that records what it is told and checks the contract ---- */

#define MAX_IMAGES 8

struct rec_image {
	const struct swu_image *key; /* one open per manifest image */
	char name[64];
	uint8_t *data;
	size_t len, size;
	int state; /* 0 none, 1 open, 2 committed, 3 aborted, 4 skipped */
};

struct recorder {
	bool manifest_seen, finished;
	int opens, writes, commits, aborts, finishes, violations;
	int fail_open, fail_write, fail_commit; /* 1-based call numbers that fail */
	bool skip_second, refuse_manifest;
	struct rec_image img[MAX_IMAGES];
	int count;
};

static struct rec_image *rec_find(struct recorder *r, const struct swu_image *img)
{
	for (int i = 0; i < r->count; i++)
		if (r->img[i].key == img && r->img[i].state != 3)
			return &r->img[i];
	return NULL;
}

static int rec_manifest(void *ctx, const struct swu_manifest *m, char *err, size_t errlen)
{
	struct recorder *r = ctx;
	if (r->opens || !m->signature_verified)
		r->violations++;
	r->manifest_seen = true;
	if (r->refuse_manifest) {
		snprintf(err, errlen, "hardware %s not compatible", m->hardware_compatibility[0]);
		return -EPERM;
	}
	return 0;
}

static int rec_open(void *ctx, const struct swu_image *img, char *err, size_t errlen)
{
	struct recorder *r = ctx;
	struct rec_image *e;

	r->opens++;
	if (!r->manifest_seen || r->finished || r->count == MAX_IMAGES)
		r->violations++;
	if (r->fail_open == r->opens) {
		snprintf(err, errlen, "no room for %s", img->filename);
		return -ENOSPC;
	}
	e = &r->img[r->count++];
	e->key = img;
	snprintf(e->name, sizeof(e->name), "%s", img->filename);
	e->size = img->size;
	e->data = malloc(img->size ? img->size : 1);
	e->len = 0;
	if (r->skip_second && r->opens == 2) {
		e->state = 4;
		return SWU_SINK_SKIP;
	}
	e->state = 1;
	return 0;
}

static int rec_write(void *ctx, const struct swu_image *img, const uint8_t *data, size_t len,
                     char *err, size_t errlen)
{
	struct recorder *r = ctx;
	struct rec_image *e = rec_find(r, img);

	r->writes++;
	if (!e || e->state != 1 || e->len + len > e->size) {
		r->violations++;
		return -EINVAL;
	}
	if (r->fail_write == r->writes) {
		snprintf(err, errlen, "%s", "disk on fire");
		return -EIO;
	}
	memcpy(e->data + e->len, data, len);
	e->len += len;
	return 0;
}

static int rec_commit(void *ctx, const struct swu_image *img, char *err, size_t errlen)
{
	struct recorder *r = ctx;
	struct rec_image *e = rec_find(r, img);

	r->commits++;
	if (!e || e->state != 1 || e->len != e->size)
		r->violations++;
	if (r->fail_commit == r->commits) {
		snprintf(err, errlen, "%s", "fsync failed");
		return -EIO;
	}
	if (e)
		e->state = 2;
	return 0;
}

static int rec_finish(void *ctx, char *err, size_t errlen)
{
	struct recorder *r = ctx;
	(void)err;
	(void)errlen;
	r->finishes++;
	for (int i = 0; i < r->count; i++)
		if (r->img[i].state != 2 && r->img[i].state != 4 && r->img[i].state != 3)
			r->violations++;
	r->finished = true;
	return 0;
}

static void rec_abort(void *ctx, const struct swu_image *img)
{
	struct recorder *r = ctx;
	struct rec_image *e = rec_find(r, img);

	r->aborts++;
	if (!e || e->state == 4 || r->finished) {
		r->violations++;
		return;
	}
	e->state = 3;
	free(e->data);
	e->data = NULL;
}

static const struct swu_sink_ops rec_ops = {
    .manifest = rec_manifest,
    .open = rec_open,
    .write = rec_write,
    .commit = rec_commit,
    .finish = rec_finish,
    .abort = rec_abort,
};

static void rec_free(struct recorder *r)
{
	for (int i = 0; i < r->count; i++)
		free(r->img[i].data);
}

/* Nothing of the bundle is still held: every opened image was aborted. */
static bool rec_nothing_kept(const struct recorder *r)
{
	for (int i = 0; i < r->count; i++)
		if (r->img[i].state == 1 || r->img[i].state == 2)
			return false;
	return true;
}

/* ---- feeding in chunks ---- */

enum chunking { WHOLE, BYTES, RANDOM };

struct outcome {
	int code;
	char message[512];
	uint64_t offset;
	size_t images;
	char version[32], signer[512];
};

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static struct outcome run(const struct blob *b, const struct swu_trust *t,
                          const struct swu_limits *l, const struct swu_sink_ops *ops, void *ctx,
                          enum chunking how, uint32_t seed, size_t max_chunk)
{
	struct outcome o = {0};
	struct swu_reader *r = NULL;
	char err[512] = "";
	size_t pos = 0;
	int rc;

	rc = swu_reader_new(&r, t, l, ops, ctx, err, sizeof(err));
	if (rc < 0) {
		o.code = rc;
		snprintf(o.message, sizeof(o.message), "%s", err);
		return o;
	}
	while (pos < b->len) {
		size_t n = how == WHOLE ? b->len : how == BYTES ? 1 : 1 + lcg(&seed) % max_chunk;
		if (n > b->len - pos)
			n = b->len - pos;
		rc = swu_reader_feed(r, b->data + pos, n, err, sizeof(err));
		if (rc < 0)
			break;
		pos += n;
	}
	if (rc == 0)
		rc = swu_reader_finish(r, err, sizeof(err));
	o.code = rc;
	snprintf(o.message, sizeof(o.message), "%s", rc ? err : "");
	o.offset = swu_reader_offset(r);
	if (rc == 0) {
		const struct swu_manifest *m = swu_reader_manifest(r);
		o.images = m->image_count;
		snprintf(o.version, sizeof(o.version), "%s", m->version);
		snprintf(o.signer, sizeof(o.signer), "%s", m->signer);
	}
	swu_reader_free(r);
	return o;
}

struct sample {
	const char *bundle;
	int code;
	const char *message;
};

static const struct sample samples[] = {
    {"good-rsa-newc.swu", 0, ""},
    {"good-rsa-crc.swu", 0, ""},
    {"good-ed25519-crc.swu", 0, ""},
    {"good-p256-newc.swu", 0, ""},
    {"good-signer-newc.swu", 0, ""},
    {"good-empty-newc.swu", 0, ""},
    {"good-shared-newc.swu", 0, ""},
    {"swugen-cms.swu", 0, ""},
    {"swugen-rsa.swu", 0, ""},
    {"bad-flipimage-rsa-crc.swu", -EBADMSG, "SHA-256 mismatch"},
    {"bad-flipsig-cms-newc.swu", -EKEYREJECTED, "does not verify"},
    {"bad-flipdesc-rsa-newc.swu", -EKEYREJECTED, "does not verify"},
    {"bad-unsigned-newc.swu", -ENOKEY, "not signed"},
    {"bad-missing-signer-newc.swu", -EBADMSG, "is missing from the bundle"},
    {"bad-extra-rsa-newc.swu", -EBADMSG, "not listed in sw-description"},
    {"bad-duplicate-rsa-newc.swu", -EBADMSG, "duplicate entry"},
    {"bad-dotdot-rsa-newc.swu", -EBADMSG, "not a plain file name"},
    {"bad-truncated-newc.swu", -EBADMSG, "truncated"},
    {"bad-crcfield-crc.swu", -EBADMSG, "crc checksum mismatch"},
    {"bad-padding-newc.swu", -EBADMSG, "non-zero byte in cpio padding"},
    {"bad-trailing-newc.swu", -EBADMSG, "after the trailer"},
    {"bad-expired-newc.swu", -EKEYREJECTED, "certificate has expired"},
    /* finding 13 of issue 12: digestAlgorithms with an unknown digest or none, refused
     * before CMS_verify (OpenSSL 3.0's leaked 272 bytes on each; the asan test runs this) */
    {"bad-digestalg-unknown-newc.swu", -EKEYREJECTED,
     "lists the digest 2.16.840.1.101.3.4.2.127 in its digestAlgorithms"},
    {"bad-digestalg-empty-newc.swu", -EKEYREJECTED, "lists no digest algorithm"},
    {"bad-feature-scripts-newc.swu", -ENOTSUP, "does not support scripts"},
};

static void check_same(const struct outcome *a, const struct outcome *b, const char *what)
{
	if (a->code != b->code || strcmp(a->message, b->message) != 0 || a->offset != b->offset ||
	    a->images != b->images)
		fprintf(stderr, "%s: %d \"%s\" @%llu vs %d \"%s\" @%llu\n", what, a->code,
		        a->message, (unsigned long long)a->offset, b->code, b->message,
		        (unsigned long long)b->offset);
	CHECK_INT(a->code, b->code);
	CHECK_STR(a->message, b->message);
	CHECK_INT(a->offset, b->offset);
	CHECK_INT(a->images, b->images);
	CHECK_STR(a->version, b->version);
	CHECK_STR(a->signer, b->signer);
}

/* Whole buffer, byte by byte, and random chunk sizes: the same result, the
 * same message, the same stopping point. */
static void test_result_does_not_depend_on_chunking(void)
{
	struct swu_trust t = trust_all();

	for (size_t i = 0; i < sizeof(samples) / sizeof(*samples); i++) {
		struct blob b = load(samples[i].bundle);
		struct outcome ref = run(&b, &t, NULL, NULL, NULL, WHOLE, 0, 0);
		struct outcome o;

		if (ref.code != samples[i].code)
			fprintf(stderr, "%s: %d %s\n", samples[i].bundle, ref.code, ref.message);
		CHECK_INT(ref.code, samples[i].code);
		CHECK_CONTAINS(ref.message, samples[i].message);
		if (ref.code == 0)
			CHECK_INT(ref.offset, b.len);
		o = run(&b, &t, NULL, NULL, NULL, BYTES, 0, 0);
		check_same(&o, &ref, samples[i].bundle);
		for (uint32_t seed = 1; seed <= 12; seed++) {
			size_t max = seed % 3 == 0 ? 7 : seed % 3 == 1 ? 113 : 5000;
			o = run(&b, &t, NULL, NULL, NULL, RANDOM, seed, max);
			check_same(&o, &ref, samples[i].bundle);
		}
		free(b.data);
	}
}

/* The sink gets exactly the payload files, only after the signature
 * verified, whatever the chunking; a failing bundle leaves nothing. */
static void test_sink_sees_verified_bytes_only(void)
{
	struct swu_trust t = trust_all();

	for (size_t i = 0; i < sizeof(samples) / sizeof(*samples); i++) {
		struct blob b = load(samples[i].bundle);
		for (int how = 0; how < 3; how++) {
			struct recorder rec = {0};
			struct outcome o = run(&b, &t, NULL, &rec_ops, &rec, (enum chunking)how,
			                       (uint32_t)i + 1, 777);
			CHECK_INT(o.code, samples[i].code);
			CHECK_INT(rec.violations, 0);
			if (o.code == 0) {
				CHECK_INT(rec.finishes, 1);
				CHECK_INT(rec.aborts, 0);
				CHECK_INT(rec.opens, (int)o.images);
				for (int k = 0; k < rec.count; k++) {
					char name[80];
					struct blob p;
					snprintf(name, sizeof(name), "payload/%s", rec.img[k].name);
					p = load(name);
					CHECK_INT(rec.img[k].state, 2);
					CHECK_INT(rec.img[k].len, p.len);
					CHECK(memcmp(rec.img[k].data, p.data, p.len) == 0);
					free(p.data);
				}
			} else {
				CHECK_INT(rec.finishes, 0);
				CHECK_INT(rec.aborts, rec.count);
				CHECK(rec_nothing_kept(&rec));
				/* a signature problem stops before any image */
				if (o.code == -EKEYREJECTED || o.code == -ENOKEY ||
				    o.code == -ENOTSUP)
					CHECK_INT(rec.opens, 0);
			}
			rec_free(&rec);
		}
		free(b.data);
	}
}

/* A hash mismatch in the third image aborts the two committed before it. */
static void test_later_failure_aborts_committed_images(void)
{
	struct swu_trust t = trust_all();
	struct blob b = load("bad-flipimage-rsa-newc.swu");
	struct recorder rec = {0};
	struct outcome o = run(&b, &t, NULL, &rec_ops, &rec, WHOLE, 0, 0);

	CHECK_INT(o.code, -EBADMSG);
	CHECK_CONTAINS(o.message, "image \"ccc.hex\": SHA-256 mismatch");
	CHECK_INT(rec.opens, 3);
	CHECK_INT(rec.commits, 2);
	CHECK_INT(rec.aborts, 3);
	CHECK(rec_nothing_kept(&rec));
	CHECK_INT(rec.violations, 0);
	rec_free(&rec);
	free(b.data);
}

static void test_sink_errors_stop_the_stream(void)
{
	struct swu_trust t = trust_all();
	struct blob b = load("good-rsa-newc.swu");
	struct recorder rec = {.fail_open = 2};
	struct outcome o = run(&b, &t, NULL, &rec_ops, &rec, RANDOM, 3, 100);

	CHECK_INT(o.code, -ENOSPC);
	CHECK_STR(o.message, "image \"bb.bin\": no room for bb.bin");
	CHECK_INT(rec.aborts, 1);
	CHECK(rec_nothing_kept(&rec));
	rec_free(&rec);

	rec = (struct recorder){.fail_write = 5};
	o = run(&b, &t, NULL, &rec_ops, &rec, RANDOM, 3, 100);
	CHECK_INT(o.code, -EIO);
	CHECK_CONTAINS(o.message, "disk on fire");
	CHECK(rec_nothing_kept(&rec));
	rec_free(&rec);

	rec = (struct recorder){.fail_commit = 4};
	o = run(&b, &t, NULL, &rec_ops, &rec, WHOLE, 0, 0);
	CHECK_INT(o.code, -EIO);
	CHECK_STR(o.message, "image \"dddd.bin\": fsync failed");
	CHECK_INT(rec.aborts, 4);
	CHECK(rec_nothing_kept(&rec));
	rec_free(&rec);

	rec = (struct recorder){.refuse_manifest = true};
	o = run(&b, &t, NULL, &rec_ops, &rec, WHOLE, 0, 0);
	CHECK_INT(o.code, -EPERM);
	CHECK_STR(o.message, "hardware 1.0 not compatible");
	CHECK_INT(rec.opens, 0);
	rec_free(&rec);
	free(b.data);
}

/* A skipped image is still hashed: skipping does not skip verification. */
static void test_skipped_image_is_still_checked(void)
{
	struct swu_trust t = trust_all();
	struct blob good = load("good-rsa-newc.swu"), bad = load("bad-replaced-rsa-newc.swu");
	struct recorder rec = {.skip_second = true};
	struct outcome o = run(&good, &t, NULL, &rec_ops, &rec, BYTES, 0, 0);

	CHECK_INT(o.code, 0);
	CHECK_INT(rec.img[1].state, 4);
	CHECK_INT(rec.img[1].len, 0);
	CHECK_INT(rec.commits, 3);
	CHECK_INT(rec.violations, 0);
	rec_free(&rec);

	/* bad-replaced: a.bin replaced; skip the first image this time */
	rec = (struct recorder){.skip_second = false};
	o = run(&bad, &t, NULL, NULL, NULL, WHOLE, 0, 0);
	CHECK_INT(o.code, -EBADMSG);
	CHECK_CONTAINS(o.message, "image \"a.bin\": SHA-256 mismatch");
	free(good.data);
	free(bad.data);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	if (d)
		closedir(d);
	return n;
}

static void remove_all(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[1024];
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
}

static struct outcome run_dir(const char *bundle, const char *dir, size_t stop_at)
{
	struct swu_trust t = trust_all();
	struct swu_dir_sink *sink = NULL;
	struct blob b = load(bundle);
	struct outcome o;
	char err[256];

	CHECK_INT(swu_dir_sink_new(dir, &sink, err, sizeof(err)), 0);
	if (stop_at) {
		/* the reader is freed mid-stream, without finish */
		struct swu_reader *r = NULL;
		CHECK_INT(swu_reader_new(&r, &t, NULL, &swu_dir_sink_ops, sink, err, sizeof(err)),
		          0);
		CHECK_INT(swu_reader_feed(r, b.data, stop_at, err, sizeof(err)), 0);
		swu_reader_free(r);
		o = (struct outcome){.code = -EINTR};
	} else {
		o = run(&b, &t, NULL, &swu_dir_sink_ops, sink, RANDOM, 9, 300);
	}
	swu_dir_sink_free(sink);
	free(b.data);
	return o;
}

static void test_dir_sink(void)
{
	char dir[] = "/tmp/mcu-ota-swu-XXXXXX";
	char path[1024];
	struct blob got, want;
	struct outcome o;

	CHECK(mkdtemp(dir) != NULL);
	o = run_dir("good-rsa-newc.swu", dir, 0);
	CHECK_INT(o.code, 0);
	CHECK_INT(count_entries(dir), 4); /* no .part left */
	snprintf(path, sizeof(path), "%s/dddd.bin", dir);
	{
		int fd = open(path, O_RDONLY);
		struct stat st;
		CHECK(fd >= 0 && fstat(fd, &st) == 0);
		CHECK_INT(st.st_mode & 0777, 0600);
		CHECK_INT(st.st_size, 1004);
		if (fd >= 0)
			close(fd);
	}
	(void)got;
	(void)want;
	remove_all(dir);

	/* the third image is bad: the first two were written and must go */
	o = run_dir("bad-flipimage-rsa-newc.swu", dir, 0);
	CHECK_INT(o.code, -EBADMSG);
	CHECK_INT(count_entries(dir), 0);
	/* truncated: every image hashed fine, the trailer never came */
	o = run_dir("bad-truncated-newc.swu", dir, 0);
	CHECK_INT(o.code, -EBADMSG);
	CHECK_INT(count_entries(dir), 0);
	o = run_dir("bad-missing-rsa-newc.swu", dir, 0);
	CHECK_INT(o.code, -EBADMSG);
	CHECK_INT(count_entries(dir), 0);
	/* the reader dropped in the middle of the stream */
	o = run_dir("good-rsa-newc.swu", dir, 3500);
	CHECK_INT(count_entries(dir), 0);
	/* one file for two devices is written once */
	o = run_dir("good-shared-newc.swu", dir, 0);
	CHECK_INT(o.code, 0);
	CHECK_INT(count_entries(dir), 1);
	remove_all(dir);
	rmdir(dir);

	{
		struct swu_dir_sink *s = NULL;
		char err[256] = "";
		CHECK_INT(swu_dir_sink_new("/nonexistent/dir", &s, err, sizeof(err)), -ENOENT);
		CHECK_CONTAINS(err, "/nonexistent/dir");
		swu_dir_sink_free(NULL);
	}
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char path[2048];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static bool file_is(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	char path[2048];
	uint8_t buf[4096];
	ssize_t n;
	int fd;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return n == (ssize_t)len && memcmp(buf, data, len) == 0;
}

/* finish is the commit point: when one image cannot be put in place (here a
 * directory stands at bb.bin), the images already renamed over their old
 * files are undone, and the old files are back, as they were. */
static void test_dir_sink_finish_is_all_or_nothing(void)
{
	char dir[] = "/tmp/mcu-ota-swu-XXXXXX";
	char sub[1100];
	struct blob a = load("payload/a.bin");
	struct outcome o;

	CHECK(mkdtemp(dir) != NULL);
	write_text(dir, "a.bin", "OLD-A\n");
	snprintf(sub, sizeof(sub), "%s/bb.bin", dir);
	CHECK_INT(mkdir(sub, 0700), 0);
	write_text(sub, "x", "keep");
	o = run_dir("good-rsa-newc.swu", dir, 0);
	CHECK(o.code < 0);
	CHECK_CONTAINS(o.message, "bb.bin");
	CHECK(file_is(dir, "a.bin", (const uint8_t *)"OLD-A\n", 6));
	CHECK_INT(count_entries(dir), 2); /* a.bin and bb.bin: no .part, no .old */
	CHECK(file_is(sub, "x", (const uint8_t *)"keep", 4));

	/* nothing was there: a failed finish leaves nothing either */
	remove_all(dir);
	o = run_dir("good-rsa-newc.swu", dir, 0);
	CHECK(o.code < 0);
	CHECK_INT(count_entries(dir), 1); /* bb.bin, the directory */
	remove_all(sub);
	rmdir(sub);

	/* a successful finish replaces the old file and keeps no copy of it */
	write_text(dir, "a.bin", "OLD-A\n");
	o = run_dir("good-rsa-newc.swu", dir, 0);
	CHECK_INT(o.code, 0);
	CHECK(file_is(dir, "a.bin", a.data, a.len));
	CHECK_INT(count_entries(dir), 4);
	remove_all(dir);
	rmdir(dir);
	free(a.data);
}

static void test_memory_sink(void)
{
	struct swu_trust t = trust_all();
	struct swu_memory_sink *s = NULL;
	struct blob b = load("good-empty-newc.swu"), a = load("payload/a.bin");
	const uint8_t *data;
	size_t len;
	struct outcome o;

	CHECK_INT(swu_memory_sink_new(&s), 0);
	CHECK_INT(swu_memory_sink_get(s, "a.bin", &data, &len), -ENOENT);
	o = run(&b, &t, NULL, &swu_memory_sink_ops, s, RANDOM, 5, 64);
	CHECK_INT(o.code, 0);
	CHECK_INT(swu_memory_sink_get(s, "a.bin", &data, &len), 0);
	CHECK_INT(len, a.len);
	CHECK(memcmp(data, a.data, len) == 0);
	CHECK_INT(swu_memory_sink_get(s, "empty.bin", &data, &len), 0);
	CHECK_INT(len, 0);
	CHECK_INT(swu_memory_sink_get(s, "nope", &data, &len), -ENOENT);
	swu_memory_sink_free(s);
	swu_memory_sink_free(NULL);

	CHECK_INT(swu_memory_sink_new(&s), 0);
	free(b.data);
	b = load("bad-flipimage-rsa-newc.swu");
	o = run(&b, &t, NULL, &swu_memory_sink_ops, s, WHOLE, 0, 0);
	CHECK_INT(o.code, -EBADMSG);
	CHECK_INT(swu_memory_sink_get(s, "a.bin", &data, &len), -ENOENT);
	swu_memory_sink_free(s);
	free(a.data);
	free(b.data);
}

/* A download that starts over: reset forgets everything. */
static void test_reset(void)
{
	struct swu_trust t = trust_all();
	struct blob b = load("good-rsa-newc.swu"), bad = load("bad-flipsig-rsa-newc.swu");
	struct swu_reader *r = NULL;
	struct recorder rec = {0};
	char err[256];

	CHECK_INT(swu_reader_new(&r, &t, NULL, &rec_ops, &rec, err, sizeof(err)), 0);
	CHECK_INT(swu_reader_feed(r, b.data, 3000, err, sizeof(err)), 0);
	CHECK(swu_reader_manifest(r) != NULL);
	CHECK_INT(swu_reader_offset(r), 3000);
	swu_reader_reset(r);
	CHECK(swu_reader_manifest(r) == NULL);
	CHECK_INT(swu_reader_offset(r), 0);
	CHECK(rec_nothing_kept(&rec));
	rec_free(&rec);
	rec = (struct recorder){0};
	CHECK_INT(swu_reader_feed(r, b.data, b.len, err, sizeof(err)), 0);
	CHECK(swu_reader_done(r));
	CHECK_INT(swu_reader_finish(r, err, sizeof(err)), 0);
	CHECK_INT(rec.violations, 0);
	CHECK_INT(rec.commits, 4);
	/* and after a failure */
	swu_reader_reset(r); /* after finish: the images stay */
	CHECK_INT(rec.aborts, 0);
	rec_free(&rec);
	rec = (struct recorder){0};
	CHECK_INT(swu_reader_feed(r, bad.data, bad.len, err, sizeof(err)), -EKEYREJECTED);
	swu_reader_reset(r);
	CHECK_INT(swu_reader_feed(r, b.data, b.len, err, sizeof(err)), 0);
	CHECK_INT(swu_reader_finish(r, err, sizeof(err)), 0);
	swu_reader_free(r);
	CHECK_INT(rec.aborts, 0);
	rec_free(&rec);
	free(b.data);
	free(bad.data);
}

static void test_errors_are_sticky(void)
{
	struct swu_trust t = trust_all();
	struct blob b = load("bad-flipdesc-rsa-newc.swu");
	struct swu_reader *r = NULL;
	char err[256], err2[256];

	CHECK_INT(swu_reader_new(&r, &t, NULL, NULL, NULL, err, sizeof(err)), 0);
	CHECK_INT(swu_reader_feed(r, b.data, b.len, err, sizeof(err)), -EKEYREJECTED);
	CHECK_INT(swu_reader_feed(r, "x", 1, err2, sizeof(err2)), -EKEYREJECTED);
	CHECK_STR(err2, err);
	CHECK_INT(swu_reader_finish(r, err2, sizeof(err2)), -EKEYREJECTED);
	CHECK_STR(err2, err);
	swu_reader_free(r);
	free(b.data);
}

static void test_manifest_only_after_signature(void)
{
	struct swu_trust t = trust_all();
	struct blob b = load("good-signer-newc.swu");
	struct swu_reader *r = NULL;
	char err[256];

	CHECK_INT(swu_reader_new(&r, &t, NULL, NULL, NULL, err, sizeof(err)), 0);
	CHECK_INT(swu_reader_feed(r, b.data, 600, err, sizeof(err)), 0);
	CHECK(swu_reader_manifest(r) == NULL); /* sw-description read, not yet verified */
	CHECK_INT(swu_reader_feed(r, b.data + 600, b.len - 600, err, sizeof(err)), 0);
	CHECK(swu_reader_manifest(r)->signature_verified);
	CHECK_INT(swu_reader_manifest(r)->signature_kind, SWU_SIG_CMS);
	CHECK_CONTAINS(swu_reader_manifest(r)->signer, "CN = firmware signer");
	CHECK(!swu_reader_manifest(r)->cpio_crc);
	CHECK_INT(swu_reader_finish(r, err, sizeof(err)), 0);
	CHECK_INT(swu_reader_feed(r, "", 0, err, sizeof(err)), -EINVAL); /* after finish */
	swu_reader_free(r);
	free(b.data);
}

static void test_unverified_reading_for_inspect(void)
{
	struct swu_trust t = {.allow_unverified = true};
	struct blob b = load("good-signer-crc.swu");
	struct recorder rec = {0};
	struct swu_reader *r = NULL;
	char err[256] = "";

	CHECK_INT(swu_reader_new(&r, &t, NULL, NULL, NULL, err, sizeof(err)), 0);
	CHECK_INT(swu_reader_feed(r, b.data, b.len, err, sizeof(err)), 0);
	CHECK_INT(swu_reader_finish(r, err, sizeof(err)), 0);
	CHECK(!swu_reader_manifest(r)->signature_verified);
	CHECK_INT(swu_reader_manifest(r)->signature_kind, SWU_SIG_CMS);
	CHECK_CONTAINS(swu_reader_manifest(r)->signer, "firmware signer");
	CHECK(swu_reader_manifest(r)->cpio_crc);
	swu_reader_free(r);
	/* never with a sink */
	CHECK_INT(swu_reader_new(&r, &t, NULL, &rec_ops, &rec, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "only allowed without a sink");
	CHECK(r == NULL);
	free(b.data);
}

static void test_trust_configuration(void)
{
	struct swu_trust none = {0};
	const char *missing[] = {"/nonexistent.pub"};
	struct swu_trust bad_key = {.key_files = missing, .key_count = 1};
	struct swu_trust crl_only = {.key_files = keys, .key_count = 1, .crl_file = "/x"};
	struct swu_trust bad_ca = {.ca_file = "/nonexistent-ca.pem"};
	struct swu_sink_ops half = {.open = rec_open};
	struct swu_reader *r = NULL;
	char err[256] = "";

	paths();
	CHECK_INT(swu_reader_new(&r, &none, NULL, NULL, NULL, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "no trusted public key or CA");
	CHECK_INT(swu_reader_new(&r, &bad_key, NULL, NULL, NULL, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "key /nonexistent.pub: cannot open");
	CHECK_INT(swu_reader_new(&r, &crl_only, NULL, NULL, NULL, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "a CRL needs a CA");
	CHECK_INT(swu_reader_new(&r, &bad_ca, NULL, NULL, NULL, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "CA file /nonexistent-ca.pem: cannot open");
	bad_ca.ca_file = key_rsa; /* a key, not a certificate */
	CHECK_INT(swu_reader_new(&r, &bad_ca, NULL, NULL, NULL, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "no PEM certificate");
	CHECK_INT(swu_reader_new(&r, &crl_only, NULL, &half, NULL, err, sizeof(err)), -EINVAL);
	CHECK(r == NULL);
	swu_reader_free(NULL);
}

/* A copy of src at dst with mode (chmod'ed: the umask does not decide). */
static void copy_with_mode(const char *src, const char *dst, mode_t mode)
{
	FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
	CHECK(in && out);
	char buf[4096];
	for (size_t n; in && out && (n = fread(buf, 1, sizeof(buf), in)) > 0;)
		CHECK_INT(fwrite(buf, 1, n, out), n);
	if (in)
		fclose(in);
	if (out)
		fclose(out);
	CHECK_INT(chmod(dst, mode), 0);
}

/* Finding 8 of issue 12: a key, CA file or CRL that others may rewrite lets
 * them choose who signs firmware: refused as ssh refuses it, with the fix. */
static void test_trust_files_others_may_write(void)
{
	char dir[] = "/tmp/mcu-ota-trust-XXXXXX", key[600], cafile[600], want[800];
	struct swu_reader *r = NULL;
	char err[1024] = "";

	paths();
	CHECK(mkdtemp(dir) != NULL);
	snprintf(key, sizeof(key), "%s/release.pem", dir);
	snprintf(cafile, sizeof(cafile), "%s/ca.pem", dir);
	copy_with_mode(key_rsa, key, 0666);
	copy_with_mode(ca, cafile, 0664);
	const char *one[] = {key};
	struct swu_trust by_key = {.key_files = one, .key_count = 1};
	struct swu_trust by_ca = {.ca_file = cafile};
	CHECK_INT(swu_reader_new(&r, &by_key, NULL, NULL, NULL, err, sizeof(err)), -EPERM);
	snprintf(want, sizeof(want),
	         "key %s is writable by group or others (mode 0666): chmod go-w it", key);
	CHECK_STR(err, want);
	CHECK(r == NULL);
	CHECK_INT(swu_reader_new(&r, &by_ca, NULL, NULL, NULL, err, sizeof(err)), -EPERM);
	snprintf(want, sizeof(want), "CA file %s is writable by group or others (mode 0664)",
	         cafile);
	CHECK_CONTAINS(err, want);
	/* the CA directory too: anyone who may add a certificate to it may sign */
	struct swu_trust by_dir = {.ca_dir = dir};
	CHECK_INT(chmod(dir, 0777), 0);
	CHECK_INT(swu_reader_new(&r, &by_dir, NULL, NULL, NULL, err, sizeof(err)), -EPERM);
	CHECK_CONTAINS(err, "is writable by group or others (mode 0777)");
	CHECK_INT(chmod(dir, 0700), 0);
	/* tightened, both load */
	CHECK_INT(chmod(key, 0644), 0);
	CHECK_INT(chmod(cafile, 0444), 0);
	CHECK_INT(swu_reader_new(&r, &by_key, NULL, NULL, NULL, err, sizeof(err)), 0);
	swu_reader_free(r);
	r = NULL;
	CHECK_INT(swu_reader_new(&r, &by_ca, NULL, NULL, NULL, err, sizeof(err)), 0);
	swu_reader_free(r);
	unlink(key);
	unlink(cafile);
	rmdir(dir);
}

static void test_limits(void)
{
	struct swu_trust t = trust_all();
	struct blob b = load("good-rsa-newc.swu");
	struct swu_limits l = {.max_bundle = b.len};
	struct outcome o = run(&b, &t, &l, NULL, NULL, RANDOM, 1, 999);

	CHECK_INT(o.code, 0); /* exactly the limit is fine */
	l.max_bundle = b.len - 1;
	o = run(&b, &t, &l, NULL, NULL, BYTES, 0, 0);
	CHECK_INT(o.code, -EFBIG);
	CHECK_INT(o.offset, b.len - 1);
	l = (struct swu_limits){.max_signature = 100};
	o = run(&b, &t, &l, NULL, NULL, WHOLE, 0, 0);
	CHECK_INT(o.code, -EFBIG);
	CHECK_CONTAINS(o.message, "sw-description.sig is 256 bytes, more than the limit of 100");
	l = (struct swu_limits){.max_image = 1003};
	o = run(&b, &t, &l, NULL, NULL, WHOLE, 0, 0);
	CHECK_INT(o.code, -EFBIG);
	CHECK_CONTAINS(o.message, "\"dddd.bin\" is 1004 bytes");
	/* stopped at the header: no byte of the oversized image was taken */
	CHECK(o.offset < b.len - 1004);
	free(b.data);
}

TEST_MAIN(TEST(test_result_does_not_depend_on_chunking), TEST(test_sink_sees_verified_bytes_only),
          TEST(test_later_failure_aborts_committed_images), TEST(test_sink_errors_stop_the_stream),
          TEST(test_skipped_image_is_still_checked), TEST(test_dir_sink),
          TEST(test_dir_sink_finish_is_all_or_nothing), TEST(test_memory_sink), TEST(test_reset),
          TEST(test_errors_are_sticky), TEST(test_manifest_only_after_signature),
          TEST(test_unverified_reading_for_inspect), TEST(test_trust_configuration),
          TEST(test_trust_files_others_may_write), TEST(test_limits))
