/*
 * fuzz_line.c - libFuzzer target for the line path: every line of the input
 * through envelope_parse, extract_line (which classifies) and the reason
 * signature, with the shipped patterns.  Build: ./configure CC=clang
 * --enable-fuzzing --enable-sanitizers; run: fuzz/fuzz_line -max_total_time=60
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "diag.h"
#include "envelope.h"
#include "extract.h"
#include "patterns.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct patterns *pats;
static struct event events[EXTRACT_MAX_EVENTS];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_PATTERNS");
	char *cause = NULL;

	(void)argc;
	(void)argv;
	pats = patterns_load(dir ? dir : ABS_SRCDIR "/patterns", &cause);
	if (pats == NULL) {
		fprintf(stderr, "fuzz_line: %s\n", cause);
		abort();
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *e = p + size;
	struct envelope_year y;
	char reason[REASON_MAX + 1];

	envelope_year_init(&y, 1795000000, 0);
	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(e - p);
		struct envelope env;
		size_t nev = 0;

		if (envelope_parse(p, n, &y, &env)) {
			char ts[64];

			envelope_format_ts(&env.ts, ts, sizeof ts);
			(void)envelope_ts_epoch(&env.ts);
			extract_line(pats, &env, events, EXTRACT_MAX_EVENTS, &nev);
			for (size_t i = 0; i < nev; i++)
				classify_event_reason(&events[i]);
		}
		classify_reason(p, n, reason);
		p += n + 1;
	}
	return 0;
}
