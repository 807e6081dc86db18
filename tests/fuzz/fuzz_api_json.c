/*
 * fuzz_api_json.c - libFuzzer harness for the API's request parsing: the
 * JSON body of POST /v1/sessions and the query string of GET
 * /v1/sessions, through the same functions the handlers call.
 *
 * Input layout: the first line is a query string, the rest a JSON body.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/api/api_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	static int ready;
	const char *nl = memchr(data, '\n', size);
	size_t qlen = nl ? (size_t)(nl - (const char *)data) : 0;
	struct api_query q = { 0 };
	struct api_call c;
	struct api_err e;
	json_t *body = NULL;
	char *qs;

	if (!ready) {
		config_defaults(&cfg);
		ready = 1;
	}

	qs = strndup((const char *)data, qlen);
	if (qs && api_query_parse(qs, &q, &e) == 0) {
		(void)api_query_get(&q, "party");
		api_query_free(&q);
	}
	free(qs);

	if (nl) {
		data += qlen + 1;
		size -= qlen + 1;
	}
	memset(&c, 0, sizeof(c));
	memset(&e, 0, sizeof(e));
	if (api_json_parse((const char *)data, size, 65536, &body, &e) == 0) {
		if (api_create_parse(body, &cfg, &c, &e) == 0) {
			/* what passes must be what the store accepts */
			if (!e164_valid(c.party_a) || !e164_valid(c.party_b) ||
			    c.params.ttl_ms <= 0)
				__builtin_trap();
		} else if (e.status < 400 || e.status > 599 ||
			   !e.message[0]) {
			__builtin_trap();	/* errors name the field */
		}
		json_decref(body);
	}
	free(c.callback_url);
	free(c.metadata);
	return 0;
}
