/* app-query: asks the application of the rig's chip over USB (usbdevfs, the
 * same kernel path libusb takes), for scenarios that must not trust the
 * chip's own log.
 *
 * usage: app-query [--device VID:PID] COMMAND
 *   version        the vendor request GET_VERSION (0xC0, bRequest 0x56)
 *   string N       string descriptor N (ASCII), e.g. 4: the version string
 *   enter-dfu      the vendor request ENTER_BOOTLOADER (0x40, bRequest 0x42)
 * Prints the answer on stdout; exit 0, 1 on a USB error, 2 on usage, 3 when
 * no such device is on the bus. Default device 0483:5740. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/usbdevice_fs.h>

#include "app.h"

#define TIMEOUT_MS 2000

static int read_hex(const char *dir, const char *file, unsigned *v)
{
	char path[512], buf[16];
	FILE *f;
	snprintf(path, sizeof(path), "/sys/bus/usb/devices/%s/%s", dir, file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	*v = (unsigned)strtoul(buf, NULL,
	                       strcmp(file, "busnum") && strcmp(file, "devnum") ? 16 : 10);
	return 0;
}

/* Opens /dev/bus/usb/BBB/DDD of the first device with vid:pid. */
static int open_device(unsigned vid, unsigned pid)
{
	DIR *d = opendir("/sys/bus/usb/devices");
	struct dirent *e;
	int fd = -ENODEV;

	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		unsigned v, p, bus, dev;
		char path[64];
		if (e->d_name[0] == '.' || strchr(e->d_name, ':'))
			continue;
		if (read_hex(e->d_name, "idVendor", &v) || read_hex(e->d_name, "idProduct", &p) ||
		    v != vid || p != pid || read_hex(e->d_name, "busnum", &bus) ||
		    read_hex(e->d_name, "devnum", &dev))
			continue;
		snprintf(path, sizeof(path), "/dev/bus/usb/%03u/%03u", bus, dev);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			fd = -errno;
		break;
	}
	closedir(d);
	return fd;
}

static int control(int fd, unsigned type, unsigned req, unsigned value, unsigned index, void *data,
                   unsigned len)
{
	struct usbdevfs_ctrltransfer t = {
	    .bRequestType = (unsigned char)type,
	    .bRequest = (unsigned char)req,
	    .wValue = (unsigned short)value,
	    .wIndex = (unsigned short)index,
	    .wLength = (unsigned short)len,
	    .timeout = TIMEOUT_MS,
	    .data = data,
	};
	int r = ioctl(fd, USBDEVFS_CONTROL, &t);
	return r < 0 ? -errno : r;
}

int main(int argc, char **argv)
{
	unsigned vid = 0x0483, pid = 0x5740;
	unsigned char buf[256];
	int fd, r, i = 1;

	if (argc > 2 && strcmp(argv[1], "--device") == 0) {
		if (sscanf(argv[2], "%x:%x", &vid, &pid) != 2) {
			fprintf(stderr, "app-query: --device wants VID:PID in hex\n");
			return 2;
		}
		i = 3;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: app-query [--device VID:PID] version|string N|enter-dfu\n");
		return 2;
	}
	fd = open_device(vid, pid);
	if (fd < 0) {
		fprintf(stderr, "app-query: no %04x:%04x on the bus (%s)\n", vid, pid,
		        strerror(-fd));
		return 3;
	}
	if (strcmp(argv[i], "version") == 0) {
		r = control(fd, 0xC0, APP_REQ_GET_VERSION, 0, 0, buf, sizeof(buf) - 1);
		if (r >= 0) {
			buf[r] = '\0';
			printf("%s\n", buf);
		}
	} else if (strcmp(argv[i], "string") == 0 && i + 1 < argc) {
		unsigned index = (unsigned)strtoul(argv[i + 1], NULL, 0);
		r = control(fd, 0x80, 6 /* GET_DESCRIPTOR */, 0x0300 | (index & 0xFF), 0x0409, buf,
		            255);
		if (r >= 2) {
			for (int k = 2; k + 1 < buf[0] && k + 1 < r; k += 2)
				putchar(buf[k + 1] ? '?' : buf[k]);
			putchar('\n');
		} else if (r >= 0) {
			r = -EPROTO;
		}
	} else if (strcmp(argv[i], "enter-dfu") == 0) {
		r = control(fd, 0x40, APP_REQ_ENTER_BOOTLOADER, 0, 0, NULL, 0);
	} else {
		fprintf(stderr, "app-query: unknown command %s\n", argv[i]);
		close(fd);
		return 2;
	}
	close(fd);
	if (r < 0) {
		fprintf(stderr, "app-query: %s: %s\n", argv[i], strerror(-r));
		return 1;
	}
	return 0;
}
