#include "app.h"

#include <string.h>

#define APP_BCD_DEVICE 0x0200
#define APP_MAX_POWER  50 /* 100 mA */

enum { STR_LANGID, STR_MANUFACTURER, STR_PRODUCT, STR_SERIAL };

#define DFU_FUNCTIONAL_TYPE 0x21
/* the 9 bytes of the DFU functional descriptor */
#define DFU_FUNCTIONAL                                                                             \
	9, DFU_FUNCTIONAL_TYPE, APP_DFU_ATTRIBUTES, (uint8_t)APP_DFU_DETACH_TIMEOUT,               \
	    (uint8_t)(APP_DFU_DETACH_TIMEOUT >> 8), (uint8_t)APP_DFU_TRANSFER_SIZE,                \
	    (uint8_t)(APP_DFU_TRANSFER_SIZE >> 8), (uint8_t)APP_DFU_VERSION,                       \
	    (uint8_t)(APP_DFU_VERSION >> 8)

static size_t put(uint8_t *reply, size_t cap, uint16_t wlength, const void *src, size_t n)
{
	if (n > wlength)
		n = wlength;
	if (n > cap)
		n = cap;
	memcpy(reply, src, n);
	return n;
}

static size_t string_descriptor(uint8_t *d, const char *s)
{
	size_t n = strlen(s);
	if (n > 126)
		n = 126;
	d[0] = (uint8_t)(2 + 2 * n);
	d[1] = USB_DT_STRING;
	for (size_t i = 0; i < n; i++) { /* ASCII -> UTF-16LE */
		d[2 + 2 * i] = (uint8_t)s[i];
		d[3 + 2 * i] = 0;
	}
	return 2 + 2 * n;
}

static enum app_action get_descriptor(const struct app_identity *id, uint16_t wvalue,
                                      uint16_t wlength, uint8_t *reply, size_t cap, size_t *len)
{
	uint8_t d[256];
	size_t n;

	switch (wvalue >> 8) {
	case USB_DT_DEVICE: {
		const uint8_t dev[18] = {18,
		                         USB_DT_DEVICE,
		                         0x00,
		                         0x02, /* USB 2.0 */
		                         0,
		                         0,
		                         0, /* class per interface */
		                         64,
		                         (uint8_t)id->vid,
		                         (uint8_t)(id->vid >> 8),
		                         (uint8_t)id->pid,
		                         (uint8_t)(id->pid >> 8),
		                         (uint8_t)APP_BCD_DEVICE,
		                         (uint8_t)(APP_BCD_DEVICE >> 8),
		                         STR_MANUFACTURER,
		                         STR_PRODUCT,
		                         STR_SERIAL,
		                         1};
		*len = put(reply, cap, wlength, dev, sizeof(dev));
		return APP_ANSWER;
	}
	case USB_DT_CONFIG: {
		const uint8_t conf[36] = {
		    9, USB_DT_CONFIG, sizeof(conf), 0, 2, 1, 0, 0xC0 /* self-powered */,
		    APP_MAX_POWER,
		    /* a vendor-specific interface without endpoints: the commands */
		    9, USB_DT_INTERFACE, 0, 0, 0, USB_CLASS_VENDOR_SPEC, 0, 0, APP_STRING_VERSION,
		    /* the DFU runtime interface, its functional descriptor right after it */
		    9, USB_DT_INTERFACE, APP_DFU_INTERFACE, 0, 0, 0xFE, 0x01, 0x01, APP_STRING_DFU,
		    DFU_FUNCTIONAL};
		if ((wvalue & 0xFF) != 0)
			return APP_STALL;
		*len = put(reply, cap, wlength, conf, sizeof(conf));
		return APP_ANSWER;
	}
	case USB_DT_STRING:
		switch (wvalue & 0xFF) {
		case STR_LANGID:
			n = 4;
			memcpy(d, (const uint8_t[]){4, USB_DT_STRING, 0x09, 0x04}, 4); /* en-US */
			break;
		case STR_MANUFACTURER:
			n = string_descriptor(d, "STMicroelectronics");
			break;
		case STR_PRODUCT:
			n = string_descriptor(d, "mcu-ota test application");
			break;
		case STR_SERIAL:
			n = string_descriptor(d, id->serial);
			break;
		case APP_STRING_VERSION:
			n = string_descriptor(d, id->version);
			break;
		case APP_STRING_DFU:
			n = string_descriptor(d, "mcu-ota DFU runtime");
			break;
		default:
			return APP_STALL;
		}
		*len = put(reply, cap, wlength, d, n);
		return APP_ANSWER;
	default: /* device qualifier and the rest: a full-speed device stalls */
		return APP_STALL;
	}
}

