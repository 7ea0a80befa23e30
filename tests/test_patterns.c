/*
 * test_patterns.c - the pattern-file loader: good files, and every kind of
 * broken file reported as FILE:LINE: cause.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "patterns.h"

static void
expect_error_n(const char *text, size_t len, const char *want)
{
	char *cause = NULL;
	struct patterns *p = patterns_load_text("t.pat", text, len, &cause);

	if (p != NULL)
		fail_msg("loaded, expected '%s'", want);
	assert_non_null(cause);
	if (strstr(cause, want) == NULL)
		fail_msg("cause '%s' lacks '%s'", cause, want);
	free(cause);
}

static void
expect_error(const char *text, const char *want)
{
	expect_error_n(text, strlen(text), want);
}

/* load_or_fail - TEXT loaded, or the test fails with the cause */
static struct patterns *
load_or_fail(const char *text, size_t len)
{
	char *cause = NULL;
	struct patterns *p = patterns_load_text("t.pat", text, len, &cause);

	if (p == NULL)
		fail_msg("%s", cause);
	return p;
}

/* match_exim - MSG against P's Exim rules, from program "exim" */
static bool
match_exim(struct patterns *p, const char *msg, struct match *m)
{
	return patterns_match(p, MTA_EXIM, (struct span){"exim", 4}, (struct span){msg, strlen(msg)},
	                      m);
}

static void
test_errors(void **state)
{
	(void)state;
	expect_error("mta postfix\nrule a\nstatus sent\nmatch ^(?<queue_id>[a-z+)$\n",
	    "t.pat:4: offset ");
	expect_error("mta postfix\nrule a\nstatus sent\nmatch ^(?<bogus>x)$\n",
	    "t.pat:4: rule postfix/a: unknown capture name 'bogus'");
	expect_error("mta postfix\nrule a\nmatch ^x$\n", "t.pat:2: rule postfix/a: no 'status'");
	expect_error("mta postfix\nrule a\nstatus sent\n", "t.pat:2: rule postfix/a has no 'match'");
	expect_error("mta qmail\n", "t.pat:1: unknown mta 'qmail'");
	expect_error("rule a\n", "t.pat:1: 'mta' must come before");
	expect_error("mta postfix\nfrobnicate x\n", "t.pat:2: 'frobnicate' outside a rule");
	expect_error("mta postfix\nrule a\nfrobnicate x\n", "t.pat:3: unknown directive 'frobnicate'");
	expect_error("mta postfix\nrule a\nstatus sometimes\n", "t.pat:3: unknown status");
	expect_error("mta postfix\nrule a\nclass 3\n", "t.pat:3: class must be 2, 4 or 5");
	expect_error("  continued\n", "t.pat:1: continuation line without a directive");
	expect_error("# nothing\n", "t.pat: no 'mta' line");
	expect_error("mta postfix\nrule a\nstatus sent\nmatch ^\n  (?<queue_id>x\n", "t.pat:4: offset");
	expect_error_n("mta postfix\0\n", 13, "NUL byte");
	expect_error("mta exim\nrule a\nrequire-any \"open\n", "t.pat:3: unterminated quote in 'require-any'");
	expect_error("mta exim\nrule a\nrequire-any \"\" x\n", "t.pat:3: empty 'require-any' literal");
	expect_error("mta exim\nrule a\nrequire-any   \n", "t.pat:3: 'require-any' needs a literal");
}

