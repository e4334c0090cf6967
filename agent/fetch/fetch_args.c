/* The TLS and proxy options shared by the commands that download. */
#include "fetch/fetch_args.h"

#include <errno.h>

#include "util/format.h"

const struct fetch_setting_names fetch_args_names = {
    .tls_ca = "--tls-ca or --tls-ca-dir",
    .client_cert = "--client-cert and --client-key",
    .allow_http = "--allow-http",
    .max_size = "--max-size",
    .proxy = "--proxy",
};

int fetch_args_apply(struct fetch_options *o, int opt, const char *value)
{
	switch (opt) {
	case FETCH_ARG_TLS_CA:
		o->ca_file = value;
		return 1;
	case FETCH_ARG_TLS_CA_DIR:
		o->ca_dir = value;
		return 1;
	case FETCH_ARG_CLIENT_CERT:
		o->client_cert = value;
		return 1;
	case FETCH_ARG_CLIENT_KEY:
		o->client_key = value;
		return 1;
	case FETCH_ARG_PROXY:
		o->proxy = value;
		return 1;
	case FETCH_ARG_ALLOW_HTTP:
		o->allow_http = true;
		return 1;
	}
	return 0;
}

int fetch_args_check(const struct fetch_options *o, char *err, size_t errlen)
{
	if (o->client_key && !o->client_cert) {
		mcu_ota_set_error(err, errlen, "%s", "--client-key needs --client-cert");
		return -EINVAL;
	}
	return 0;
}
