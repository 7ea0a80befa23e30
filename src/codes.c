/*
 * codes.c - the knowledge base of reply codes and enhanced status codes.
 *
 * patterns/codes.tsv: UTF-8, tab-separated, "#" comment lines, one header
 * line, columns code title meaning retry causes sender_fix receiver_fix
 * providers.  Lists inside a field are separated by " | ".  An enhanced code
 * is written with X for its class (X.1.1) unless its meaning depends on the
 * class (5.7.1); class rows are 2.X.X/4.X.X/5.X.X, subject rows X.s.X.
 */
#include "config.h"

#include "codes.h"

#include "classify.h"
#include "diag.h"
#include "textout.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CODES_COLUMNS 8
#define EXPLAIN_WIDTH 100

struct codes {
	char *text; /* the file, split in place */
	struct code_entry *rows;
	size_t nrows;
};

static const char *const class_names[6] = {
    [2] = "success",
    [3] = "intermediate",
    [4] = "temporary failure",
    [5] = "permanent failure",
};

static const char *const subject_names[8] = {
    "other or undefined",
    "addressing",
    "mailbox",
    "mail system",
    "network and routing",
    "mail delivery protocol",
    "message content or media",
    "security or policy",
};

void
codes_free(struct codes *c)
{
	if (c == NULL)
		return;
	free(c->text);
	free(c->rows);
	free(c);
}

size_t
codes_count(const struct codes *c)
{
	return c->nrows;
}

const struct code_entry *
codes_entry(const struct codes *c, size_t i)
{
	return i < c->nrows ? &c->rows[i] : NULL;
}

