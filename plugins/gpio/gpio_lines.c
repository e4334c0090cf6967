/* The two backends of gpio_lines.h: the GPIO character device v2 uapi and
 * the v1 uapi. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/gpio.h>

#include "gpio_lines.h"

#define EVENTS_MAX 16 /* edge events drained per read */

_Static_assert(GPIO_NAME_MAX == GPIO_MAX_NAME_SIZE, "line names of both uapis");
_Static_assert(GPIO_LINES_MAX <= GPIO_V2_LINE_NUM_ATTRS_MAX - 1, "a flags attribute per line");

const char *gpio_uapi_name(enum gpio_uapi uapi)
{
	switch (uapi) {
	case GPIO_UAPI_V2:
		return "v2";
	case GPIO_UAPI_V1:
		return "v1";
	default:
		return "auto";
	}
}

/* What a kernel answers to an ioctl it does not know: ENOTTY, or EINVAL from
 * gpiolib before 5.10 (its ioctl handlers end in -EINVAL). */
static bool unknown_ioctl(int r)
{
	return r == -ENOTTY || r == -EINVAL;
}

static int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

static void close_line_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void lines_init(struct gpio_lines *l)
{
	memset(l, 0, sizeof(*l));
	l->chip_fd = -1;
	for (unsigned i = 0; i < GPIO_LINES_MAX; i++)
		l->fd[i] = -1;
}

void gpio_lines_release(struct gpio_lines *l)
{
	if (!l)
		return;
	for (unsigned i = 0; i < l->n && i < GPIO_LINES_MAX; i++)
		close_line_fd(&l->fd[i]);
	l->n = 0;
}

/* ---- line info ---- */

int gpio_line_info(int chip_fd, enum gpio_uapi uapi, unsigned offset, struct gpio_line_desc *d)
{
	int r;
	memset(d, 0, sizeof(*d));
	if (uapi == GPIO_UAPI_V1) {
		struct gpioline_info li;
		memset(&li, 0, sizeof(li));
		li.line_offset = offset;
		if ((r = xioctl(chip_fd, GPIO_GET_LINEINFO_IOCTL, &li)) < 0)
			return r;
		memcpy(d->name, li.name, sizeof(d->name));
		memcpy(d->consumer, li.consumer, sizeof(d->consumer));
		d->used = (li.flags & GPIOLINE_FLAG_KERNEL) != 0;
	} else {
		struct gpio_v2_line_info li;
		memset(&li, 0, sizeof(li));
		li.offset = offset;
		if ((r = xioctl(chip_fd, GPIO_V2_GET_LINEINFO_IOCTL, &li)) < 0)
			return r;
		memcpy(d->name, li.name, sizeof(d->name));
		memcpy(d->consumer, li.consumer, sizeof(d->consumer));
		d->used = (li.flags & GPIO_V2_LINE_FLAG_USED) != 0;
	}
	d->name[sizeof(d->name) - 1] = '\0';
	d->consumer[sizeof(d->consumer) - 1] = '\0';
	return 0;
}

int gpio_uapi_resolve(int chip_fd, unsigned lines, enum gpio_uapi uapi, enum gpio_uapi *resolved)
{
	struct gpio_line_desc d;
	int r;

	if (lines == 0) { /* nothing to probe with, nothing to request either */
		*resolved = uapi == GPIO_UAPI_AUTO ? GPIO_UAPI_V2 : uapi;
		return 0;
	}
	if (uapi != GPIO_UAPI_V1) {
		r = gpio_line_info(chip_fd, GPIO_UAPI_V2, 0, &d);
		if (r == 0 || uapi == GPIO_UAPI_V2 || !unknown_ioctl(r)) {
			*resolved = GPIO_UAPI_V2;
			return r;
		}
	}
	*resolved = GPIO_UAPI_V1;
	return gpio_line_info(chip_fd, GPIO_UAPI_V1, 0, &d);
}

/* ---- v2: one request for all lines, per-line flags as attributes ---- */

static uint64_t v2_flags(unsigned f)
{
	uint64_t r = f & GPIO_LINE_OUTPUT ? GPIO_V2_LINE_FLAG_OUTPUT : GPIO_V2_LINE_FLAG_INPUT;
	if (f & GPIO_LINE_ACTIVE_LOW)
		r |= GPIO_V2_LINE_FLAG_ACTIVE_LOW;
	if (f & GPIO_LINE_BIAS_PULL_UP)
		r |= GPIO_V2_LINE_FLAG_BIAS_PULL_UP;
	if (f & GPIO_LINE_BIAS_PULL_DOWN)
		r |= GPIO_V2_LINE_FLAG_BIAS_PULL_DOWN;
	if (f & GPIO_LINE_EDGES)
		r |= GPIO_V2_LINE_FLAG_EDGE_RISING | GPIO_V2_LINE_FLAG_EDGE_FALLING;
	return r;
}

/* The first line's flags for all, an attribute for each line that differs,
 * and the values of the outputs (inputs are left out of the values' mask). */
