// gadget-smoke: the smallest DFU device that proves the VM rig's USB chain works end to end.
//
// Runs inside the guest. Through raw_gadget (on dummy_hcd's dummy_udc) it presents a device
// 0483:df11 in DFU mode with one interface, one alt setting whose string names a memory like
// ST's ROM bootloader does, and a DFU functional descriptor (DfuSe 1.1a). GETSTATUS answers
// dfuIDLE. It holds no memory: UPLOAD/DNLOAD are stalled. The real STM32 model lives in
// tests/sim; this is only the rig's smoke test.
//
// usage: gadget-smoke [--alt NAME] [--serial S] [--ready FILE] [-v]
//   --ready FILE  is created once the host has configured the device.
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/usb/ch9.h>
#include <linux/usb/raw_gadget.h> // from linux-libc-dev, or the cached kernel's uapi (-I)

#define VID               0x0483
#define PID               0xdf11
#define EP0_MAX           64
#define DFU_TRANSFER_SIZE 2048

// DFU class requests (DFU 1.1, table 3.2) and states
enum {
	DFU_DETACH = 0,
	DFU_DNLOAD,
	DFU_UPLOAD,
	DFU_GETSTATUS,
	DFU_CLRSTATUS,
	DFU_GETSTATE,
	DFU_ABORT
};
enum { DFU_STATE_IDLE = 2 };
#define DFU_FUNCTIONAL_DESCRIPTOR 0x21

enum { STR_LANGS = 0, STR_MANUFACTURER, STR_PRODUCT, STR_SERIAL, STR_ALT0 };

static int verbose;
static const char *alt_name = "@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg";
static const char *serial = "SMOKE0001";

static const struct usb_device_descriptor dev_desc = {
    .bLength = USB_DT_DEVICE_SIZE,
    .bDescriptorType = USB_DT_DEVICE,
    .bcdUSB = 0x0200,
    .bDeviceClass = 0,
    .bMaxPacketSize0 = EP0_MAX,
    .idVendor = VID,
    .idProduct = PID,
    .bcdDevice = 0x2200,
    .iManufacturer = STR_MANUFACTURER,
    .iProduct = STR_PRODUCT,
    .iSerialNumber = STR_SERIAL,
    .bNumConfigurations = 1,
};

struct __attribute__((packed)) dfu_functional {
	uint8_t bLength;
	uint8_t bDescriptorType;
	uint8_t bmAttributes;
	uint16_t wDetachTimeOut;
	uint16_t wTransferSize;
	uint16_t bcdDFUVersion;
};

struct __attribute__((packed)) config_block {
	struct usb_config_descriptor config;
	struct usb_interface_descriptor intf;
	struct dfu_functional func;
};

static const struct config_block cfg = {
    .config =
        {
            .bLength = USB_DT_CONFIG_SIZE,
            .bDescriptorType = USB_DT_CONFIG,
            .wTotalLength = sizeof(struct config_block),
            .bNumInterfaces = 1,
            .bConfigurationValue = 1,
            .iConfiguration = 0,
            .bmAttributes = USB_CONFIG_ATT_ONE | USB_CONFIG_ATT_SELFPOWER,
            .bMaxPower = 50,
        },
    .intf =
        {
            .bLength = USB_DT_INTERFACE_SIZE,
            .bDescriptorType = USB_DT_INTERFACE,
            .bInterfaceNumber = 0,
            .bAlternateSetting = 0,
            .bNumEndpoints = 0,
            .bInterfaceClass = USB_CLASS_APP_SPEC,
            .bInterfaceSubClass = 1, // device firmware upgrade
            .bInterfaceProtocol = 2, // DFU mode
            .iInterface = STR_ALT0,
        },
    .func =
        {
            .bLength = sizeof(struct dfu_functional),
            .bDescriptorType = DFU_FUNCTIONAL_DESCRIPTOR,
            .bmAttributes = 0x0b, // willDetach | canUpload | canDnload
            .wDetachTimeOut = 255,
            .wTransferSize = DFU_TRANSFER_SIZE,
            .bcdDFUVersion = 0x011a, // DfuSe
        },
};

