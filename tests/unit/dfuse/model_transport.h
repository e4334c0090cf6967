/* The in-process transport: the flasher's control requests go straight to
 * the STM32 model, for unit tests and benchmarks without USB. */
#pragma once

#include "dfu.h"
#include "stm32_model.h"

struct dfu_transport model_transport(struct stm32_model *model);
