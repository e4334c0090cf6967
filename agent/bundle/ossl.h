/* Cleanup helpers for OpenSSL types, for _cleanup_ (util/format.h). Each
 * accepts a pointer to NULL. */
#pragma once

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

static inline void evp_pkey_freep(EVP_PKEY **p)
{
	EVP_PKEY_free(*p);
}
static inline void evp_pkey_ctx_freep(EVP_PKEY_CTX **p)
{
	EVP_PKEY_CTX_free(*p);
}
static inline void evp_md_ctx_freep(EVP_MD_CTX **p)
{
	EVP_MD_CTX_free(*p);
}
static inline void x509_freep(X509 **p)
{
	X509_free(*p);
}
static inline void x509_store_ctx_freep(X509_STORE_CTX **p)
{
	X509_STORE_CTX_free(*p);
}
static inline void x509_stack_freep(STACK_OF(X509) * *p)
{
	sk_X509_pop_free(*p, X509_free);
}
static inline void cms_content_info_freep(CMS_ContentInfo **p)
{
	CMS_ContentInfo_free(*p);
}
static inline void bio_freep(BIO **p)
{
	BIO_free_all(*p);
}
static inline void openssl_freep(void *p)
{
	OPENSSL_free(*(void **)p);
}
