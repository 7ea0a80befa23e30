/*
 * fuzz_patterns.c - libFuzzer target for the pattern-file loader: any bytes
 * must load or fail with a cause, never crash; a file that loads is matched
 * against a few real lines.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "patterns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const lines[] = {
	"ABC123: to=<a@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, dsn=5.1.1, "
	"status=bounced (host mx.example.com[192.0.2.1] said: 550 5.1.1 User unknown)",
	"NOQUEUE: reject: RCPT from x[192.0.2.1]: 554 5.7.1 <a@b>: Relay access denied; "
	"from=<x@y> to=<a@b> proto=ESMTP helo=<x>",
	"1tGh2a-000AbC-1x ** a@example.com R=r T=t: SMTP error from remote mail server after "
	"RCPT TO:<a@example.com>: 550 5.1.1 unknown",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *cause = NULL;
	struct patterns *p = patterns_load_text("fuzz.pat", (const char *)data, size, &cause);

	if (p != NULL) {
		for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
			struct match m;
			struct span msg = {lines[i], strlen(lines[i])};

			for (enum mta mta = MTA_POSTFIX; mta < MTA_COUNT; mta++) {
				(void)patterns_match(p, mta, (struct span){"postfix/smtp", 12}, msg,
				    &m);
				(void)patterns_is_candidate(p, mta, msg);
			}
			(void)patterns_signature(p, "greylist", msg.p, msg.n);
		}
	}
	patterns_free(p);
	free(cause);
	return 0;
}