static void v2_config(const struct gpio_line_state *st, unsigned n, struct gpio_v2_line_config *lc)
{
	uint64_t outputs = 0, values = 0;
	memset(lc, 0, sizeof(*lc));
	lc->flags = v2_flags(st[0].flags);
	for (unsigned i = 0; i < n; i++) {
		uint64_t f = v2_flags(st[i].flags);
		if (f != lc->flags) {
			struct gpio_v2_line_config_attribute *a = &lc->attrs[lc->num_attrs++];
			a->attr.id = GPIO_V2_LINE_ATTR_ID_FLAGS;
			a->attr.flags = f;
			a->mask = 1ull << i;
		}
		if (st[i].flags & GPIO_LINE_OUTPUT) {
			outputs |= 1ull << i;
			values |= st[i].value ? 1ull << i : 0;
		}
	}
	if (outputs) {
		struct gpio_v2_line_config_attribute *a = &lc->attrs[lc->num_attrs++];
		a->attr.id = GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES;
		a->attr.values = values;
		a->mask = outputs;
	}
}

static int v2_request(int chip_fd, struct gpio_lines *l)
{
	struct gpio_v2_line_request req;
	memset(&req, 0, sizeof(req));
	for (unsigned i = 0; i < l->n; i++) {
		req.offsets[i] = l->offsets[i];
		if (l->state[i].flags & GPIO_LINE_EDGES)
			req.event_buffer_size = EVENTS_MAX;
	}
	req.num_lines = l->n;
	snprintf(req.consumer, sizeof(req.consumer), "%s", GPIO_CONSUMER);
	v2_config(l->state, l->n, &req.config);
	int r = xioctl(chip_fd, GPIO_V2_GET_LINE_IOCTL, &req);
	if (r < 0)
		return r;
	l->fd[0] = req.fd;
	return 0;
}

static int v2_set(struct gpio_lines *l, const struct gpio_line_state *st)
{
	struct gpio_v2_line_config lc;
	v2_config(st, l->n, &lc);
	return xioctl(l->fd[0], GPIO_V2_LINE_SET_CONFIG_IOCTL, &lc);
}

static int v2_get(struct gpio_lines *l, uint32_t *bits)
{
	struct gpio_v2_line_values v = {.bits = 0, .mask = (1ull << l->n) - 1};
	int r = xioctl(l->fd[0], GPIO_V2_LINE_GET_VALUES_IOCTL, &v);
	*bits = (uint32_t)v.bits;
	return r;
}

/* ---- v1: a line handle (or an event fd) per line ---- */

static uint32_t v1_flags(unsigned f)
{
	uint32_t r = f & GPIO_LINE_OUTPUT ? GPIOHANDLE_REQUEST_OUTPUT : GPIOHANDLE_REQUEST_INPUT;
	if (f & GPIO_LINE_ACTIVE_LOW)
		r |= GPIOHANDLE_REQUEST_ACTIVE_LOW;
	if (f & GPIO_LINE_BIAS_PULL_UP) /* Linux 5.5+ */
		r |= GPIOHANDLE_REQUEST_BIAS_PULL_UP;
	if (f & GPIO_LINE_BIAS_PULL_DOWN)
		r |= GPIOHANDLE_REQUEST_BIAS_PULL_DOWN;
	return r;
}

static int v1_request_line(int chip_fd, unsigned offset, const struct gpio_line_state *st, int *fd)
{
	int r;
	if (st->flags & GPIO_LINE_EDGES) {
		struct gpioevent_request er;
		memset(&er, 0, sizeof(er));
		er.lineoffset = offset;
		er.handleflags = v1_flags(st->flags);
		er.eventflags = GPIOEVENT_REQUEST_BOTH_EDGES;
		snprintf(er.consumer_label, sizeof(er.consumer_label), "%s", GPIO_CONSUMER);
		if ((r = xioctl(chip_fd, GPIO_GET_LINEEVENT_IOCTL, &er)) == 0)
			*fd = er.fd;
		return r;
	}
	struct gpiohandle_request hr;
	memset(&hr, 0, sizeof(hr));
	hr.lineoffsets[0] = offset;
	hr.lines = 1;
	hr.flags = v1_flags(st->flags);
	hr.default_values[0] = st->value;
	snprintf(hr.consumer_label, sizeof(hr.consumer_label), "%s", GPIO_CONSUMER);
	if ((r = xioctl(chip_fd, GPIO_GET_LINEHANDLE_IOCTL, &hr)) == 0)
		*fd = hr.fd;
	return r;
}

static int v1_request(int chip_fd, struct gpio_lines *l)
{
	int r;
	for (unsigned i = 0; i < l->n; i++)
		if ((r = v1_request_line(chip_fd, l->offsets[i], &l->state[i], &l->fd[i])) < 0)
			return r;
	return 0;
}

