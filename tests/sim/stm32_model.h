/* A model of the STM32 system-memory (ROM) DfuSe bootloader, as seen from the
 * USB host: descriptors, DFU class requests, the DfuSe command set, flash
 * that behaves like flash, datasheet operation times, read protection,
 * write protection and injected faults. See docs/protocol.md §8.
 *
 * The model is transport-agnostic: a front end (in-process for unit tests,
 * raw_gadget in the VM rig) feeds it control requests with stm32_model_control.
 * Operations run on the GETSTATUS that follows a command, and the model holds
 * the control pipe (blocks in stm32_model_control) for their duration, as the
 * ROM does; on profiles with stall_while_busy it STALLs GETSTATUS instead.
 *
 * Choices the contract leaves open (documented in stm32_model.c too):
 * - the model comes up configured (configuration 1, alt 0), as after the
 *   host OS enumerated it; it is not thread-safe (a front end serialises);
 * - an operation's effect on memory is applied when it starts (on the first
 *   GETSTATUS), its end time only gates the pipe; busy_us and erase counts
 *   are therefore exact at time_scale 0;
 * - writes to write-protected sectors and erases of them succeed without
 *   changing anything; mass erase skips them; Read Unprotect erases all;
 * - an option-byte write or Read Unprotect ends with the chip resetting
 *   itself (disconnect, reason STM32_MODEL_SELF_RESET); the RDP level is
 *   re-read from the option bytes at stm32_model_reset.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Return values of stm32_model_control besides a byte count. */
#define STM32_MODEL_STALL    (-32)  /* -EPIPE: the request is stalled */
#define STM32_MODEL_GONE     (-19)  /* -ENODEV: the device left the bus */
#define STM32_MODEL_TIMEDOUT (-110) /* -ETIMEDOUT: the host gave up waiting */

/* DFU 1.1 states and status codes (docs/protocol.md §1). */
enum stm32_dfu_state {
	STM32_DFU_APP_IDLE = 0,
	STM32_DFU_APP_DETACH = 1,
	STM32_DFU_IDLE = 2,
	STM32_DFU_DNLOAD_SYNC = 3,
	STM32_DFU_DNBUSY = 4,
	STM32_DFU_DNLOAD_IDLE = 5,
	STM32_DFU_MANIFEST_SYNC = 6,
	STM32_DFU_MANIFEST = 7,
	STM32_DFU_MANIFEST_WAIT_RESET = 8,
	STM32_DFU_UPLOAD_IDLE = 9,
	STM32_DFU_ERROR = 10,
};

enum stm32_dfu_status {
	STM32_DFU_OK = 0x00,
	STM32_DFU_ERR_TARGET = 0x01,
	STM32_DFU_ERR_FILE = 0x02,
	STM32_DFU_ERR_WRITE = 0x03,
	STM32_DFU_ERR_ERASE = 0x04,
	STM32_DFU_ERR_CHECK_ERASED = 0x05,
	STM32_DFU_ERR_PROG = 0x06,
	STM32_DFU_ERR_VERIFY = 0x07,
	STM32_DFU_ERR_ADDRESS = 0x08,
	STM32_DFU_ERR_NOTDONE = 0x09,
	STM32_DFU_ERR_FIRMWARE = 0x0A,
	STM32_DFU_ERR_VENDOR = 0x0B,
	STM32_DFU_ERR_USBR = 0x0C,
	STM32_DFU_ERR_POR = 0x0D,
	STM32_DFU_ERR_UNKNOWN = 0x0E,
	STM32_DFU_ERR_STALLEDPKT = 0x0F,
};

struct stm32_alt_profile {
	const char *descriptor; /* the alt setting's interface string, e.g. "@Internal Flash
	                           /0x08000000/04*016Kg,..." */
};

/* A datasheet-typical erase time for one sector size (profiles list the sizes
 * the datasheet names; other sizes use erase_us_per_kib / erase_min_us). */
struct stm32_erase_time {
	uint32_t sector_bytes;
	uint32_t us;
};

