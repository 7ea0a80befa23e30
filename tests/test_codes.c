/*
 * test_codes.c - the knowledge base: it loads, every code of the reference
 * registry (../shared/reference, when present) is in it with the right
 * class, and explain handles codes, whole replies and bad input.
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

#include "codes.h"
#include "diag.h"

static struct codes *kb;

static const char *
retry_for_class(char c)
{
	return c == '4' ? "yes" : c == '5' ? "no" : "n/a";
}

/* every row: a valid retry value, no empty field, the class of a
 * class-specific code agreeing with its retry advice */
static void
test_rows_sane(void **state)
{
	(void)state;
	assert_true(codes_count(kb) >= 130);
	for (size_t i = 0; i < codes_count(kb); i++) {
		const struct code_entry *e = codes_entry(kb, i);

		if (strcmp(e->retry, "yes") != 0 && strcmp(e->retry, "no") != 0 &&
		    strcmp(e->retry, "maybe") != 0 && strcmp(e->retry, "n/a") != 0)
			fail_msg("%s: retry '%s'", e->code, e->retry);
		if (e->title[0] == '\0' || e->meaning[0] == '\0' || e->sender_fix[0] == '\0')
			fail_msg("%s: empty field", e->code);
		if ((e->code[0] == '4' || e->code[0] == '5') && strcmp(e->retry, "maybe") != 0 &&
		    strcmp(e->retry, retry_for_class(e->code[0])) != 0)
			fail_msg("%s: retry '%s' disagrees with its class", e->code, e->retry);
	}
}

/* check_reference - every code in column 1 of FILE must be in the KB */
static void
check_reference(const char *file, int *checked)
{
	const char *shared = getenv("SHARED_DIR");
	char *path, *line = NULL;
	size_t cap = 0;
	FILE *f;
	int n = 0;

	if (shared == NULL)
		return;
	path = xasprintf("%s/reference/%s", shared, file);
	f = fopen(path, "r");
	free(path);
	if (f == NULL)
		return;
	while (getline(&line, &cap, f) > 0) {
		char *tab = strchr(line, '\t');

		if (n++ == 0 || tab == NULL)
			continue; /* header */
		*tab = '\0';
		if (codes_find(kb, line) == NULL)
			fail_msg("%s: code %s missing from codes.tsv", file, line);
		(*checked)++;
	}
	free(line);
	fclose(f);
}

static void
test_reference(void **state)
{
	int checked = 0;

	(void)state;
	check_reference("reply-codes.tsv", &checked);
	check_reference("enhanced-status-codes.tsv", &checked);
	if (checked == 0)
		skip(); /* no ../shared/reference here */
	assert_true(checked >= 130);
}

static char *
explain(int argc, char **argv, int *rc)
{
	char *buf = NULL, *cause = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	*rc = codes_explain(kb, argc, argv, f, &cause);
	fclose(f);
	free(cause);
	return buf;
}

static void
test_explain(void **state)
{
	char *a1[] = {"550", "5.1.1"};
	char *a2[] = {"550 5.1.1 <bob@example.com>: User unknown"};
	char *a3[] = {"550 4.2.2 Mailbox full"};
	char *a4[] = {"5.7.99"};
	char *bad[][1] = {{"999"}, {"hello"}, {"6.1.1"}, {"5.1"}, {""}, {"55"}};
	char *out;
	int rc;

	(void)state;
	out = explain(2, a1, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "550  "));
	assert_non_null(strstr(out, "5.1.1  "));
	assert_non_null(strstr(out, "Retry: no"));
	assert_non_null(strstr(out, "  1. "));
	assert_non_null(strstr(out, "  2. "));
	free(out);
	out = explain(1, a2, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "5.1.1  "));
	assert_null(strstr(out, "disagrees"));
	free(out);
	out = explain(1, a3, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "disagrees"));
	free(out);
	out = explain(1, a4, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "not in the registry"));
	free(out);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		out = explain(1, bad[i], &rc);
		if (rc != -1)
			fail_msg("explain '%s' accepted", bad[i][0]);
		assert_string_equal(out, "");
		free(out);
	}
}

static void
test_list(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	codes_list(kb, 4, f);
	fclose(f);
	assert_non_null(strstr(buf, "4xx temporary failure"));
	assert_non_null(strstr(buf, "    421 "));
	assert_non_null(strstr(buf, "    4.2.2 "));
	assert_null(strstr(buf, "    550 "));
	free(buf);
}

int
main(void)
{
	const char *top = getenv("top_srcdir");
	char *path = xasprintf("%s/patterns/codes.tsv", top ? top : ".");
	char *cause = NULL;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_sane),
		cmocka_unit_test(test_reference),
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_list),
	};
	int rc;

	kb = codes_load(path, &cause);
	if (kb == NULL) {
		fprintf(stderr, "%s\n", cause);
		return 1;
	}
	rc = cmocka_run_group_tests_name("codes", tests, NULL, NULL);
	codes_free(kb);
	free(path);
	return rc;
}
