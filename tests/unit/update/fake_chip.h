/* The chip that fake_plugins.c simulates in a folder, as test_engine.c sees it. */
#pragma once

#define FAKE_FLASH_BASE  0x08000000u
#define FAKE_FLASH_SIZE  (64u * 1024u)
#define FAKE_SECTOR_SIZE 4096u