struct stm32_profile {
	const char *name; /* "F407", "F405", "F411", "F072", "L4", "G474", "H743" */
	uint16_t vid, pid, bcd_device;
	const char *manufacturer; /* "STMicroelectronics" */
	const char *product;      /* "STM32  BOOTLOADER" or "DFU in FS Mode" */
	uint16_t transfer_size;   /* wTransferSize: 2048, or 1024 for G474/H743 */
	uint8_t attributes;       /* bmAttributes, 0x0B on the F4 ROM */
	uint16_t detach_timeout;  /* wDetachTimeOut */
	size_t alt_count;
	struct stm32_alt_profile alts[4];
	uint32_t flash_base, flash_size;
	uint32_t sram_base, sram_size; /* for the vector-table plausibility check */
	/* Datasheet times in microseconds. Erase time depends on sector size:
	 * erase_us_per_kib * KiB, at least erase_min_us. */
	uint32_t erase_us_per_kib; /* typical */
	uint32_t erase_min_us;
	uint32_t mass_erase_us;
	uint32_t program_us_per_word; /* per program_word_bytes */
	uint32_t program_word_bytes;  /* 4 on F4 (x32), 8 on L4/G4 (double word), 32 on H7 */
	bool check_erased;            /* refuse to program a non-erased word (ECC families) */
	bool stall_while_busy;        /* GETSTATUS STALLs while an operation runs (L4) */
	uint32_t poll_timeout_ms;     /* bwPollTimeout reported on the first GETSTATUS */
	/* Application side (issue 3): what a booted image enumerates as. */
	uint16_t app_vid, app_pid;
	/* Added after the first contract: */
	struct stm32_erase_time erase_times[4]; /* exact typical times by sector size */
	int rdp_offset; /* byte of the RDP level in the "Option Bytes" alt (0xAA = level 0), -1:
	                   none */
	uint32_t
	    system_memory_base; /* AN2606: where the ROM lives (MSP at [base], PC at [base+4]) */
};

/* Profiles are static; NULL when the name is unknown. */
const struct stm32_profile *stm32_profile_find(const char *name);
/* Datasheet-typical time, at time_scale 1.0, to erase one sector of this
 * size, and to program bytes in one go: what the model spends, and so the
 * floor a benchmark compares a host with. */
uint32_t stm32_profile_erase_us(const struct stm32_profile *profile, uint32_t sector_bytes);
uint64_t stm32_profile_program_us(const struct stm32_profile *profile, uint32_t bytes);
/* NULL-terminated list of all profile names. */
const char *const *stm32_profile_names(void);

/* The model's time: CLOCK_MONOTONIC unless a front end gives its own (the unit
 * tests use a virtual clock that only moves when the model waits, so their
 * timings are exact however loaded the machine is). sleep_until_ns returns
 * once now_ns() >= when. */
struct stm32_model_clock {
	uint64_t (*now_ns)(void *ctx);
	void (*sleep_until_ns)(void *ctx, uint64_t when);
	void *ctx;
};

struct stm32_model_options {
	/* 0 = operations complete instantly; 1.0 = datasheet time; 0.01 = 1% */
	double time_scale;
	const struct stm32_model_clock *clock; /* NULL: the real monotonic clock */
	uint8_t uid[12];                       /* chip UID; the USB serial is derived from it */
	bool start_in_error;                   /* come up in dfuERROR/errFIRMWARE (blank chip) */
	bool read_protected;                   /* RDP level 1 */
	uint32_t write_protected_sectors[4];   /* bitmap of sector indexes of alt 0 */
};

/* Faults to inject; zero means off. Request and block numbers count from 1,
 * starting at the stm32_model_set_faults call (every stm32_model_control
 * call is a request; a data block is a DNLOAD with wValue >= 2 and data that
 * the state accepts). */
struct stm32_model_faults {
	unsigned stall_request;       /* STALL the Nth control request */
	unsigned disconnect_at_block; /* vanish when the Nth data block is downloaded */
	uint32_t flip_bit_address;    /* after programming, flip bit 0 at this address */
	bool flip_bit;
	bool flip_bit_once;    /* only the first programming there flips it (a transient fault) */
	bool erase_stays_busy; /* every erase takes forever */
};

struct stm32_model;

struct stm32_model *stm32_model_new(const struct stm32_profile *profile,
                                    const struct stm32_model_options *options);
void stm32_model_free(struct stm32_model *model);

void stm32_model_set_faults(struct stm32_model *model, const struct stm32_model_faults *faults);

/* Handle one control request. For IN requests (bmRequestType & 0x80) up to
 * wLength bytes are written to data; for OUT requests wLength bytes are read
 * from data. Returns the number of bytes transferred, or one of the
 * STM32_MODEL_* codes. timeout_ms is how long the host waits for this
 * request (0 = forever): when an operation would hold the pipe longer, the
 * call returns STM32_MODEL_TIMEDOUT after timeout_ms and the operation goes
 * on. Standard requests (GET_DESCRIPTOR, SET_INTERFACE, ...) are answered too.
 * While an operation runs, stall_while_busy profiles STALL class requests at
 * once (standard requests wait). An operation that never ends (the
 * erase_stays_busy fault) makes a request with timeout_ms 0 return
 * STM32_MODEL_TIMEDOUT at once instead of hanging the caller. */
int stm32_model_control(struct stm32_model *model, uint8_t bmRequestType, uint8_t bRequest,
                        uint16_t wValue, uint16_t wIndex, uint8_t *data, uint16_t wLength,
                        unsigned timeout_ms);

/* Reset the chip: the ROM starts again in dfuIDLE (flash content kept), or in
 * dfuERROR/errFIRMWARE when start_in_error is set and the first flash word is
 * still erased (a blank chip). An operation in progress is abandoned. */