// One control event as raw_gadget delivers it: header + the 8-byte setup packet.
struct control_event {
	struct usb_raw_event hdr;
	struct usb_ctrlrequest ctrl;
};

struct ep0_io {
	struct usb_raw_ep_io hdr;
	uint8_t data[512];
};

static void die(const char *what)
{
	fprintf(stderr, "gadget-smoke: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int string_descriptor(unsigned index, uint8_t *out, size_t cap)
{
	if (index == STR_LANGS) {
		out[0] = 4;
		out[1] = USB_DT_STRING;
		out[2] = 0x09; // en-US
		out[3] = 0x04;
		return 4;
	}
	const char *s;
	switch (index) {
	case STR_MANUFACTURER:
		s = "STMicroelectronics";
		break;
	case STR_PRODUCT:
		s = "STM32  BOOTLOADER";
		break;
	case STR_SERIAL:
		s = serial;
		break;
	case STR_ALT0:
		s = alt_name;
		break;
	default:
		return -1;
	}
	size_t n = strlen(s);
	if (2 + 2 * n > cap || 2 + 2 * n > 255)
		n = (cap < 255 ? cap - 2 : 253) / 2;
	out[0] = (uint8_t)(2 + 2 * n);
	out[1] = USB_DT_STRING;
	for (size_t i = 0; i < n; i++) { // ASCII -> UTF-16LE
		out[2 + 2 * i] = (uint8_t)s[i];
		out[3 + 2 * i] = 0;
	}
	return (int)(2 + 2 * n);
}

static void ep0_write(int fd, const void *data, size_t len, uint16_t wlength)
{
	struct ep0_io io = {0};
	if (len > wlength)
		len = wlength;
	if (len > sizeof(io.data))
		len = sizeof(io.data);
	io.hdr.ep = 0;
	io.hdr.length = (uint32_t)len;
	memcpy(io.data, data, len);
	if (ioctl(fd, USB_RAW_IOCTL_EP0_WRITE, &io) < 0)
		die("EP0_WRITE");
}

static void ep0_ack_out(int fd, uint16_t wlength)
{
	struct ep0_io io = {0};
	io.hdr.ep = 0;
	io.hdr.length = wlength > sizeof(io.data) ? sizeof(io.data) : wlength;
	if (ioctl(fd, USB_RAW_IOCTL_EP0_READ, &io) < 0)
		die("EP0_READ");
}

static void ep0_stall(int fd)
{
	if (ioctl(fd, USB_RAW_IOCTL_EP0_STALL, 0) < 0)
		die("EP0_STALL");
}

// Returns 1 when the host has just configured the device.
static int handle_control(int fd, const struct usb_ctrlrequest *c)
{
	uint16_t wvalue = c->wValue, wlength = c->wLength;
	uint8_t type = c->bRequestType & USB_TYPE_MASK;
	int in = (c->bRequestType & USB_DIR_IN) != 0;
	uint8_t buf[256];

	if (verbose)
		fprintf(stderr, "gadget-smoke: setup %02x %02x %04x %04x %u\n", c->bRequestType,
		        c->bRequest, wvalue, c->wIndex, wlength);

	if (type == USB_TYPE_STANDARD) {
		switch (c->bRequest) {
		case USB_REQ_GET_DESCRIPTOR:
			switch (wvalue >> 8) {
			case USB_DT_DEVICE:
				ep0_write(fd, &dev_desc, sizeof(dev_desc), wlength);
				return 0;
			case USB_DT_CONFIG:
				ep0_write(fd, &cfg, sizeof(cfg), wlength);
				return 0;
			case USB_DT_STRING: {
				int n = string_descriptor(wvalue & 0xff, buf, sizeof(buf));
				if (n < 0)
					break;
				ep0_write(fd, buf, (size_t)n, wlength);
				return 0;
			}
			default: // device qualifier, BOS, ...: not offered
				break;
			}
			break;
		case USB_REQ_SET_CONFIGURATION:
			if (ioctl(fd, USB_RAW_IOCTL_VBUS_DRAW,
			          (unsigned long)cfg.config.bMaxPower) < 0)
				die("VBUS_DRAW");
			if (ioctl(fd, USB_RAW_IOCTL_CONFIGURE, 0) < 0)
				die("CONFIGURE");
			ep0_ack_out(fd, 0);
			return 1;
		case USB_REQ_GET_CONFIGURATION:
			buf[0] = 1;
			ep0_write(fd, buf, 1, wlength);
			return 0;
		case USB_REQ_SET_INTERFACE:
			if (c->wIndex == 0 && wvalue == 0) {
				ep0_ack_out(fd, 0);
				return 0;
			}
			break;
		case USB_REQ_GET_INTERFACE:
			buf[0] = 0;
			ep0_write(fd, buf, 1, wlength);
			return 0;
		case USB_REQ_GET_STATUS:
			buf[0] = 1; // self powered
			buf[1] = 0;
			ep0_write(fd, buf, 2, wlength);
			return 0;
		default:
			break;
		}
	} else if (type == USB_TYPE_CLASS) {
		switch (c->bRequest) {
		case DFU_GETSTATUS:
			if (!in)
				break;
			memset(buf, 0, 6); // bStatus OK, bwPollTimeout 0
			buf[4] = DFU_STATE_IDLE;
			ep0_write(fd, buf, 6, wlength);
			return 0;
		case DFU_GETSTATE:
			if (!in)
				break;
			buf[0] = DFU_STATE_IDLE;
			ep0_write(fd, buf, 1, wlength);
			return 0;
		case DFU_CLRSTATUS:
		case DFU_ABORT:
			if (in)
				break;
			ep0_ack_out(fd, 0);
			return 0;
		default: // DETACH, DNLOAD, UPLOAD: not implemented by the smoke device
			break;
		}
	}
	ep0_stall(fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *ready_file = NULL;
	static const struct option opts[] = {
	    {"alt", required_argument, 0, 'a'},
	    {"serial", required_argument, 0, 's'},
	    {"ready", required_argument, 0, 'r'},
	    {"verbose", no_argument, 0, 'v'},
	    {0, 0, 0, 0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "a:s:r:v", opts, NULL)) != -1) {
		switch (o) {
		case 'a':
			alt_name = optarg;
			break;
		case 's':
			serial = optarg;
			break;
		case 'r':
			ready_file = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			fprintf(stderr, "usage: %s [--alt NAME] [--serial S] [--ready FILE] [-v]\n",
			        argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	int fd = open("/dev/raw-gadget", O_RDWR);
	if (fd < 0)
		die("open /dev/raw-gadget");

	struct usb_raw_init init = {0};
	snprintf((char *)init.driver_name, sizeof(init.driver_name), "dummy_udc");
	snprintf((char *)init.device_name, sizeof(init.device_name), "dummy_udc.0");
	init.speed = USB_SPEED_HIGH;
	if (ioctl(fd, USB_RAW_IOCTL_INIT, &init) < 0)
		die("USB_RAW_IOCTL_INIT");
	if (ioctl(fd, USB_RAW_IOCTL_RUN, 0) < 0)
		die("USB_RAW_IOCTL_RUN");
	printf("gadget-smoke: running %04x:%04x alt0=\"%s\"\n", VID, PID, alt_name);

	for (;;) {
		struct control_event ev = {0};
		ev.hdr.type = 0;
		ev.hdr.length = sizeof(ev.ctrl);
		if (ioctl(fd, USB_RAW_IOCTL_EVENT_FETCH, &ev) < 0)
			die("EVENT_FETCH");
		if (ev.hdr.type == USB_RAW_EVENT_CONNECT) {
			if (verbose)
				fprintf(stderr, "gadget-smoke: connect\n");
			continue;
		}
		if (ev.hdr.type != USB_RAW_EVENT_CONTROL)
			continue;
		if (handle_control(fd, &ev.ctrl)) {
			printf("gadget-smoke: configured\n");
			if (ready_file) {
				int rf = open(ready_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
				if (rf >= 0)
					close(rf);
			}
		}
	}
}
