/* mkfw: pads a firmware image to a size with pseudo-random bytes, so that a
 * benchmark writes data that is neither erased (0xFF) nor compressible.
 *
 * usage: mkfw IN OUT SIZE SEED [FROM SEED2]
 *   IN     the image (objcopy -O binary); /dev/null for pure noise
 *   SIZE   total size in bytes (IN must fit)
 *   SEED   seed of the padding (xorshift64*)
 *   FROM   from this offset on, the bytes (image or padding) come from SEED2
 *          instead: two outputs that differ only from FROM on (a re-flash
 *          that changes the last sector)
 * The padding at offset i depends only on the seed and i. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t noise(uint64_t seed, uint64_t i)
{
	/* splitmix64 of (seed, word index): position-addressable noise */
	uint64_t z = seed * 0x9E3779B97F4A7C15u + (i / 8) + 1;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
	z ^= z >> 31;
	return (uint8_t)(z >> (8 * (i % 8)));
}

int main(int argc, char **argv)
{
	uint64_t size, seed, from = UINT64_MAX, seed2 = 0;
	uint8_t *buf;
	size_t n;
	FILE *in, *out;

	if (argc != 5 && argc != 7) {
		fprintf(stderr, "usage: mkfw IN OUT SIZE SEED [FROM SEED2]\n");
		return 2;
	}
	size = strtoull(argv[3], NULL, 0);
	seed = strtoull(argv[4], NULL, 0);
	if (argc == 7) {
		from = strtoull(argv[5], NULL, 0);
		seed2 = strtoull(argv[6], NULL, 0);
	}
	if (size == 0 || size > (64u << 20)) {
		fprintf(stderr, "mkfw: size %s out of range\n", argv[3]);
		return 2;
	}
	buf = malloc(size);
	in = fopen(argv[1], "rb");
	if (!buf || !in) {
		fprintf(stderr, "mkfw: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	n = fread(buf, 1, size, in);
	if (fgetc(in) != EOF) {
		fprintf(stderr, "mkfw: %s is larger than %s bytes\n", argv[1], argv[3]);
		return 1;
	}
	fclose(in);
	for (uint64_t i = n; i < size; i++)
		buf[i] = noise(seed, i);
	for (uint64_t i = from; i < size; i++)
		buf[i] = noise(seed2, i);
	out = fopen(argv[2], "wb");
	if (!out || fwrite(buf, 1, size, out) != size || fclose(out) != 0) {
		fprintf(stderr, "mkfw: cannot write %s\n", argv[2]);
		return 1;
	}
	free(buf);
	return 0;
}