struct codes *
codes_load(const char *path, char **cause)
{
	FILE *f = fopen(path, "rb");
	struct codes *c;
	size_t cap = 0, len = 0;
	char *p, *line;
	int lineno = 0;
	bool header = false;

	if (f == NULL) {
		set_cause(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	c = xcalloc(1, sizeof *c);
	for (;;) {
		size_t got;

		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 262144;
			if (cap > 64 * 1024 * 1024) {
				set_cause(cause, "%s: too large", path);
				goto fail;
			}
			c->text = xreallocarray(c->text, cap, 1);
		}
		got = fread(c->text + len, 1, cap - len - 1, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		set_cause(cause, "%s: %s", path, strerror(errno));
		goto fail;
	}
	c->text[len] = '\0';
	for (p = c->text; p != NULL && *p != '\0';) {
		char *field[CODES_COLUMNS], *nl = strchr(p, '\n');
		int n = 0;

		line = p;
		p = nl ? nl + 1 : NULL;
		if (nl != NULL)
			*nl = '\0';
		lineno++;
		if (nl != NULL && nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		for (char *q = line; n < CODES_COLUMNS;) {
			char *tab = strchr(q, '\t');

			field[n++] = q;
			if (tab == NULL)
				break;
			*tab = '\0';
			q = tab + 1;
		}
		if (n != CODES_COLUMNS) {
			set_cause(cause, "%s:%d: %d columns, expected %d", path, lineno, n,
			          CODES_COLUMNS);
			goto fail;
		}
		if (!header) {
			if (strcmp(field[0], "code") != 0) {
				set_cause(cause, "%s:%d: expected the header line", path, lineno);
				goto fail;
			}
			header = true;
			continue;
		}
		c->rows = xreallocarray(c->rows, c->nrows + 1, sizeof *c->rows);
		c->rows[c->nrows++] = (struct code_entry){field[0], field[1], field[2], field[3],
		                                          field[4], field[5], field[6], field[7]};
	}
	fclose(f);
	if (c->nrows == 0) {
		set_cause(cause, "%s: no codes", path);
		codes_free(c);
		return NULL;
	}
	return c;
fail:
	fclose(f);
	codes_free(c);
	return NULL;
}

int
codes_file_digest(const char *path, uint64_t *digest, char **cause)
{
	FILE *f = fopen(path, "rb");
	uint64_t h = FNV1A64_BASIS;
	unsigned char buf[65536];
	size_t got;

	if (f == NULL) {
		set_cause(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* the file's bytes in pieces (0.3 ms for its 266 KB; parsing it
	 * takes 1-2 ms) */
	while ((got = fread(buf, 1, sizeof buf, f)) > 0)
		h = fnv1a64(h, buf, got);
	if (ferror(f)) {
		set_cause(cause, "%s: %s", path, strerror(errno));
		fclose(f);
		return -1;
	}
	fclose(f);
	*digest = h;
	return 0;
}

const struct code_entry *
codes_find(const struct codes *c, const char *code)
{
	char generic[CODE_MAX + 2];

	for (size_t i = 0; i < c->nrows; i++) {
		if (strcmp(c->rows[i].code, code) == 0)
			return &c->rows[i];
	}
	if (code[0] != '\0' && code[1] == '.' && strlen(code) < sizeof generic) {
		strcpy(generic, code);
		generic[0] = 'X';
		for (size_t i = 0; i < c->nrows; i++) {
			if (strcmp(c->rows[i].code, generic) == 0)
				return &c->rows[i];
		}
	}
	return NULL;
}

void
codes_concrete(const char *code, int klass, char *out, size_t size)
{
	snprintf(out, size, "%s", code);
	if (out[0] == 'X')
		out[0] = (char)('0' + klass);
}

/* print_list - "a | b | c" as bullet or numbered lines */
static void
print_list(FILE *out, const char *heading, const char *list, bool numbered)
{
	const char *p = list;
	int k = 0;

	if (list == NULL || strcmp(list, "-") == 0 || list[0] == '\0')
		return;
	fprintf(out, "%s\n", heading);
	while (*p != '\0') {
		const char *sep = strstr(p, " | ");
		size_t n = sep ? (size_t)(sep - p) : strlen(p);

		char *item = xstrndup(p, n), first[16];

		if (numbered)
			snprintf(first, sizeof first, "  %d. ", ++k);
		else
			snprintf(first, sizeof first, "  - ");
		text_wrapped(out, first, item, "", EXPLAIN_WIDTH, 20);
		free(item);
		p += n;
		if (sep != NULL)
			p += 3;
	}
}

static const char *
retry_advice(const char *retry)
{
	if (strcmp(retry, "yes") == 0)
		return "yes: a temporary condition; the sending MTA retries by itself";
	if (strcmp(retry, "no") == 0)
		return "no: resending unchanged will fail again; something must change first";
	if (strcmp(retry, "maybe") == 0)
		return "maybe: it depends on the cause (see above)";
	return "not applicable";
}

static void
print_entry(FILE *out, const char *shown, const struct code_entry *e)
{
	fprintf(out, "%s  %s\n", shown, e->title);
	text_wrapped(out, "  ", e->meaning, "", EXPLAIN_WIDTH, 20);
	fprintf(out, "Retry: %s\n", retry_advice(e->retry));
	print_list(out, "Usual causes:", e->causes, false);
	print_list(out, "If you are the sender (your mail was refused):", e->sender_fix, true);
	print_list(out, "If you are the receiver (your server refused it):", e->receiver_fix, true);
	if (e->providers != NULL && strcmp(e->providers, "-") != 0)
		text_wrapped(out, "Providers: ", e->providers, "", EXPLAIN_WIDTH, 40);
}

/* explain_enhanced - exact row, or class and subject rows as RFC 3463 says */
static void
explain_enhanced(const struct codes *c, const char *code, FILE *out)
{
	const struct code_entry *e = codes_find(c, code);
	char klass[8], subject[16];
	int s = atoi(code + 2);

	if (e != NULL) {
		print_entry(out, code, e);
		return;
	}
	snprintf(klass, sizeof klass, "%c.X.X", code[0]);
	snprintf(subject, sizeof subject, "X.%d.X", s);
	fprintf(out,
	        "%s  (not in the registry: explained by its class and subject, as RFC 3463 "
	        "says to)\n",
	        code);
	e = codes_find(c, klass);
	if (e != NULL)
		fprintf(out, "  class %c, %s: %s\n", code[0], e->title, e->meaning);
	e = s >= 0 && s <= 7 ? codes_find(c, subject) : NULL;
	if (e != NULL) {
		fprintf(out, "  subject %d, %s: %s\n", s, e->title, e->meaning);
		print_list(out, "If you are the sender:", e->sender_fix, true);
	} else
		fprintf(out, "  subject %d is not defined by RFC 3463\n", s);
	fprintf(out, "Retry: %s\n",
	        retry_advice(code[0] == '4'   ? "yes"
	                     : code[0] == '5' ? "no"
	                                      : "n/a"));
}

static void
explain_reply(const struct codes *c, int code, FILE *out)
{
	char buf[8];
	const struct code_entry *e;

	snprintf(buf, sizeof buf, "%d", code);
	e = codes_find(c, buf);
	if (e != NULL) {
		print_entry(out, buf, e);
		return;
	}
	fprintf(out, "%d  (not a registered reply code: explained by its class)\n", code);
	fprintf(out, "  %s\n",
	        code / 100 == 2   ? "2yz: the command succeeded."
	        : code / 100 == 3 ? "3yz: the server waits for more input (intermediate reply)."
	        : code / 100 == 4 ? "4yz: a temporary failure; the client should retry later."
	                          : "5yz: a permanent failure; the same command will fail again.");
	fprintf(out, "Retry: %s\n",
	        retry_advice(code / 100 == 4   ? "yes"
	                     : code / 100 == 5 ? "no"
	                                       : "n/a"));
}

/* find_codes - the reply code and/or enhanced code a text starts with:
 * "550", "5.1.1", "550 5.1.1 text", "550-5.1.1 text" */
static bool
find_codes(const char *s, int *reply, char enhanced[CODE_MAX])
{
	const char *p = s;
	size_t n;

	*reply = 0;
	enhanced[0] = '\0';
	while (*p == ' ' || *p == '\t' || *p == '"' || *p == '(')
		p++;
	n = strspn(p, "0123456789");
	if (n == 3 && (p[3] == '\0' || p[3] == ' ' || p[3] == '-')) {
		*reply = classify_reply_code((struct span){p, 3});
		if (*reply == 0)
			return false; /* 999, 600, 100: not a reply code */
		p += 3;
		while (*p == ' ' || *p == '-')
			p++;
	}
	n = strspn(p, "0123456789.");
	if (n > 0 && !classify_enhanced_code((struct span){p, n}, enhanced) && *reply == 0)
		return false;
	return *reply != 0 || enhanced[0] != '\0';
}

int
codes_explain(const struct codes *c, int argc, char **argv, FILE *out, char **cause)
{
	int reply, last_reply = 0, shown = 0;
	char enhanced[CODE_MAX], last_enhanced[CODE_MAX] = "";

	if (argc == 0) {
		set_cause(cause, "explain: name a code (550, 5.1.1) or a whole reply text");
		return -1;
	}
	/* validate everything first: an error prints nothing else */
	for (int i = 0; i < argc; i++) {
		if (!find_codes(argv[i], &reply, enhanced)) {
			set_cause(
			    cause,
			    "explain: '%s' is not a reply code (200-599), an enhanced status code "
			    "(2, 4 or 5 . subject . detail) or a reply text starting with one",
			    argv[i]);
			return -1;
		}
	}
	for (int i = 0; i < argc; i++) {
		find_codes(argv[i], &reply, enhanced);
		if (reply != 0) {
			if (shown++ > 0)
				fputc('\n', out);
			explain_reply(c, reply, out);
			last_reply = reply;
		}
		if (enhanced[0] != '\0') {
			if (shown++ > 0)
				fputc('\n', out);
			explain_enhanced(c, enhanced, out);
			memcpy(last_enhanced, enhanced, CODE_MAX);
		}
	}
	if (last_reply != 0 && last_enhanced[0] != '\0' &&
	    last_reply / 100 != last_enhanced[0] - '0')
		fprintf(
		    out,
		    "\nNote: the reply class (%dxx) disagrees with the enhanced code's class "
		    "(%c.x.x).\n  The sending MTA acts on the reply code: it treats this as a %s.\n"
		    "  Read the text to see which is true; Postfix logs such a reply with "
		    "dsn=%d.0.0.\n",
		    last_reply / 100, last_enhanced[0],
		    last_reply / 100 == 5 ? "permanent failure" : "temporary failure",
		    last_reply / 100);
	return 0;
}

static int
entry_class(const struct code_entry *e)
{
	const char *code = e->code;

	if (code[0] >= '2' && code[0] <= '5')
		return code[0] - '0';
	return 0; /* X.s.d: every failure class */
}

static bool
is_reply_code(const char *code)
{
	return strlen(code) == 3 && strspn(code, "0123456789") == 3;
}

void
codes_list(const struct codes *c, int klass, FILE *out)
{
	for (int k = 2; k <= 5; k++) {
		if (klass != 0 && k != klass)
			continue;
		fprintf(out, "%s%dxx %s\n", k == (klass ? klass : 2) ? "" : "\n", k,
		        class_names[k]);
		fprintf(out, "  reply codes\n");
		for (size_t i = 0; i < c->nrows; i++) {
			const struct code_entry *e = &c->rows[i];

			if (is_reply_code(e->code) && e->code[0] - '0' == k)
				fprintf(out, "    %-9s %s\n", e->code, e->title);
		}
		if (k == 3)
			continue; /* enhanced codes have no class 3 */
		for (int s = 0; s <= 7; s++) {
			bool any = false;

			for (size_t i = 0; i < c->nrows; i++) {
				const struct code_entry *e = &c->rows[i];
				char shown[CODE_MAX + 2];
				int ec = entry_class(e);

				if (is_reply_code(e->code) || strlen(e->code) < 5 ||
				    e->code[2] - '0' != s || e->code[3] != '.' ||
				    e->code[4] == 'X' || (ec != 0 && ec != k))
					continue;
				/* a class-specific row replaces the X row for its class */
				if (ec == 0) {
					codes_concrete(e->code, k, shown, sizeof shown);
					if (codes_find(c, shown) != e)
						continue;
				} else
					snprintf(shown, sizeof shown, "%s", e->code);
				if (!any) {
					fprintf(out, "  %d.%d.x %s\n", k, s, subject_names[s]);
					any = true;
				}
				fprintf(out, "    %-9s %s\n", shown, e->title);
			}
		}
	}
}
