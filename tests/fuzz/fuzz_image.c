/* Firmware files in every format: segments that come out must be sorted and
 * never overlap, whatever the input. */
#include <stdint.h>
#include <stdlib.h>

#include "bundle/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum image_format formats[] = {IMAGE_FORMAT_AUTO, IMAGE_FORMAT_HEX,
	                                            IMAGE_FORMAT_DFU, IMAGE_FORMAT_ELF};
	for (size_t f = 0; f < sizeof(formats) / sizeof(*formats); f++) {
		struct image img;
		char err[256];
		if (image_load_buffer(data, size, formats[f], IMAGE_DEFAULT_ADDRESS, &img, err,
		                      sizeof(err)) < 0)
			continue;
		for (size_t i = 1; i < img.segment_count; i++)
			if ((uint64_t)img.segments[i - 1].address + img.segments[i - 1].length >
			    img.segments[i].address)
				abort();
		image_free(&img);
	}
	return 0;
}
