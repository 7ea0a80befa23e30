/*
 * test_msg_runs.c - the first analysis' records: merged in (key, id) order
 * across runs written to a temporary file and the run kept in memory,
 * negative keys first, every field and text back as given, records larger
 * than a run or a read buffer, no records, a record larger than any line
 * makes, and an unwritable TMPDIR.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg_runs.h"

/* the i-th test record's key: few distinct keys, both signs, so that
 * messages span runs */
static int64_t
key_of(uint64_t i)
{
	uint64_t x = (i * 2654435761u) % 97;

	return (int64_t)(x * 0x0123456789abcdefULL) ^ (x & 1 ? INT64_MIN : 0);
}

static void
recipient_of(uint64_t i, char *buf, size_t size)
{
	snprintf(buf, size, "user%llu@example.org", (unsigned long long)(i % 13));
}

static void
add_n(struct msg_runs *mr, uint64_t n)
{
	char rcpt[64], host[32], qid[32];

	for (uint64_t i = 1; i <= n; i++) {
		struct msg_rec r = {
		    .key = key_of(i),
		    .id = (int64_t)i,
		    .ts = (int64_t)(1700000000 + i),
		    .has_ts = i % 5 != 0,
		    .other_cause = i % 7 == 0,
		    .text_grey = i % 11 == 0,
		    .status = (enum status)(1 + i % 5),
		    .klass = i % 3 == 0 ? -1 : 4,
		};

		recipient_of(i, rcpt, sizeof rcpt);
		if (i % 4 == 0)
			r.recipient = SPAN_NONE;
		else if (i % 9 == 0)
			r.recipient = (struct span){"", 0};
		else
			r.recipient = (struct span){rcpt, strlen(rcpt)};
		snprintf(host, sizeof host, "mx%llu", (unsigned long long)(i % 3));
		snprintf(qid, sizeof qid, "Q%llu", (unsigned long long)(i % 97));
		assert_true(msg_runs_add(mr, &r, i % 2 ? "postfix" : "exim",
		                         i % 6 == 0 ? SPAN_NONE : (struct span){host, strlen(host)},
		                         (struct span){qid, strlen(qid)}));
	}
	assert_int_equal(msg_runs_count(mr), n);
}

/* check_all - the N records of add_n, in (key, id) order, as given */
static void
check_all(struct msg_runs *mr, uint64_t n)
{
	struct msg_rec r;
	uint64_t seen = 0;
	int64_t last_key = INT64_MIN, last_id = 0;
	char rcpt[64], ident[96];
	int got;

	assert_true(msg_runs_start(mr));
	while ((got = msg_runs_next(mr, &r)) == 1) {
		uint64_t i = (uint64_t)r.id;

		assert_true(seen == 0 || r.key > last_key || (r.key == last_key && r.id > last_id));
		last_key = r.key;
		last_id = r.id;
		assert_int_equal(r.key, key_of(i));
		assert_int_equal(r.ts, (int64_t)(1700000000 + i));
		assert_int_equal(r.has_ts, i % 5 != 0);
		assert_int_equal(r.other_cause, i % 7 == 0);
		assert_int_equal(r.text_grey, i % 11 == 0);
		assert_int_equal(r.status, (enum status)(1 + i % 5));
		assert_int_equal(r.klass, i % 3 == 0 ? -1 : 4);
		recipient_of(i, rcpt, sizeof rcpt);
		if (i % 4 == 0)
			assert_null(r.recipient.p);
		else if (i % 9 == 0) {
			assert_non_null(r.recipient.p);
			assert_int_equal(r.recipient.n, 0);
		} else {
			assert_int_equal(r.recipient.n, strlen(rcpt));
			assert_memory_equal(r.recipient.p, rcpt, r.recipient.n);
		}
		if (i % 6 == 0)
			snprintf(ident, sizeof ident, "%s\x1f\x1e\x1fQ%llu", i % 2 ? "postfix" : "exim",
			         (unsigned long long)(i % 97));
		else
			snprintf(ident, sizeof ident, "%s\x1fmx%llu\x1fQ%llu",
			         i % 2 ? "postfix" : "exim", (unsigned long long)(i % 3),
			         (unsigned long long)(i % 97));
		assert_int_equal(r.identity.n, strlen(ident));
		assert_memory_equal(r.identity.p, ident, r.identity.n);
		seen++;
	}
	assert_int_equal(got, 0);
	assert_int_equal(seen, n);
	assert_int_equal(msg_runs_next(mr, &r), 0);
}

static void
test_one_run(void **state)
{
	struct msg_runs *mr = msg_runs_new(0, 0);

	(void)state;
	add_n(mr, 1000);
	check_all(mr, 1000);
	msg_runs_free(mr);
}

