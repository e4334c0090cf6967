/* mcu-ota plugin SDK: the only header a plugin needs.
 *
 * A plugin is a shared object that exports one function, named by
 * MCU_OTA_PLUGIN_SYMBOL, returning a pointer to a static struct mcu_ota_plugin.
 * The agent refuses a plugin whose abi field differs from MCU_OTA_PLUGIN_ABI.
 *
 * Growing without breaking: the host struct, the write options and every
 * ops table start with their size as the other side was built. New members
 * are only ever appended; a reader uses a member only when the size covers
 * it (MCU_OTA_HAS). MCU_OTA_PLUGIN_ABI changes only for incompatible changes.
 *
 * Settings: a plugin reads its configuration section through the host
 * (config_string, config_int, config_bool). Each ops table ends with an
 * optional list of the names it reads ("settings", NULL-terminated, e.g.
 * {"vid", "pid", "serial", "port", NULL}); the agent then refuses a section
 * that holds any other setting (besides "plugin"), naming the file, the line
 * and the known names, so that a typo cannot silently leave a setting at its
 * default. Keep the list next to the code that reads the settings. A plugin
 * that leaves it NULL, or was built before it existed (its table is too
 * short), is loaded as before and its section is not checked.
 *
 * Conventions: functions that can fail return 0 or a negative errno value and
 * write a one-line, user-facing reason into (err, errlen). Plugins never print
 * and never exit: they log and report progress through struct mcu_ota_host.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of the structs below. */
#define MCU_OTA_PLUGIN_ABI    1u
#define MCU_OTA_PLUGIN_SYMBOL "mcu_ota_plugin_v1"

#if defined(__GNUC__)
#define MCU_OTA_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define MCU_OTA_EXPORT            __attribute__((visibility("default")))
#else
#define MCU_OTA_PRINTF(fmt, args)
#define MCU_OTA_EXPORT
#endif

enum mcu_ota_plugin_kind {
	MCU_OTA_PLUGIN_ENTRY = 1,   /* device into its ROM bootloader, and back out */
	MCU_OTA_PLUGIN_FLASHER = 2, /* erase, write, read a device in bootloader mode */
	MCU_OTA_PLUGIN_HEALTH = 3,  /* did the application come back? */
};

enum mcu_ota_log_level {
	MCU_OTA_LOG_ERROR = 0,
	MCU_OTA_LOG_WARNING = 1,
	MCU_OTA_LOG_INFO = 2,
	MCU_OTA_LOG_DEBUG = 3,
};

/* What the agent hands a plugin: logging, progress and its configuration
 * section. Every member may be called from any plugin operation. */
/* Does the struct at p, of the size it declares, include member m? */
#define MCU_OTA_HAS(p, type, m) ((p)->size >= offsetof(type, m) + sizeof(((type *)0)->m))

struct mcu_ota_host {
	size_t size; /* sizeof(struct mcu_ota_host) as the agent was built */
	void *ctx;
	void (*log)(void *ctx, enum mcu_ota_log_level level, const char *fmt, va_list ap)
	    MCU_OTA_PRINTF(3, 0);
	/* phase is a short word ("erase", "write", "verify", "read"); total may be 0 */
	void (*progress)(void *ctx, const char *phase, uint64_t done, uint64_t total);
	/* The plugin's configuration section. Each returns 0 when the key is set,
	 * -ENOENT when it is not, -EINVAL when it has another type. Strings stay
	 * valid until the operation returns. */
	int (*config_string)(void *ctx, const char *key, const char **value);
	int (*config_int)(void *ctx, const char *key, long long *value);
	int (*config_bool)(void *ctx, const char *key, bool *value);
};

/* Convenience wrapper so plugins can log printf-style. */
static inline MCU_OTA_PRINTF(3, 4) void mcu_ota_log(const struct mcu_ota_host *host,
                                                    enum mcu_ota_log_level level, const char *fmt,
                                                    ...)
{
	va_list ap;
	if (!host || !host->log)
		return;
	va_start(ap, fmt);
	host->log(host->ctx, level, fmt, ap);
	va_end(ap);
}

/* Write a one-line, user-facing reason into (err, errlen), the way every
 * fallible function of the SDK and the agent reports one. err may be NULL. */
