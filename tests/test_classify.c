/*
 * test_classify.c - enhanced-code validation, classes, and reason signatures.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "classify.h"

static struct span
sp(const char *s)
{
	return (struct span){s, strlen(s)};
}

static void
test_enhanced(void **state)
{
	static const struct {
		const char *in;
		bool ok;
	} rows[] = {
		{"5.1.1", true}, {"4.7.28", true}, {"5.7.606", true}, {"2.0.0", true},
		{"5.123.123", true}, {"3.1.1", false}, {"6.1.1", false}, {"5.1", false},
		{"5.1.1.1", false}, {"5.1234.1", false}, {"5..1", false}, {"5.1.", false},
		{"", false}, {"x.1.1", false}, {"5.1.1 ", false},
	};
	char out[CODE_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		bool ok = classify_enhanced_code(sp(rows[i].in), out);

		if (ok != rows[i].ok)
			fail_msg("'%s': %d", rows[i].in, ok);
		if (ok)
			assert_string_equal(out, rows[i].in);
		else
			assert_string_equal(out, "");
	}
}

static void
test_reply_code(void **state)
{
	(void)state;
	assert_int_equal(classify_reply_code(sp("550")), 550);
	assert_int_equal(classify_reply_code(sp("250")), 250);
	assert_int_equal(classify_reply_code(sp("650")), 0);
	assert_int_equal(classify_reply_code(sp("55")), 0);
	assert_int_equal(classify_reply_code(SPAN_NONE), 0);
}

/* class from the reply code first, else the enhanced code, else dsn */
static void
test_class(void **state)
{
	struct event ev;

	(void)state;
	memset(&ev, 0, sizeof ev);
	ev.reply_code = 550;
	strcpy(ev.enhanced_code, "4.2.2");
	strcpy(ev.dsn, "5.0.0");
	classify_event(&ev);
	assert_int_equal(ev.class_code, 5);
	assert_int_equal(ev.subject, 2);
	assert_int_equal(ev.detail, 2);
	assert_string_equal(ev.enhanced_code, "4.2.2");

	memset(&ev, 0, sizeof ev);
	strcpy(ev.dsn, "4.4.1");
	classify_event(&ev);
	assert_int_equal(ev.class_code, 4);
	assert_string_equal(ev.enhanced_code, "4.4.1");
	assert_int_equal(ev.subject, 4);
	assert_int_equal(ev.detail, 1);

	memset(&ev, 0, sizeof ev);
	ev.default_class = 4;
	classify_event(&ev);
	assert_int_equal(ev.class_code, 4);
	assert_int_equal(ev.subject, -1);
}

static void
test_reason(void **state)
{
	static const struct {
		const char *in, *out;
	} rows[] = {
		{"550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in virtual "
		 "mailbox table",
		    "<addr>: Recipient address rejected: User unknown in virtual mailbox table"},
		{"550-5.1.1 The email account that you tried to reach does not exist. Please try "
		 "550-5.1.1 double-checking the recipient's email address for typos or 550 5.1.1 "
		 "https://support.google.com/mail/?p=NoSuchUser z6si1138927wrp.107 - gsmtp",
		    "The email account that you tried to reach does not exist. Please try "
		    "double-checking the recipient's email address for typos or "
		    "https://support.google.com/mail/?p=NoSuchUser <id> - gsmtp"},
		{"421 4.7.0 [TSS04] Messages from 192.0.2.7 temporarily deferred due to unexpected "
		 "volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
		    "[TSS04] Messages from <ip> temporarily deferred due to unexpected volume or user "
		    "complaints - <ip>; see https://postmaster.yahooinc.com/error-codes"},
		{"connect to mx.example.net[198.51.100.3]:25: Connection timed out",
		    "connect to <host>[<ip>]:<n>: Connection timed out"},
		{"554 Blocked - see https://ipcheck.proofpoint.com/?ip=203.0.113.9",
		    "Blocked - see https://ipcheck.proofpoint.com/?ip=<v>"},
		{"unknown user: \"ghdsgfhdslfh\"", "unknown user: \"<str>\""},
		{"450 4.7.1 <>: Sender address rejected: too many", "<>: Sender address rejected: too many"},
		{"Greylisted for 5 minutes", "Greylisted for <n> minutes"},
		{"host 2001:db8::25 said hi", "host <ip> said hi"},
		{"", ""},
	};
	char out[REASON_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		classify_reason(rows[i].in, strlen(rows[i].in), out);
		assert_string_equal(out, rows[i].out);
	}
}

/* Over-long, binary and invalid UTF-8 text: bounded output, no overrun. */
static void
test_reason_hostile(void **state)
{
	char in[5000], out[REASON_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof in; i++)
		in[i] = (char)(i * 37 + 11);
	classify_reason(in, sizeof in, out);
	assert_true(strlen(out) <= REASON_MAX);
	memset(in, 'a', sizeof in);
	classify_reason(in, sizeof in, out);
	assert_true(strlen(out) <= REASON_MAX);
	memset(in, '<', sizeof in);
	classify_reason(in, sizeof in, out);
	assert_true(strlen(out) <= REASON_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enhanced),
		cmocka_unit_test(test_reply_code),
		cmocka_unit_test(test_class),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_reason_hostile),
	};

	return cmocka_run_group_tests_name("classify", tests, NULL, NULL);
}