static void
test_many_runs(void **state)
{
	/* runs of 4 KiB: about 50 records each, 200 runs on file, read
	 * through buffers of the 16 KiB minimum, merged two at a time (four
	 * times 4 KiB of buffers) until two are left */
	struct msg_runs *mr = msg_runs_new(4096, 4096);

	(void)state;
	add_n(mr, 10000);
	check_all(mr, 10000);
	msg_runs_free(mr);
}

static void
test_empty(void **state)
{
	struct msg_runs *mr = msg_runs_new(4096, 0);
	struct msg_rec r;

	(void)state;
	assert_true(msg_runs_start(mr));
	assert_int_equal(msg_runs_next(mr, &r), 0);
	/* nothing is added once the merge began */
	assert_false(msg_runs_add(mr, &r, "postfix", SPAN_NONE, (struct span){"Q", 1}));
	msg_runs_free(mr);
}

static void
test_large_record(void **state)
{
	/* a recipient larger than a run and than a read buffer, between
	 * small records */
	struct msg_runs *mr = msg_runs_new(4096, 4096);
	size_t big = 100000;
	char *text = malloc(big);
	struct msg_rec r = {.key = 5, .status = STATUS_DEFERRED, .klass = 4}, out;
	int64_t want[] = {1, 3, 2}; /* by key: 1 (key 2), 3 (key 3), 2 (key 5) */
	int64_t keys[] = {2, 5, 3};

	(void)state;
	memset(text, 'x', big);
	for (int64_t id = 1; id <= 3; id++) {
		r.id = id;
		r.key = keys[id - 1];
		r.recipient = id == 2 ? (struct span){text, big} : (struct span){"a@b", 3};
		assert_true(msg_runs_add(mr, &r, "exim", (struct span){"h", 1},
		                         (struct span){"1abc-000001-AB", 14}));
	}
	assert_true(msg_runs_start(mr));
	for (int k = 0; k < 3; k++) {
		assert_int_equal(msg_runs_next(mr, &out), 1);
		assert_int_equal(out.id, want[k]);
		if (out.id == 2) {
			assert_int_equal(out.recipient.n, big);
			assert_memory_equal(out.recipient.p, text, big);
		} else
			assert_memory_equal(out.recipient.p, "a@b", 3);
		assert_memory_equal(out.identity.p, "exim\x1fh\x1f" "1abc-000001-AB", out.identity.n);
	}
	assert_int_equal(msg_runs_next(mr, &out), 0);
	msg_runs_free(mr);
	free(text);
}

static void
test_oversized_record(void **state)
{
	/* no line makes a record of 9 MiB: one is refused, and the records
	 * are no longer complete */
	struct msg_runs *mr = msg_runs_new(0, 0);
	size_t big = 9u * 1024 * 1024;
	char *text = calloc(1, big);
	struct msg_rec r = {.key = 1, .id = 1, .status = STATUS_BOUNCED, .klass = 5}, out;

	(void)state;
	assert_non_null(text);
	r.recipient = (struct span){text, big};
	assert_false(msg_runs_add(mr, &r, "postfix", SPAN_NONE, (struct span){"ABC", 3}));
	assert_false(msg_runs_start(mr));
	assert_int_equal(msg_runs_next(mr, &out), -1);
	msg_runs_free(mr);
	free(text);
}

static void
test_unwritable_tmpdir(void **state)
{
	/* a second run cannot be written: adding fails, and so does the merge
	 * (the caller reads the table instead) */
	struct msg_runs *mr = msg_runs_new(4096, 0);
	struct msg_rec r = {.key = 1, .status = STATUS_SENT, .klass = 2}, out;
	char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
	bool ok = true;

	(void)state;
	setenv("TMPDIR", "/nonexistent/smtplog-report-test", 1);
	for (int64_t id = 1; ok && id <= 1000; id++) {
		r.id = id;
		ok = msg_runs_add(mr, &r, "postfix", SPAN_NONE, (struct span){"ABC", 3});
	}
	assert_false(ok);
	assert_false(msg_runs_start(mr));
	assert_int_equal(msg_runs_next(mr, &out), -1);
	msg_runs_free(mr);
	if (old != NULL) {
		setenv("TMPDIR", old, 1);
		free(old);
	} else
		unsetenv("TMPDIR");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_run),         cmocka_unit_test(test_many_runs),
	    cmocka_unit_test(test_empty),           cmocka_unit_test(test_large_record),
	    cmocka_unit_test(test_oversized_record), cmocka_unit_test(test_unwritable_tmpdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