static inline MCU_OTA_PRINTF(3, 4) void mcu_ota_set_error(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- images ---- */

/* One contiguous run of bytes at an absolute address. */
struct mcu_ota_segment {
	uint32_t address;
	uint32_t length;
	const uint8_t *data;
};

/* What to write: segments sorted by address, not overlapping. */
struct mcu_ota_image {
	size_t segment_count;
	const struct mcu_ota_segment *segments;
};

/* ---- device memory, as the bootloader describes it ---- */

enum mcu_ota_sector_access {
	MCU_OTA_SECTOR_READABLE = 1,
	MCU_OTA_SECTOR_ERASABLE = 2,
	MCU_OTA_SECTOR_WRITABLE = 4,
};

struct mcu_ota_sector {
	uint32_t address;
	uint32_t size;
	unsigned access; /* enum mcu_ota_sector_access bits */
};

/* One memory of the device (for DfuSe: one alternate setting). */
struct mcu_ota_memory {
	unsigned alt;
	char name[64];         /* e.g. "Internal Flash" (padding trimmed) */
	char description[256]; /* the raw descriptor string */
	size_t sector_count;
	const struct mcu_ota_sector *sectors;
};

struct mcu_ota_device_info {
	uint16_t vid, pid, bcd_device;
	char serial[64];
	char port[64]; /* USB port path "bus-port.port...", e.g. "1-1.3" */
	char manufacturer[128];
	char product[128];
	uint16_t dfu_version;   /* bcdDFUVersion, 0x011A for DfuSe */
	uint16_t transfer_size; /* wTransferSize */
	uint8_t attributes;     /* bmAttributes of the DFU functional descriptor */
	size_t memory_count;
	const struct mcu_ota_memory *memories;
};

/* ---- flasher ---- */

struct mcu_ota_write_options {
	size_t size;         /* sizeof(struct mcu_ota_write_options) as the agent was built */
	unsigned alt;        /* memory to write, 0 = internal flash */
	bool verify;         /* read back and compare after writing */
	bool mass_erase;     /* erase the whole memory instead of touched sectors */
	bool skip_unchanged; /* leave sectors alone that already hold the new bytes */
};

typedef void (*mcu_ota_device_cb)(void *user, const struct mcu_ota_device_info *info);

/* Device selection is read from the host's configuration section:
 * "vid", "pid" (ints), "serial", "port" (strings). */
struct mcu_ota_flasher_ops {
	size_t size; /* sizeof(struct mcu_ota_flasher_ops) as the plugin was built */
	/* Call cb for every matching device in bootloader mode. */
	int (*list)(const struct mcu_ota_host *host, mcu_ota_device_cb cb, void *user, char *err,
	            size_t errlen);
	/* Open exactly one matching device; -ENODEV when there is none,
	 * -ENOTUNIQ (with the candidates named) when the selection is ambiguous,
	 * -EBUSY when another program holds it. */
	int (*open)(const struct mcu_ota_host *host, void **handle, char *err, size_t errlen);
	/* Valid until close. */
	const struct mcu_ota_device_info *(*info)(void *handle);
	int (*write)(void *handle, const struct mcu_ota_image *image,
	             const struct mcu_ota_write_options *options, char *err, size_t errlen);
	int (*read)(void *handle, unsigned alt, uint32_t address, uint8_t *buffer, size_t length,
	            char *err, size_t errlen);
	/* Leave the bootloader and start the application at address. */
	int (*leave)(void *handle, uint32_t address, char *err, size_t errlen);
	void (*close)(void *handle);
	/* Optional: the settings the plugin reads, NULL-terminated (see the
	 * top of this file); NULL: not declared, its section is not checked. */
	const char *const *settings;
};

/* ---- entry ---- */

struct mcu_ota_entry_ops {
	size_t size; /* sizeof(struct mcu_ota_entry_ops) as the plugin was built */
	/* Put the configured device into its ROM bootloader. */
	int (*enter)(const struct mcu_ota_host *host, char *err, size_t errlen);
	/* Take it back out so that the application runs. */
	int (*exit)(const struct mcu_ota_host *host, char *err, size_t errlen);
	/* Optional (may be NULL): the likely causes, for this entry method, when
	 * enter succeeded but no bootloader appeared, one short sentence the agent
	 * adds to its error ("BOOT0 or NRST wired to other lines, ..."). */
	const char *missing_hint;
	/* Optional: the settings the plugin reads, NULL-terminated (see the
	 * top of this file); NULL: not declared, its section is not checked. */
	const char *const *settings;
};

/* ---- health ---- */

struct mcu_ota_health_ops {
	size_t size; /* sizeof(struct mcu_ota_health_ops) as the plugin was built */
	/* 0 when the application is up (and reports expected_version, when not
	 * NULL) within deadline_ms. */
	int (*check)(const struct mcu_ota_host *host, const char *expected_version,
	             unsigned deadline_ms, char *err, size_t errlen);
	/* Optional: the settings the plugin reads, NULL-terminated (see the
	 * top of this file); NULL: not declared, its section is not checked. */
	const char *const *settings;
};

struct mcu_ota_plugin {
	uint32_t abi;  /* MCU_OTA_PLUGIN_ABI; must stay the first member */
	uint32_t kind; /* enum mcu_ota_plugin_kind, fixed-width whatever the compiler */
	const char *name;
	const char *description;
	/* exactly the one that matches kind is set */
	const struct mcu_ota_entry_ops *entry;
	const struct mcu_ota_flasher_ops *flasher;
	const struct mcu_ota_health_ops *health;
};

typedef const struct mcu_ota_plugin *(*mcu_ota_plugin_fn)(void);

#define MCU_OTA_DEFINE_PLUGIN(var)                                                                 \
	MCU_OTA_EXPORT const struct mcu_ota_plugin *mcu_ota_plugin_v1(void);                       \
	MCU_OTA_EXPORT const struct mcu_ota_plugin *mcu_ota_plugin_v1(void)                        \
	{                                                                                          \
		return &(var);                                                                     \
	}

#ifdef __cplusplus
}
#endif
