/* The TLS and proxy options of every command that downloads (`mcu-ota
 * fetch`, `mcu-ota bundle URL`): one option table, one parser and one help
 * text for both. Nothing is printed here: a bad combination comes back as
 * one sentence for the command to show. */
#pragma once

#include <getopt.h>
#include <stddef.h>

#include "fetch/fetch.h"

/* getopt_long values, clear of characters and of swu_args.h's */
enum fetch_arg {
	FETCH_ARG_TLS_CA = 0x300,
	FETCH_ARG_TLS_CA_DIR,
	FETCH_ARG_CLIENT_CERT,
	FETCH_ARG_CLIENT_KEY,
	FETCH_ARG_PROXY,
	FETCH_ARG_ALLOW_HTTP,
};

/* Entries for a struct option table. */
#define FETCH_ARGS_OPTIONS                                                                         \
	{"tls-ca", required_argument, NULL, FETCH_ARG_TLS_CA},                                     \
	    {"tls-ca-dir", required_argument, NULL, FETCH_ARG_TLS_CA_DIR},                         \
	    {"client-cert", required_argument, NULL, FETCH_ARG_CLIENT_CERT},                       \
	    {"client-key", required_argument, NULL, FETCH_ARG_CLIENT_KEY},                         \
	    {"proxy", required_argument, NULL, FETCH_ARG_PROXY},                                   \
	{                                                                                          \
		"allow-http", no_argument, NULL, FETCH_ARG_ALLOW_HTTP                              \
	}

#define FETCH_ARGS_HELP                                                                            \
	"  --tls-ca FILE       CA certificate(s) for the server instead of the system's\n"         \
	"  --tls-ca-dir DIR    ... or a c_rehash'ed directory of them\n"                           \
	"  --client-cert FILE  client certificate (PEM) for servers that require one\n"            \
	"  --client-key FILE   its private key (PEM), if not in the certificate file\n"            \
	"  --proxy URL         proxy to use; \"\" for none (default: the https_proxy,\n"           \
	"                      all_proxy and no_proxy environment variables)\n"                    \
	"  --allow-http        accept plain http:// URLs and redirects (unprotected)\n"

/* These options' names, for fetch_options.names. */
extern const struct fetch_setting_names fetch_args_names;

/* Take option opt with its value into o: 1 when opt is one of
 * FETCH_ARGS_OPTIONS, 0 when it is not. */
int fetch_args_apply(struct fetch_options *o, int opt, const char *value);

/* After the last option: 0, or -EINVAL when the options do not go
 * together (--client-key without --client-cert). */
__attribute__((warn_unused_result)) int fetch_args_check(const struct fetch_options *o, char *err,
                                                         size_t errlen);