enum app_action app_request(const struct app_identity *id, const struct usb_ctrlrequest *ctrl,
                            uint8_t *reply, size_t cap, size_t *len)
{
	const uint8_t zero = 0, one = 1;
	const uint16_t wvalue = ctrl->wValue, wlength = ctrl->wLength;

	*len = 0;
	switch (ctrl->bRequestType) {
	case USB_DIR_IN | USB_TYPE_STANDARD | USB_RECIP_DEVICE:
		if (ctrl->bRequest == USB_REQ_GET_DESCRIPTOR)
			return get_descriptor(id, wvalue, wlength, reply, cap, len);
		if (ctrl->bRequest == USB_REQ_GET_CONFIGURATION) {
			*len = put(reply, cap, wlength, &one, 1);
			return APP_ANSWER;
		}
		return APP_STALL;
	case USB_DIR_OUT | USB_TYPE_STANDARD | USB_RECIP_DEVICE:
		if (ctrl->bRequest == USB_REQ_SET_CONFIGURATION && wvalue == 1)
			return APP_CONFIGURE;
		if (ctrl->bRequest == USB_REQ_SET_CONFIGURATION && wvalue == 0)
			return APP_ANSWER;
		return APP_STALL;
	case USB_DIR_IN | USB_TYPE_STANDARD | USB_RECIP_INTERFACE:
		if (ctrl->bRequest == USB_REQ_GET_INTERFACE && ctrl->wIndex <= APP_DFU_INTERFACE) {
			*len = put(reply, cap, wlength, &zero, 1);
			return APP_ANSWER;
		}
		/* the DFU functional descriptor on its own, as DFU 1.1 allows hosts to ask */
		if (ctrl->bRequest == USB_REQ_GET_DESCRIPTOR && ctrl->wIndex == APP_DFU_INTERFACE &&
		    wvalue == DFU_FUNCTIONAL_TYPE << 8) {
			const uint8_t f[9] = {DFU_FUNCTIONAL};
			*len = put(reply, cap, wlength, f, sizeof(f));
			return APP_ANSWER;
		}
		return APP_STALL;
	case USB_DIR_OUT | USB_TYPE_STANDARD | USB_RECIP_INTERFACE:
		if (ctrl->bRequest == USB_REQ_SET_INTERFACE && ctrl->wIndex <= APP_DFU_INTERFACE &&
		    wvalue == 0)
			return APP_ANSWER;
		return APP_STALL;
	case USB_DIR_IN | USB_TYPE_CLASS | USB_RECIP_INTERFACE:
		if (ctrl->wIndex != APP_DFU_INTERFACE || wvalue != 0)
			return APP_STALL;
		if (ctrl->bRequest == APP_DFU_GETSTATUS) {
			/* OK, no poll timeout, appIDLE, no string */
			const uint8_t st[6] = {0, 0, 0, 0, 0, 0};
			*len = put(reply, cap, wlength, st, sizeof(st));
			return APP_ANSWER;
		}
		if (ctrl->bRequest == APP_DFU_GETSTATE) {
			*len = put(reply, cap, wlength, &zero, 1); /* appIDLE */
			return APP_ANSWER;
		}
		return APP_STALL;
	case USB_DIR_OUT | USB_TYPE_CLASS | USB_RECIP_INTERFACE:
		/* wValue is the host's detach timeout: with bitWillDetach the
		 * application does not wait for a reset, it goes at once */
		if (ctrl->bRequest == APP_DFU_DETACH && ctrl->wIndex == APP_DFU_INTERFACE &&
		    wlength == 0)
			return APP_ENTER_BOOTLOADER;
		return APP_STALL;
	case USB_DIR_IN | USB_TYPE_VENDOR | USB_RECIP_DEVICE:
		if (ctrl->bRequest == APP_REQ_GET_VERSION && wvalue == 0 && ctrl->wIndex == 0) {
			*len = put(reply, cap, wlength, id->version, strlen(id->version));
			return APP_ANSWER;
		}
		return APP_STALL;
	case USB_DIR_OUT | USB_TYPE_VENDOR | USB_RECIP_DEVICE:
		if (ctrl->bRequest == APP_REQ_ENTER_BOOTLOADER && wvalue == 0 &&
		    ctrl->wIndex == 0 && wlength == 0)
			return APP_ENTER_BOOTLOADER;
		return APP_STALL;
	default:
		return APP_STALL;
	}
}
