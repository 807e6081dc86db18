/*
 * test_sip_tls.c - sip_tls_pin(): the first hop of a TLS dialog says
 * transport=tls, whatever the party wrote, and nothing else changes.
 */
#include "sip_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <sofia-sip/url.h>

struct hdrs {
	su_home_t home[1];
	sip_record_route_t *rr;
	sip_contact_t *m;
	sip_record_route_t *rr_out;
	sip_contact_t *m_out;
};

/* @rr (a Record-Route value list; NULL: none) and @m (a Contact value)
 * parsed, then pinned as a UAC (@uac) or a UAS would. */
static void pin(struct hdrs *h, const char *rr, const char *m, bool uac)
{
	memset(h, 0, sizeof(*h));
	su_home_init(h->home);
	if (rr) {
		h->rr = sip_record_route_make(h->home, rr);
		assert_non_null(h->rr);
	}
	if (m) {
		h->m = sip_contact_make(h->home, m);
		assert_non_null(h->m);
	}
	assert_int_equal(sip_tls_pin(h->home, h->rr, h->m, uac, &h->rr_out,
				     &h->m_out), 0);
}

static void done(struct hdrs *h)
{
	su_home_deinit(h->home);
}

/* The URL @u as text. */
static const char *url_text(struct hdrs *h, const url_t *u)
{
	char *s = url_as_string(h->home, u);

	assert_non_null(s);
	return s;
}

static void test_uas_first_record_route(void **state)
{
	struct hdrs h;
	const sip_record_route_t *r;

	(void)state;
	pin(&h, "<sip:proxy1.example;lr>, "
	    "<sip:proxy2.example;transport=udp;lr>",
	    "<sip:+12025550100@192.0.2.1:5060>", false);
	r = h.rr_out;
	assert_string_equal(url_text(&h, r->r_url),
			    "sip:proxy1.example;lr;transport=tls");
	assert_string_equal(url_text(&h, r->r_next->r_url),
			    "sip:proxy2.example;transport=udp;lr");
	assert_null(r->r_next->r_next);
	/* the target is behind the route set: left as it was */
	assert_string_equal(url_text(&h, h.m_out->m_url),
			    "sip:+12025550100@192.0.2.1:5060");
	/* the party's headers are untouched: copies were pinned */
	assert_string_equal(url_text(&h, h.rr->r_url),
			    "sip:proxy1.example;lr");
	done(&h);
}

static void test_uac_last_record_route(void **state)
{
	struct hdrs h;
	const sip_record_route_t *r;

	(void)state;
	/* nta reverses a UAC's route set: the last entry is the first hop */
	pin(&h, "<sip:far.example;lr>, "
	    "<sip:near.example:5070;transport=UDP;lr>",
	    "<sip:b@198.51.100.7>", true);
	r = h.rr_out;
	assert_string_equal(url_text(&h, r->r_url), "sip:far.example;lr");
	assert_string_equal(url_text(&h, r->r_next->r_url),
			    "sip:near.example:5070;lr;transport=tls");
	assert_string_equal(url_text(&h, h.m_out->m_url),
			    "sip:b@198.51.100.7");
	done(&h);
}

static void test_contact_alone(void **state)
{
	struct hdrs h;

	(void)state;
	/* no route set: the Contact is the first hop; one transport only */
	pin(&h, NULL, "<sip:b@198.51.100.7:5061;transport=tcp;ob>", false);
	assert_null(h.rr_out);
	assert_string_equal(url_text(&h, h.m_out->m_url),
			    "sip:b@198.51.100.7:5061;ob;transport=tls");
	done(&h);

	pin(&h, NULL, "<sip:b@198.51.100.7>", true);
	assert_string_equal(url_text(&h, h.m_out->m_url),
			    "sip:b@198.51.100.7;transport=tls");
	done(&h);

	/* already TLS, as a param or as sips: */
	pin(&h, NULL, "<sip:b@198.51.100.7;transport=TLS>", true);
	assert_string_equal(url_text(&h, h.m_out->m_url),
			    "sip:b@198.51.100.7;transport=tls");
	done(&h);
	pin(&h, "<sips:proxy.example;lr>", "<sip:b@198.51.100.7>", false);
	assert_string_equal(url_text(&h, h.rr_out->r_url),
			    "sips:proxy.example;lr");
	done(&h);

	pin(&h, NULL, NULL, false);
	assert_null(h.rr_out);
	assert_null(h.m_out);
	done(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uas_first_record_route),
		cmocka_unit_test(test_uac_last_record_route),
		cmocka_unit_test(test_contact_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
