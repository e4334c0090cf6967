#include "model_transport.h"

static int model_control(void *ctx, uint8_t type, uint8_t req, uint16_t value, uint16_t index,
                         uint8_t *data, uint16_t len, unsigned timeout_ms)
{
	return stm32_model_control(ctx, type, req, value, index, data, len, timeout_ms);
}

static int model_set_alt(void *ctx, uint8_t interface, uint8_t alt)
{
	/* standard SET_INTERFACE, as usbfs sends it */
	int r = stm32_model_control(ctx, 0x01, 11, alt, interface, NULL, 0, 1000);
	return r < 0 ? r : 0;
}

struct dfu_transport model_transport(struct stm32_model *model)
{
	return (struct dfu_transport){
	    .ctx = model, .control = model_control, .set_alt = model_set_alt};
}

static uint64_t clock_now_ns(void *ctx)
{
	return ((struct model_clock *)ctx)->now_ns;
}

static void clock_sleep_until_ns(void *ctx, uint64_t when)
{
	struct model_clock *c = ctx;
	if (when > c->now_ns)
		c->now_ns = when;
}

static uint64_t clock_now_ms(void *ctx)
{
	return ((struct model_clock *)ctx)->now_ns / 1000000u;
}

static void clock_sleep_ms(void *ctx, uint32_t ms)
{
	((struct model_clock *)ctx)->now_ns += (uint64_t)ms * 1000000u;
}

void model_clock_init(struct model_clock *c)
{
	/* far from 0, as a monotonic clock is: only differences may matter */
	c->now_ns = 1000000000u;
	c->model = (struct stm32_model_clock){clock_now_ns, clock_sleep_until_ns, c};
}

uint64_t model_clock_ms(const struct model_clock *c)
{
	return c->now_ns / 1000000u;
}

void model_clock_attach(struct dfu_transport *t, struct model_clock *c)
{
	t->now_ms = clock_now_ms;
	t->sleep_ms = clock_sleep_ms;
	t->clock_ctx = c;
}

struct dfu_transport model_transport_on(struct stm32_model *model, struct model_clock *c)
{
	struct dfu_transport t = model_transport(model);
	model_clock_attach(&t, c);
	return t;
}
