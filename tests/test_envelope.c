/*
 * test_envelope.c - envelope parsing: every timestamp format and year inference.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "envelope.h"

struct env_row {
	const char *line;
	bool ok;
	const char *ts;      /* ISO as formatted */
	const char *host;
	const char *program;
	const char *msg_start;
	enum mta mta;
};

static const struct env_row rows[] = {
	{"Nov 27 06:25:13 mx1 postfix/smtp[123]: ABC: to=<a@b>", true, "2026-11-27T06:25:13", "mx1",
	    "postfix/smtp", "ABC: to=<a@b>", MTA_POSTFIX},
	{"Nov  7 06:25:13 mx1 postfix/smtp[123]: X", true, "2026-11-07T06:25:13", "mx1",
	    "postfix/smtp", "X", MTA_POSTFIX},
	{"Nov 07 06:25:13 mx1 postfix/smtp[123]: X", true, "2026-11-07T06:25:13", "mx1",
	    "postfix/smtp", "X", MTA_POSTFIX},
	{"Mar 7 02:09:33 server postfix/smtpd[27246]: X", true, "2026-03-07T02:09:33", "server",
	    "postfix/smtpd", "X", MTA_POSTFIX},
	{"<22>Nov 27 06:25:13 mx1 sm-mta[99]: QID: to=x", true, "2026-11-27T06:25:13", "mx1",
	    "sm-mta", "QID: to=x", MTA_SENDMAIL},
	{"2026-11-27T07:30:00.123456+01:00 helga postfix/pipe[348575]: X", true,
	    "2026-11-27T07:30:00.123456+01:00", "helga", "postfix/pipe", "X", MTA_POSTFIX},
	{"2026-11-27T07:30:00+0100 mx postfix/qmgr[1]: X", true, "2026-11-27T07:30:00+01:00", "mx",
	    "postfix/qmgr", "X", MTA_POSTFIX},
	{"2026-11-27T07:30:00Z mx postfix-out/smtp[1]: X", true, "2026-11-27T07:30:00Z", "mx",
	    "postfix-out/smtp", "X", MTA_POSTFIX},
	{"<22>1 2026-11-27T07:30:00Z mx postfix/smtp 4242 - - QID: to=<a@b>", true,
	    "2026-11-27T07:30:00Z", "mx", "postfix/smtp", "QID: to=<a@b>", MTA_POSTFIX},
	{"<22>1 2026-11-27T07:30:00.5-05:00 mx postfix/smtp 4242 - [meta x=\"]\"] QID: y", true,
	    "2026-11-27T07:30:00.5-05:00", "mx", "postfix/smtp", "QID: y", MTA_POSTFIX},
	{"2026-11-27 09:00:02 1tGh2a-000AbC-1x => a@b.example R=r T=t", true, "2026-11-27T09:00:02",
	    NULL, "exim", "1tGh2a-000AbC-1x => a@b.example R=r T=t", MTA_EXIM},
	{"2026-11-27 09:00:02.123 +0100 [4242] 1tGh2a-000AbC-1x == a@b", true,
	    "2026-11-27T09:00:02.123+01:00", NULL, "exim", "1tGh2a-000AbC-1x == a@b", MTA_EXIM},
	{"Nov 27 09:00:02 mx exim[77]: 2026-11-27 09:00:02 1tGh2a-000AbC-1x ** a@b", true,
	    "2026-11-27T09:00:02", "mx", "exim", "1tGh2a-000AbC-1x ** a@b", MTA_EXIM},
	{"Nov 27 06:25:13 mx1 postfix/smtp[123]: [ID 197553 mail.info] ABC: to=<a@b>", true,
	    "2026-11-27T06:25:13", "mx1", "postfix/smtp", "ABC: to=<a@b>", MTA_POSTFIX},
	{"Nov 27 06:25:13 mx1 kernel: something", true, "2026-11-27T06:25:13", "mx1", "kernel",
	    "something", MTA_NONE},
	{"Jun 18 08:05:17 <mail.notice> myhost sm-mta[1]: QID: to=x", true, "2026-06-18T08:05:17",
	    "myhost", "sm-mta", "QID: to=x", MTA_SENDMAIL},
	{"garbage line without envelope", false, NULL, NULL, NULL, NULL, MTA_NONE},
	{"Foo 27 06:25:13 mx1 postfix/smtp[1]: X", false, NULL, NULL, NULL, NULL, MTA_NONE},
	{"Nov 27 25:25:13 mx1 postfix/smtp[1]: X", false, NULL, NULL, NULL, NULL, MTA_NONE},
	{"Nov 27 06:25:13", false, NULL, NULL, NULL, NULL, MTA_NONE},
	{"", false, NULL, NULL, NULL, NULL, MTA_NONE},
};

