/*
 * test_hash.c - the two hashes of diag.c.  fnv1a64 gives the keys a
 * database keeps (events.message_key, events.reason_key) and the inputs'
 * fingerprints: its values are pinned, since a database written by one
 * version is read by the next.  hash_words keys tables in memory only: equal
 * bytes hash equal, and near-identical keys (one counter apart, every length
 * up to 40 bytes, each byte changed in turn) do not collide.
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

#include "diag.h"
#include "store.h"

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* the published FNV-1a 64 test values, and a key hashed in pieces */
static void
test_fnv1a64_pinned(void **state)
{
	(void)state;
	assert_true(fnv1a64(FNV1A64_BASIS, "", 0) == 0xcbf29ce484222325ULL);
	assert_true(fnv1a64(FNV1A64_BASIS, "a", 1) == 0xaf63dc4c8601ec8cULL);
	assert_true(fnv1a64(FNV1A64_BASIS, "foobar", 6) == 0x85944171f73967e8ULL);
	assert_true(fnv1a64(fnv1a64(FNV1A64_BASIS, "foo", 3), "bar", 3) ==
	            fnv1a64(FNV1A64_BASIS, "foobar", 6));
	assert_true((uint64_t)store_text_key("foobar", 6) == 0x85944171f73967e8ULL);
}

static void
expect_distinct(uint64_t *h, size_t n)
{
	qsort(h, n, sizeof *h, cmp_u64);
	for (size_t i = 1; i < n; i++)
		assert_true(h[i] != h[i - 1]);
}

static void
test_hash_words_distinct(void **state)
{
	enum { N = 1000000 };
	uint64_t *h = malloc(N * sizeof *h);
	char buf[64];
	size_t k = 0;

	(void)state;
	assert_non_null(h);
	/* recipients one counter apart */
	for (size_t i = 0; i < N; i++) {
		int n = snprintf(buf, sizeof buf, "user%zu@example.com", i);

		h[i] = hash_words(0, buf, (size_t)n);
	}
	expect_distinct(h, N);
	/* every prefix of one text, and every one-byte change of it */
	memset(buf, 'a', sizeof buf);
	for (size_t n = 0; n <= 40; n++)
		h[k++] = hash_words(0, buf, n);
	for (size_t i = 0; i < 40; i++) {
		for (int c = 1; c < 256; c++) {
			if (c == 'a')
				continue;
			buf[i] = (char)c;
			h[k++] = hash_words(0, buf, 40);
		}
		buf[i] = 'a';
	}
	expect_distinct(h, k);
	/* equal bytes, equal hash, wherever they lie */
	memcpy(buf + 3, "mx.example.net", 14);
	assert_true(hash_words(7, buf + 3, 14) == hash_words(7, "mx.example.net", 14));
	assert_true(hash_words(7, buf + 3, 14) != hash_words(8, "mx.example.net", 14));
	free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fnv1a64_pinned),
	    cmocka_unit_test(test_hash_words_distinct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
