#include "gadget.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/usb/raw_gadget.h>

/* One control event as raw_gadget delivers it: header + the SETUP packet. */
struct control_event {
	struct usb_raw_event hdr;
	struct usb_ctrlrequest ctrl;
};

struct ep0_io {
	struct usb_raw_ep_io hdr;
	uint8_t data[GADGET_EP0_MAX];
};

static int ioctl_errno(int fd, unsigned long request, void *arg)
{
	return ioctl(fd, request, arg) < 0 ? -errno : 0;
}

int gadget_open(enum usb_device_speed speed, const char *udc)
{
	struct usb_raw_init init;
	int fd, r;

	fd = open("/dev/raw-gadget", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&init, 0, sizeof(init));
	snprintf((char *)init.driver_name, sizeof(init.driver_name), "dummy_udc");
	snprintf((char *)init.device_name, sizeof(init.device_name), "%s", udc);
	init.speed = (uint8_t)speed;
	r = ioctl_errno(fd, USB_RAW_IOCTL_INIT, &init);
	if (r == 0)
		r = ioctl_errno(fd, USB_RAW_IOCTL_RUN, NULL);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

void gadget_close(int fd)
{
	if (fd >= 0)
		close(fd);
}

int gadget_fetch(int fd, struct usb_ctrlrequest *ctrl)
{
	struct control_event ev;
	int r;

	memset(&ev, 0, sizeof(ev));
	ev.hdr.length = sizeof(ev.ctrl);
	r = ioctl_errno(fd, USB_RAW_IOCTL_EVENT_FETCH, &ev);
	if (r < 0)
		return r;
	switch (ev.hdr.type) {
	case USB_RAW_EVENT_CONNECT:
		return GADGET_EVENT_CONNECT;
	case USB_RAW_EVENT_CONTROL:
		if (ev.hdr.length < sizeof(ev.ctrl))
			return -EPROTO;
		ctrl->bRequestType = ev.ctrl.bRequestType;
		ctrl->bRequest = ev.ctrl.bRequest;
		ctrl->wValue = le16toh(ev.ctrl.wValue);
		ctrl->wIndex = le16toh(ev.ctrl.wIndex);
		ctrl->wLength = le16toh(ev.ctrl.wLength);
		return GADGET_EVENT_CONTROL;
	default:
		return GADGET_EVENT_OTHER;
	}
}

int gadget_ep0_write(int fd, const void *data, size_t len, bool zero)
{
	struct ep0_io io;
	int r;

	if (len > sizeof(io.data))
		return -EINVAL;
	memset(&io.hdr, 0, sizeof(io.hdr));
	io.hdr.length = (uint32_t)len;
	io.hdr.flags = zero ? USB_RAW_IO_FLAGS_ZERO : 0;
	if (len)
		memcpy(io.data, data, len);
	r = ioctl(fd, USB_RAW_IOCTL_EP0_WRITE, &io);
	return r < 0 ? -errno : r;
}

int gadget_ep0_read(int fd, void *data, size_t len)
{
	struct ep0_io io;
	int r;

	if (len > sizeof(io.data))
		return -EINVAL;
	memset(&io.hdr, 0, sizeof(io.hdr));
	io.hdr.length = (uint32_t)len;
	r = ioctl(fd, USB_RAW_IOCTL_EP0_READ, &io);
	if (r < 0)
		return -errno;
	if ((size_t)r > len)
		r = (int)len;
	if (r)
		memcpy(data, io.data, (size_t)r);
	return r;
}

int gadget_ep0_stall(int fd)
{
	return ioctl_errno(fd, USB_RAW_IOCTL_EP0_STALL, NULL);
}

int gadget_configure(int fd, unsigned max_power)
{
	int r = ioctl(fd, USB_RAW_IOCTL_VBUS_DRAW, (unsigned long)max_power);
	if (r < 0)
		return -errno;
	return ioctl_errno(fd, USB_RAW_IOCTL_CONFIGURE, NULL);
}
