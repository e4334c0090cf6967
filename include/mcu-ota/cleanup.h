/* Scope-bound cleanup for mcu-ota and its plugins: a variable declared
 *     _cleanup_(fclosep) FILE *f = NULL;
 * is released when it goes out of scope, on every return path, so error
 * paths need no free chains. Hand ownership on with take_ptr()/take_fd().
 *
 * Every helper accepts its "empty" value (NULL, or -1 for descriptors).
 * The helpers for a library exist only where its header can be included
 * (__has_include), so the agent, which never includes libusb, and a plugin
 * built without OpenSSL can both include this one header; nothing here
 * makes a program link a library it does not otherwise use. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

/* The value of *pp, leaving NULL behind: the cleanup then frees nothing. */
#define take_ptr(pp)                                                                               \
	({                                                                                         \
		__typeof__(*(pp)) taken_ = *(pp);                                                  \
		*(pp) = NULL;                                                                      \
		taken_;                                                                            \
	})

/* The descriptor *fdp, leaving -1 behind. */
static inline int take_fd(int *fdp)
{
	int fd = *fdp;
	*fdp = -1;
	return fd;
}

/* For any pointer that free() releases. */
static inline void freep(void *p)
{
	free(*(void **)p);
}

/* close() keeps errno: a cleanup must not change what the caller reports. */
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

/* For files read, or written and then fclose()d by hand to see the error. */
static inline void fclosep(FILE **f)
{
	if (*f) {
		int saved = errno;
		fclose(*f);
		errno = saved;
	}
}

/* A helper NAME(TYPE **) that calls FREE(*p) when *p is not NULL. */
#define MCU_OTA_DEFINE_FREEP(name, type, free_fn)                                                  \
	static inline void name(type **p)                                                          \
	{                                                                                          \
		if (*p)                                                                            \
			free_fn(*p);                                                               \
	}

#if __has_include(<openssl/evp.h>)
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
MCU_OTA_DEFINE_FREEP(evp_pkey_freep, EVP_PKEY, EVP_PKEY_free)
MCU_OTA_DEFINE_FREEP(evp_pkey_ctx_freep, EVP_PKEY_CTX, EVP_PKEY_CTX_free)
MCU_OTA_DEFINE_FREEP(evp_md_ctx_freep, EVP_MD_CTX, EVP_MD_CTX_free)
MCU_OTA_DEFINE_FREEP(x509_freep, X509, X509_free)
MCU_OTA_DEFINE_FREEP(x509_store_freep, X509_STORE, X509_STORE_free)
MCU_OTA_DEFINE_FREEP(x509_store_ctx_freep, X509_STORE_CTX, X509_STORE_CTX_free)
MCU_OTA_DEFINE_FREEP(cms_content_info_freep, CMS_ContentInfo, CMS_ContentInfo_free)
MCU_OTA_DEFINE_FREEP(bio_freep, BIO, BIO_free_all)
static inline void x509_stack_freep(STACK_OF(X509) * *p)
{
	sk_X509_pop_free(*p, X509_free);
}
/* For what OpenSSL allocated with OPENSSL_malloc (e.g. i2d output). */
static inline void openssl_freep(void *p)
{
	OPENSSL_free(*(void **)p);
}
#endif

#if __has_include(<libconfig.h>)
#include <libconfig.h>
/* A config_t that config_init() has set up (free with config_destroy). */
static inline void config_destroyp(config_t **c)
{
	if (*c)
		config_destroy(*c);
}
#endif

#if __has_include(<curl/curl.h>)
#include <curl/curl.h>
MCU_OTA_DEFINE_FREEP(curl_easy_cleanupp, CURL, curl_easy_cleanup)
MCU_OTA_DEFINE_FREEP(curl_slist_freep, struct curl_slist, curl_slist_free_all)
#endif

#if __has_include(<libusb.h>)
#include <libusb.h>
MCU_OTA_DEFINE_FREEP(libusb_exitp, libusb_context, libusb_exit)
MCU_OTA_DEFINE_FREEP(libusb_closep, libusb_device_handle, libusb_close)
static inline void libusb_device_list_freep(libusb_device ***list)
{
	if (*list)
		libusb_free_device_list(*list, 1);
}
#endif