static void
test_good(void **state)
{
	static const char text[] =
	    "# comment\n"
	    "mta postfix\r\n"
	    "programs postfix\n"
	    "candidate \" status=\"\n"
	    "rule delivery\n"
	    "program /smtp$\n"
	    "require \", status=\"\n"
	    "match ^(?<queue_id>[0-9A-F]+):\\x20to=<(?<recipient>[^>]*)>,\n"
	    "   \\x20status=(?<status>\\w+)$\n";
	char *cause = NULL;
	struct patterns *p = patterns_load_text("t.pat", text, sizeof text - 1, &cause);
	struct match m;
	const char *msg = "ABC123: to=<a@b.example>, status=sent";
	const char *other = "ABC123: to=<a@b.example>, status=sent trailing";

	if (p == NULL)
		fail_msg("%s", cause);
	assert_int_equal(patterns_count_rules(p, MTA_POSTFIX), 1);
	assert_true(patterns_match(p, MTA_POSTFIX, (struct span){"postfix/smtp", 12},
	    (struct span){msg, strlen(msg)}, &m));
	assert_string_equal(patterns_rule_name(m.rule), "postfix/delivery");
	assert_int_equal(m.field[FIELD_QUEUE_ID].n, 6);
	assert_int_equal(m.field[FIELD_RECIPIENT].n, 11);
	assert_null(m.field[FIELD_DSN].p);
	/* wrong program, wrong MTA, no match */
	assert_false(patterns_match(p, MTA_POSTFIX, (struct span){"postfix/lmtp", 12},
	    (struct span){msg, strlen(msg)}, &m));
	assert_false(patterns_match(p, MTA_EXIM, (struct span){"postfix/smtp", 12},
	    (struct span){msg, strlen(msg)}, &m));
	assert_false(patterns_match(p, MTA_POSTFIX, (struct span){"postfix/smtp", 12},
	    (struct span){other, strlen(other)}, &m));
	assert_true(patterns_is_candidate(p, MTA_POSTFIX, (struct span){other, strlen(other)}));
	/* a copy for another thread matches alike, with its own match data,
	 * and is freed before the original without taking its rules along */
	{
		struct patterns *copy = patterns_for_thread(p);
		struct match cm;

		assert_true(patterns_match(copy, MTA_POSTFIX, (struct span){"postfix/smtp", 12},
		                           (struct span){msg, strlen(msg)}, &cm));
		assert_ptr_equal(cm.rule, m.rule);
		assert_int_equal(cm.field[FIELD_RECIPIENT].n, 11);
		assert_false(patterns_match(copy, MTA_POSTFIX, (struct span){"postfix/smtp", 12},
		                            (struct span){other, strlen(other)}, &cm));
		patterns_free(copy);
	}
	assert_true(patterns_match(p, MTA_POSTFIX, (struct span){"postfix/smtp", 12},
	    (struct span){msg, strlen(msg)}, &m));
	patterns_free(p);
}

/* Literals inside others: "rejected " is searched before the four that
 * hold it, and a line without it has none of them; each rule and the
 * candidate test still see exactly the literals present. */
static void
test_nested_literals(void **state)
{
	static const char text[] =
	    "mta exim\n"
	    "candidate \"rejected RCPT \"\n"
	    "candidate \"rejected \"\n"
	    "rule rcpt\n"
	    "status rejected\n"
	    "require \"rejected RCPT \"\n"
	    "match rejected\\x20RCPT\\x20(?<recipient>\\S+)\n"
	    "rule temp\n"
	    "status deferred\n"
	    "require \"temporarily rejected \"\n"
	    "require \"rejected \"\n"
	    "match temporarily\\x20rejected\\x20(?<recipient>\\S+)\n";
	static const struct {
		const char *msg, *rule; /* rule NULL: no match */
		bool candidate;
	} rows[] = {
	    {"H=x rejected RCPT <a@example.org>: no", "exim/rcpt", true},
	    {"H=x temporarily rejected RCPT <a@example.org>", "exim/rcpt", true},
	    {"H=x temporarily rejected <a@example.org>", "exim/temp", true},
	    {"H=x rejected MAIL <a@example.org>", NULL, true},
	    {"H=x rejected", NULL, false},
	    {"H=x rejectedRCPT <a@example.org>", NULL, false},
	    {"rejected RCPT ", NULL, true},
	    {"<= a@example.org H=x", NULL, false},
	};
	struct patterns *p = load_or_fail(text, sizeof text - 1);

	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct span msg = {rows[i].msg, strlen(rows[i].msg)};
		struct match m;
		bool got = match_exim(p, rows[i].msg, &m);

		if (got != (rows[i].rule != NULL) ||
		    (got && strcmp(patterns_rule_name(m.rule), rows[i].rule) != 0) ||
		    m.candidate != rows[i].candidate ||
		    patterns_is_candidate(p, MTA_EXIM, msg) != rows[i].candidate)
			fail_msg("'%s': matched %s, candidate %d", rows[i].msg,
			         got ? patterns_rule_name(m.rule) : "nothing", m.candidate);
	}
	patterns_free(p);
}

