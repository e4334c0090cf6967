/* The test application of the VM rig: a real Cortex-M image (vector table at
 * the start of flash, code, constants) built with arm-none-eabi-gcc. The chip
 * model does not execute it; it checks the vector table and reads the
 * version marker, as a bootloader-aware board test would. FW_VERSION comes
 * from the build (-DFW_VERSION="2.0.0"). */
#include <stdint.h>

#ifndef FW_VERSION
#error "build with -DFW_VERSION=\"x.y.z\""
#endif

extern uint32_t _estack;

void reset_handler(void);
void fault_handler(void);

/* "MCUOTA-VERSION:" + version + NUL: what the chip reports over USB. */
__attribute__((used)) const char mcuota_version[] = "MCUOTA-VERSION:" FW_VERSION;

__attribute__((section(".isr_vector"), used)) const void *const app_vectors[16] = {
    &_estack,
    reset_handler,
    fault_handler,
    fault_handler,
    fault_handler,
    fault_handler,
    fault_handler,
    0,
    0,
    0,
    0,
    fault_handler,
    fault_handler,
    0,
    fault_handler,
    fault_handler,
};

void fault_handler(void)
{
	for (;;)
		;
}

void reset_handler(void)
{
	volatile uint32_t sum = 0;
	for (;;)
		for (const char *p = mcuota_version; *p; p++)
			sum += (uint8_t)*p;
}