static void
check_span(struct span s, const char *want)
{
	if (want == NULL) {
		assert_null(s.p);
		return;
	}
	assert_non_null(s.p);
	assert_int_equal(s.n, strlen(want));
	assert_memory_equal(s.p, want, s.n);
}

static void
test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct env_row *r = &rows[i];
		struct envelope_year y;
		struct envelope env;
		char ts[64];
		bool ok;

		envelope_year_init(&y, 1795000000 /* 2026-11-18 */, 0);
		ok = envelope_parse(r->line, strlen(r->line), &y, &env);
		if (ok != r->ok)
			fail_msg("row %zu: parse %d, expected %d: %s", i, ok, r->ok, r->line);
		if (!ok)
			continue;
		envelope_format_ts(&env.ts, ts, sizeof ts);
		assert_string_equal(ts, r->ts);
		check_span(env.host, r->host);
		check_span(env.program, r->program);
		check_span(env.msg, r->msg_start);
		assert_int_equal(env.mta, r->mta);
	}
}

/* A log written from December into January, file modified in January. */
static void
test_year_rollover(void **state)
{
	static const char *lines[] = {
		"Dec 31 23:59:58 mx postfix/smtp[1]: a",
		"Jan  1 00:00:01 mx postfix/smtp[1]: b",
		"Jan  1 00:00:02 mx postfix/smtp[1]: c",
	};
	static const int years[] = {2025, 2026, 2026};
	struct envelope_year y;
	struct envelope env;

	(void)state;
	envelope_year_init(&y, 1767312000 /* 2026-01-02 */, 0);
	for (size_t i = 0; i < 3; i++) {
		assert_true(envelope_parse(lines[i], strlen(lines[i]), &y, &env));
		assert_int_equal(env.ts.year, years[i]);
	}
}

/* Each month name is read right whichever month came before (the month
 * last read is tried first), and a bad one after a good one is refused. */
static void
test_month_sequence(void **state)
{
	static const char *lines[] = {
		"Mar  1 00:00:00 mx postfix/smtp[1]: a", "Mar  2 00:00:00 mx postfix/smtp[1]: b",
		"Apr  1 00:00:00 mx postfix/smtp[1]: c", "Mar  3 00:00:00 mx postfix/smtp[1]: d",
		"Mat  3 00:00:00 mx postfix/smtp[1]: e", "Dec 31 00:00:00 mx postfix/smtp[1]: f",
		"Jan  1 00:00:00 mx postfix/smtp[1]: g",
	};
	static const int months[] = {3, 3, 4, 3, 0, 12, 1};
	struct envelope_year y;
	struct envelope env;

	(void)state;
	envelope_year_init(&y, 0, 2026);
	for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
		bool ok = envelope_parse(lines[i], strlen(lines[i]), &y, &env);

		assert_int_equal(ok, months[i] != 0);
		if (ok)
			assert_int_equal(env.ts.mon, months[i]);
	}
}

/* A month later than the file's mtime means last year; --year forces. */
static void
test_year_reference(void **state)
{
	const char *line = "Dec  9 10:18:25 mail postfix/smtp[1]: x";
	struct envelope_year y;
	struct envelope env;

	(void)state;
	envelope_year_init(&y, 1795000000 /* 2026-11-18 */, 0);
	assert_true(envelope_parse(line, strlen(line), &y, &env));
	assert_int_equal(env.ts.year, 2025);
	envelope_year_init(&y, 1795000000, 2019);
	assert_true(envelope_parse(line, strlen(line), &y, &env));
	assert_int_equal(env.ts.year, 2019);
}

static void
test_epoch(void **state)
{
	const char *line = "2026-11-27T07:30:00+01:00 mx postfix/smtp[1]: x";
	struct envelope_year y;
	struct envelope env;

	(void)state;
	envelope_year_init(&y, 0, 0);
	assert_true(envelope_parse(line, strlen(line), &y, &env));
	assert_int_equal(envelope_ts_epoch(&env.ts), 1795761000); /* 06:30:00Z */
}

/* NUL bytes and truncated envelopes never read past the line. */
static void
test_hostile(void **state)
{
	static const char nul[] = "Nov 27 06:25:13 mx\0 postfix/smtp[1]: x";
	struct envelope_year y;
	struct envelope env;
	char buf[40];

	(void)state;
	envelope_year_init(&y, 0, 0);
	(void)envelope_parse(nul, sizeof nul - 1, &y, &env);
	for (size_t n = 0; n < 40; n++) {
		memcpy(buf, "<22>1 2026-11-27T07:30:00Z mx p 1 - [a", n < 38 ? n : 38);
		(void)envelope_parse(buf, n < 38 ? n : 38, &y, &env);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_year_rollover),
		cmocka_unit_test(test_month_sequence),
		cmocka_unit_test(test_year_reference),
		cmocka_unit_test(test_epoch),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests_name("envelope", tests, NULL, NULL);
}
