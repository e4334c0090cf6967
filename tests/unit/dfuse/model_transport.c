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
	return (struct dfu_transport){model, model_control, model_set_alt};
}