void stm32_model_reset(struct stm32_model *model);
/* Whether the device is on the bus (false after a disconnect fault or leave). */
bool stm32_model_connected(const struct stm32_model *model);
/* After a leave: the address the chip jumped to. */
uint32_t stm32_model_boot_address(const struct stm32_model *model);

/* Direct access to the chip's main flash (alt 0), for tests and preloading. */
uint8_t *stm32_model_flash(struct stm32_model *model, size_t *size);
/* Counters for tests: how often each sector of alt 0 was erased. */
unsigned stm32_model_erase_count(const struct stm32_model *model, size_t sector_index);
/* The physical time, in microseconds at time_scale 1.0, of the operations
 * performed so far (erases + programming): the floor any host can reach. */
uint64_t stm32_model_busy_us(const struct stm32_model *model);

/* The USB serial number string the model reports (12 hex digits from the UID). */
const char *stm32_model_serial(const struct stm32_model *model);

/* Added after the first contract. */

/* The DFU state and status as the next GETSTATUS would see them before any
 * transition (an operation still running shows STM32_DFU_DNBUSY). */
enum stm32_dfu_state stm32_model_state(const struct stm32_model *model);
enum stm32_dfu_status stm32_model_status(const struct stm32_model *model);

/* Why the device left the bus. */
enum stm32_model_gone_reason {
	STM32_MODEL_ON_BUS = 0,     /* connected */
	STM32_MODEL_LEFT_DFU = 1,   /* leave (manifestation): jumped to the boot address */
	STM32_MODEL_SELF_RESET = 2, /* option-byte write or Read Unprotect: the chip reset itself */
	STM32_MODEL_FAULT_GONE = 3, /* the disconnect_at_block fault */
};
enum stm32_model_gone_reason stm32_model_gone_reason(const struct stm32_model *model);

/* RDP level 1 active (changes on reset after an option-byte write, or by Read Unprotect). */
bool stm32_model_read_protected(const struct stm32_model *model);

/* Number of erasable sectors (pages) of alt 0. */
size_t stm32_model_sector_count(const struct stm32_model *model);

/* Copy len bytes at address from the memory of alt setting alt (any alt,
 * regardless of RDP and access type): 0, or -EINVAL/-EFAULT. */
int stm32_model_read(const struct stm32_model *model, unsigned alt, uint32_t address, void *buf,
                     size_t len);

/* After a leave: whether the vector table at the boot address is plausible
 * (initial MSP inside SRAM, reset handler a Thumb address inside flash). */
bool stm32_model_app_valid(const struct stm32_model *model);

/* Added for the chip of the VM rig (issue 3). */

/* Whether the vector table at address is plausible, as the core checks it
 * when it boots from there: initial MSP inside SRAM and word-aligned, reset
 * handler a Thumb (odd) address inside flash. stm32_model_app_valid is this
 * at the boot address of the last leave; a reset with BOOT0 low boots from
 * flash_base. */
bool stm32_model_vector_valid(const struct stm32_model *model, uint32_t address);

/* Test images carry their version as "MCUOTA-VERSION:" followed by up to
 * STM32_MODEL_VERSION_MAX printable characters and a NUL. Copies the version
 * of the first marker found in main flash at or after address into buf
 * (NUL-terminated): 0, -ENOENT when there is none (or it is not followed by
 * 1..31 printable characters and a NUL), -EINVAL on bad arguments. */
#define STM32_MODEL_VERSION_MARKER "MCUOTA-VERSION:"
#define STM32_MODEL_VERSION_MAX    31
int stm32_model_app_version(const struct stm32_model *model, uint32_t address, char *buf,
                            size_t size);

/* Wait up to timeout_ms for the operation holding the control pipe to end,
 * without handling a request: true when none runs any more (the next request
 * is answered at once), false when it still runs (an erase_stays_busy fault
 * never ends). A front end that must stay responsive while the ROM holds the
 * pipe (a reset line, a host that went away) waits in slices with this, then
 * hands the request to stm32_model_control as usual; the request is counted
 * once. */
bool stm32_model_wait_idle(struct stm32_model *model, unsigned timeout_ms);

/* Let time pass without a request, as the ROM's main loop does: an operation
 * whose time is over completes now rather than on the next request, so a
 * Read Unprotect or an option-byte write resets the chip (the device leaves
 * the bus, reason STM32_MODEL_SELF_RESET) even when the host sends nothing
 * after the first GETSTATUS, as dfu-util does. Returns
 * stm32_model_connected. */
bool stm32_model_idle_tick(struct stm32_model *model);

/* Where sector (page) index of alt 0 lies and how big it is: 0, or -EINVAL
 * past the last one. With stm32_profile_erase_us/program_us it gives the
 * physical floor of writing an image: what a benchmark compares hosts with. */
int stm32_model_sector_info(const struct stm32_model *model, size_t index, uint32_t *address,
                            uint32_t *size);