/* The shipped pattern directory loads. */
static void
test_shipped(void **state)
{
	const char *top = getenv("top_srcdir");
	char *dir = xasprintf("%s/patterns", top ? top : ".");
	char *cause = NULL;
	struct patterns *p = patterns_load(dir, &cause);

	(void)state;
	if (p == NULL)
		fail_msg("%s", cause);
	assert_true(patterns_count_rules(p, MTA_POSTFIX) >= 4);
	/* the shipped wording signatures: the first of a set that matches,
	 * whether it is written as one alternation or as lines of one name */
	{
		static const struct {
			const char *set, *text, *want;
		} rows[] = {
		    {"transient", "554 5.7.1 Service unavailable, come back later", "try-later"},
		    {"transient", "550 5.7.0 Temporarily blocked for spam", "temporary"},
		    {"transient", "550 Mailbox unavailable at this time", "for-now"},
		    {"transient", "550 5.1.1 <a@example.org>: no such user", NULL},
		    {"permanent", "450 4.7.1 <a@example.org>: Relay access denied", "relay-denied"},
		    {"permanent", "450 4.7.1 Relaying not permitted", "relay-denied"},
		    {"permanent", "450 4.1.1 Recipient address rejected: User unknown", "user-unknown"},
		    {"other-cause", "421 4.7.0 TLS handshake failed", "tls"},
		    {"other-cause", "451 4.3.0 Local error in processing", "resources"},
		    {"other-cause", "451 4.7.1 SPF check soft-failed", "auth"},
		    {"other-cause", "451 4.7.1 Please retry", NULL},
		    {"greylist", "450 4.7.1 Greylisted, see http://postgrey.example.org/", "postgrey"},
		};

		for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
			const char *got = patterns_signature(p, rows[i].set, rows[i].text,
			                                     strlen(rows[i].text));

			if (rows[i].want == NULL)
				assert_null(got);
			else
				assert_non_null(got), assert_string_equal(got, rows[i].want);
		}
	}
	patterns_free(p);
	free(dir);
	p = patterns_load("/nonexistent-dir", &cause);
	assert_null(p);
	assert_non_null(strstr(cause, "/nonexistent-dir: No such file or directory"));
	free(cause);
}

/* require-any: one literal of the line must occur (words or quoted, the
 * line continued); with a plain require beside it, both lines must be met */
static void
test_require_any(void **state)
{
	static const char text[] =
	    "mta exim\n"
	    "rule expired\n"
	    "status expired\n"
	    "require \" ** \"\n"
	    "require-any \"retry timeout exceeded\" failing\n"
	    "  \"long failure period\"\n"
	    "match ^(?<queue_id>\\S+)\\x20\\*\\*\\x20(?<recipient>\\S+)\n";
	static const struct {
		const char *msg;
		bool match;
	} rows[] = {
	    {"1a-2b-3c ** a@example.org: retry timeout exceeded", true},
	    {"1a-2b-3c ** a@example.org: all hosts have been failing", true},
	    {"1a-2b-3c ** a@example.org: after a long failure period", true},
	    {"1a-2b-3c ** a@example.org: 550 user unknown", false},
	    {"1a-2b-3c == a@example.org: retry timeout exceeded", false},
	    {"1a-2b-3c ** a@example.org: retry  timeout exceeded", false},
	};
	struct patterns *p = load_or_fail(text, sizeof text - 1);

	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct match m;
		bool got = match_exim(p, rows[i].msg, &m);

		if (got != rows[i].match)
			fail_msg("'%s': matched %d, expected %d", rows[i].msg, got, rows[i].match);
	}
	patterns_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_nested_literals),
		cmocka_unit_test(test_require_any),
		cmocka_unit_test(test_shipped),
	};

	return cmocka_run_group_tests_name("patterns", tests, NULL, NULL);
}
