/*
 * test_input.c - reading lines: CRLF, NUL bytes, a last line without a
 * newline, over-long lines, gzip, truncated and corrupt gzip, resume offsets.
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
#include <unistd.h>
#include <zlib.h>

#include "input.h"

static char tmpl[] = "/tmp/smtplog-test-XXXXXX";
static char *dir;

static char *
write_file(const char *name, const char *data, size_t n, bool gzip)
{
	char *path = malloc(strlen(dir) + strlen(name) + 2);

	sprintf(path, "%s/%s", dir, name);
	if (gzip) {
		gzFile gz = gzopen(path, "wb");

		assert_non_null(gz);
		assert_int_equal(gzwrite(gz, data, (unsigned)n), (int)n);
		gzclose(gz);
	} else {
		FILE *f = fopen(path, "wb");

		assert_non_null(f);
		assert_int_equal(fwrite(data, 1, n, f), n);
		fclose(f);
	}
	return path;
}

static void
expect_lines(const char *path, const char *const *want, size_t nwant)
{
	char *cause = NULL;
	struct input *in = input_open(path, &cause);
	struct line l;
	size_t i = 0;

	assert_non_null(in);
	while (input_next_line(in, &l, &cause) == 1) {
		assert_true(i < nwant);
		assert_int_equal(l.n, strlen(want[i]));
		assert_memory_equal(l.p, want[i], l.n);
		assert_int_equal(l.line_no, i + 1);
		i++;
	}
	assert_int_equal(i, nwant);
	input_close(in);
}

static void
test_plain_and_gzip(void **state)
{
	static const char data[] = "one\r\ntwo\n\nfour without newline";
	static const char *const want[] = {"one", "two", "", "four without newline"};

	char *a = write_file("plain.log", data, sizeof data - 1, false);
	char *b = write_file("plain.log.gz", data, sizeof data - 1, true);

	(void)state;
	expect_lines(a, want, 4);
	expect_lines(b, want, 4);
	free(a);
	free(b);
}

static void
test_nul_bytes(void **state)
{
	static const char data[] = "a\0b\nc\n";
	char *cause = NULL, *path = write_file("nul.log", data, sizeof data - 1, false);
	struct input *in = input_open(path, &cause);
	struct line l;

	(void)state;
	free(path);
	assert_int_equal(input_next_line(in, &l, &cause), 1);
	assert_int_equal(l.n, 3);
	assert_int_equal(input_next_line(in, &l, &cause), 1);
	assert_int_equal(l.n, 1);
	assert_int_equal(input_next_line(in, &l, &cause), 0);
	input_close(in);
}

/* A 3 MiB line is cut to INPUT_MAX_LINE; the next line is intact. */
static void
test_long_line(void **state)
{
	size_t big = 3 * 1024 * 1024;
	char *data = malloc(big + 20);
	char *cause = NULL, *path;
	struct input *in;
	struct line l;

	(void)state;
	memset(data, 'x', big);
	memcpy(data + big, "\nnext\n", 6);
	path = write_file("long.log", data, big + 6, false);
	in = input_open(path, &cause);
	free(path);
	assert_int_equal(input_next_line(in, &l, &cause), 1);
	assert_true(l.truncated);
	assert_int_equal(l.n, INPUT_MAX_LINE);
	assert_int_equal(input_next_line(in, &l, &cause), 1);
	assert_false(l.truncated);
	assert_int_equal(l.n, 4);
	assert_memory_equal(l.p, "next", 4);
	assert_int_equal(l.line_no, 2);
	assert_int_equal(l.end_offset, big + 6);
	assert_int_equal(input_next_line(in, &l, &cause), 0);
	input_close(in);
	free(data);
}

/* A gzip file cut in half: the lines before the cut, then an error. */
static void
test_truncated_gzip(void **state)
{
	char data[200000];
	char *cause = NULL, *path, *cut;
	FILE *f;
	long size;
	char *buf;
	struct input *in;
	struct line l;
	int rc, lines = 0;

	(void)state;
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (i % 50 == 49) ? '\n' : (char)('a' + (i * 7919) % 26);
	path = write_file("cut.gz", data, sizeof data, true);
	f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	buf = malloc((size_t)size);
	assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	cut = write_file("cut-half.gz", buf, (size_t)size / 2, false);
	in = input_open(cut, &cause);
	while ((rc = input_next_line(in, &l, &cause)) == 1)
		lines++;
	assert_int_equal(rc, -1);
	assert_non_null(cause);
	assert_true(lines > 0 && lines < 4000);
	input_close(in);
	free(buf);
	free(cause);
	free(path);
	free(cut);
}

static void
test_skip(void **state)
{
	static const char data[] = "l1\nl2\nl3\n";
	char *cause = NULL, *path;
	struct input *in;
	struct line l;
	char head[4];

	(void)state;
	path = write_file("skip.log", data, sizeof data - 1, false);
	in = input_open(path, &cause);
	free(path);
	assert_int_equal(input_peek(in, head, 4, &cause), 4);
	assert_int_equal(input_skip(in, 6, 2, &cause), 0);
	assert_int_equal(input_next_line(in, &l, &cause), 1);
	assert_memory_equal(l.p, "l3", 2);
	assert_int_equal(l.line_no, 3);
	input_close(in);
	path = write_file("skip.log.gz", data, sizeof data - 1, true);
	in = input_open(path, &cause);
	free(path);
	assert_int_equal(input_skip(in, 3, 1, &cause), 0);
	assert_int_equal(input_next_line(in, &l, &cause), 1);
	assert_memory_equal(l.p, "l2", 2);
	input_close(in);
}

static void
test_open_errors(void **state)
{
	char *cause = NULL;

	(void)state;
	assert_null(input_open("/nonexistent/file.log", &cause));
	assert_string_equal(cause, "/nonexistent/file.log: No such file or directory");
	assert_null(input_open(dir, &cause));
	assert_non_null(strstr(cause, "is a directory"));
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_and_gzip),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_truncated_gzip),
		cmocka_unit_test(test_skip),
		cmocka_unit_test(test_open_errors),
	};
	int rc;
	char cmd[128];

	dir = mkdtemp(tmpl);
	if (dir == NULL)
		return 1;
	rc = cmocka_run_group_tests_name("input", tests, NULL, NULL);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return rc;
}