static int v1_set_line(struct gpio_lines *l, unsigned i, const struct gpio_line_state *st)
{
	const struct gpio_line_state *cur = &l->state[i];
	int r;
	if (st->flags == cur->flags) {
		if (!(st->flags & GPIO_LINE_OUTPUT) || st->value == cur->value)
			return 0;
		struct gpiohandle_data d;
		memset(&d, 0, sizeof(d));
		d.values[0] = st->value;
		return xioctl(l->fd[i], GPIOHANDLE_SET_LINE_VALUES_IOCTL, &d);
	}
	if (!((st->flags | cur->flags) & GPIO_LINE_EDGES)) {
		struct gpiohandle_config hc;
		memset(&hc, 0, sizeof(hc));
		hc.flags = v1_flags(st->flags);
		hc.default_values[0] = st->value;
		r = xioctl(l->fd[i], GPIOHANDLE_SET_CONFIG_IOCTL, &hc);
		if (r == 0 || !unknown_ioctl(r))
			return r;
	}
	/* before Linux 5.5 (no GPIOHANDLE_SET_CONFIG_IOCTL), or between a handle and an
	 * event fd: the line is requested again in its new state */
	close_line_fd(&l->fd[i]);
	return v1_request_line(l->chip_fd, l->offsets[i], st, &l->fd[i]);
}

static int v1_set(struct gpio_lines *l, const struct gpio_line_state *st)
{
	int r;
	for (unsigned i = 0; i < l->n; i++) {
		if ((r = v1_set_line(l, i, &st[i])) < 0)
			return r;
		l->state[i] = st[i];
	}
	return 0;
}

static int v1_get(struct gpio_lines *l, uint32_t *bits)
{
	int r;
	*bits = 0;
	for (unsigned i = 0; i < l->n; i++) {
		struct gpiohandle_data d;
		memset(&d, 0, sizeof(d));
		if ((r = xioctl(l->fd[i], GPIOHANDLE_GET_LINE_VALUES_IOCTL, &d)) < 0)
			return r;
		*bits |= d.values[0] ? 1u << i : 0;
	}
	return 0;
}

/* ---- the interface ---- */

int gpio_lines_request(int chip_fd, enum gpio_uapi uapi, const unsigned *offsets,
                       const struct gpio_line_state *state, unsigned n, struct gpio_lines *l)
{
	lines_init(l);
	if (n == 0 || n > GPIO_LINES_MAX || uapi == GPIO_UAPI_AUTO)
		return -EINVAL;
	l->uapi = uapi;
	l->n = n;
	l->chip_fd = chip_fd;
	memcpy(l->offsets, offsets, n * sizeof(*offsets));
	memcpy(l->state, state, n * sizeof(*state));
	/* every line free first: both uapis request the lines one after the other, and a
	 * busy NRST must not leave BOOT0 driven to its selected level and released */
	for (unsigned i = 0; i < n; i++) {
		struct gpio_line_desc d;
		int r = gpio_line_info(chip_fd, uapi, offsets[i], &d);
		if (r < 0 || d.used) {
			lines_init(l);
			return r < 0 ? r : -EBUSY;
		}
	}
	int r = uapi == GPIO_UAPI_V2 ? v2_request(chip_fd, l) : v1_request(chip_fd, l);
	if (r < 0)
		gpio_lines_release(l);
	return r;
}

int gpio_lines_set(struct gpio_lines *l, const struct gpio_line_state *state)
{
	if (l->uapi == GPIO_UAPI_V1)
		return v1_set(l, state);
	int r = v2_set(l, state);
	if (r == 0)
		memcpy(l->state, state, l->n * sizeof(*state));
	return r;
}

int gpio_lines_get(struct gpio_lines *l, uint32_t *bits)
{
	return l->uapi == GPIO_UAPI_V1 ? v1_get(l, bits) : v2_get(l, bits);
}

int gpio_lines_wait(struct gpio_lines *l, int timeout_ms)
{
	struct pollfd p[GPIO_LINES_MAX];
	unsigned np = 0;
	for (unsigned i = 0; i < l->n; i++) {
		if (!(l->state[i].flags & GPIO_LINE_EDGES))
			continue;
		/* v2: the request's one fd carries the events of all its lines */
		p[np].fd = l->uapi == GPIO_UAPI_V1 ? l->fd[i] : l->fd[0];
		p[np++].events = POLLIN;
		if (l->uapi != GPIO_UAPI_V1)
			break;
	}
	if (np == 0)
		return -EINVAL;
	int n = poll(p, np, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 1 : -errno;
	for (unsigned i = 0; i < np && n > 0; i++) {
		if (!(p[i].revents & POLLIN))
			continue;
		union {
			struct gpio_v2_line_event v2[EVENTS_MAX];
			struct gpioevent_data v1[EVENTS_MAX];
		} ev;
		if (read(p[i].fd, &ev, l->uapi == GPIO_UAPI_V1 ? sizeof(ev.v1) : sizeof(ev.v2)) <
		        0 &&
		    errno != EINTR && errno != EAGAIN)
			return -errno;
	}
	return n > 0;
}
