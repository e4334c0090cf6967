/* The in-process transport: the flasher's control requests go straight to
 * the STM32 model, for unit tests and benchmarks without USB. */
#pragma once

#include "dfu.h"
#include "stm32_model.h"

/* On the real clock: the model's operations take real time (benchmarks). */
struct dfu_transport model_transport(struct stm32_model *model);

/* Virtual time shared by the flasher and the model: it moves only when one
 * of them waits (the flasher's poll sleeps, the model holding the pipe or
 * timing out a request), so deadlines and busy times are exact however
 * loaded the machine is, and no test sleeps for real. Single-threaded. */
struct model_clock {
	uint64_t now_ns;
	struct stm32_model_clock model; /* stm32_model_options.clock = &this.model */
};

void model_clock_init(struct model_clock *c);
uint64_t model_clock_ms(const struct model_clock *c);
/* The transport of model_transport with the flasher on clock c; the model
 * must have been created with options.clock = &c->model. */
struct dfu_transport model_transport_on(struct stm32_model *model, struct model_clock *c);
/* Puts the flasher of t on clock c (for test transports that wrap the model). */
void model_clock_attach(struct dfu_transport *t, struct model_clock *c);
