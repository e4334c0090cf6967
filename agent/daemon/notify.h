/* systemd's service notification ($NOTIFY_SOCKET) and watchdog
 * ($WATCHDOG_USEC), written here rather than linking libsystemd: a gateway
 * without systemd (SysV, busybox) runs the same binary. Without the
 * variables every call does nothing. */
#pragma once

#include <stdint.h>

#include <mcu-ota/plugin.h>

/* Send one notification ("READY=1", "STATUS=...", ...). */
void notify(const char *fmt, ...) MCU_OTA_PRINTF(1, 2);
/* The watchdog interval the service manager asks for, in microseconds, or 0. */
uint64_t notify_watchdog_usec(void);
