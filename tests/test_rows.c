/*
 * test_rows.c - table-driven extraction tests read from tests/rows/NAME.rows.
 *
 * Each rows file holds real line shapes and what SPEC section 3 says must
 * come out of them, so anyone can add a case without writing C:
 *
 *   # a comment
 *   > <a whole log line, envelope included>
 *   status=bounced reply_code=550 enhanced_code=5.1.1 recipient=a@b.example
 *   status=bounced recipient=c@b.example reason="User unknown"
 *
 * One expectation line per event, in order; only the keys named are
 * checked; "-" means NULL.  A line "none" expects no event.  Keys: mta
 * status queue_id sender recipient orig_recipient relay client reply_code
 * enhanced_code dsn class subject detail reason rule host program ts.
 * Usage: test_rows [FILE.rows]... (default: every rows file of the tree)
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

#include "classify.h"
#include "diag.h"
#include "envelope.h"
#include "extract.h"
#include "patterns.h"

static struct patterns *pats;
static char **row_files;
static int nrow_files;

static void
span_text(struct span s, char *buf, size_t size)
{
	if (s.p == NULL) {
		snprintf(buf, size, "-");
		return;
	}
	snprintf(buf, size, "%.*s", (int)s.n, s.p);
}

static void
int_text(int v, int none, char *buf, size_t size)
{
	if (v == none)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%d", v);
}

/* actual - the value of KEY in EV as text ("-" for NULL) */
static bool
actual(const struct envelope *env, const struct event *ev, const char *key, char *buf,
    size_t size)
{
#define S(name, span)                                   \
	if (strcmp(key, name) == 0) {                    \
		span_text(span, buf, size);              \
		return true;                             \
	}
	S("queue_id", ev->queue_id)
	S("sender", ev->sender)
	S("recipient", ev->recipient)
	S("orig_recipient", ev->orig_recipient)
	S("relay", ev->relay)
	S("client", ev->client)
	S("host", env->host)
	S("program", env->program)
	S("response", ev->response)
#undef S
	if (strcmp(key, "mta") == 0)
		snprintf(buf, size, "%s", mta_name(ev->mta));
	else if (strcmp(key, "status") == 0)
		snprintf(buf, size, "%s", status_name(ev->status));
	else if (strcmp(key, "reply_code") == 0)
		int_text(ev->reply_code, 0, buf, size);
	else if (strcmp(key, "enhanced_code") == 0)
		snprintf(buf, size, "%s", ev->enhanced_code[0] ? ev->enhanced_code : "-");
	else if (strcmp(key, "dsn") == 0)
		snprintf(buf, size, "%s", ev->dsn[0] ? ev->dsn : "-");
	else if (strcmp(key, "class") == 0)
		int_text(ev->class_code, -1, buf, size);
	else if (strcmp(key, "subject") == 0)
		int_text(ev->subject, -1, buf, size);
	else if (strcmp(key, "detail") == 0)
		int_text(ev->detail, -1, buf, size);
	else if (strcmp(key, "reason") == 0)
		snprintf(buf, size, "%s", ev->reason[0] ? ev->reason : "-");
	else if (strcmp(key, "rule") == 0)
		snprintf(buf, size, "%s", ev->rule);
	else if (strcmp(key, "ts") == 0)
		envelope_format_ts(&env->ts, buf, size);
	else
		return false;
	return true;
}

/* next_pair - parse "key=value" or key="quoted value" at *pp */
static bool
next_pair(char **pp, char **key, char **val)
{
	char *p = *pp, *w;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return false;
	*key = p;
	while (*p != '\0' && *p != '=')
		p++;
	if (*p != '=')
		return false;
	*p++ = '\0';
	if (*p == '"') {
		w = *val = ++p;
		while (*p != '\0' && *p != '"') {
			if (*p == '\\' && p[1] != '\0')
				p++;
			*w++ = *p++;
		}
		if (*p == '"')
			p++;
		*w = '\0';
		if (*p != '\0')
			p++;
	} else {
		*val = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	*pp = p;
	return true;
}

struct case_state {
	const char *file;
	int line_no;     /* of the '>' line */
	char *line;      /* the log line */
	struct envelope env;
	struct event ev[EXTRACT_MAX_EVENTS];
	size_t n;
	size_t seen;     /* expectation lines so far */
	bool expect_none;
	int failures;
};

static void
case_start(struct case_state *c, const char *file, int line_no, const char *text)
{
	struct envelope_year y;

	free(c->line);
	c->file = file;
	c->line_no = line_no;
	c->line = strdup(text);
	c->seen = 0;
	c->expect_none = false;
	c->n = 0;
	envelope_year_init(&y, 1795000000, 2026); /* rows name no year: 2026 */
	if (envelope_parse(c->line, strlen(c->line), &y, &c->env))
		extract_line(pats, &c->env, c->ev, EXTRACT_MAX_EVENTS, &c->n);
	for (size_t i = 0; i < c->n; i++)
		classify_event_reason(&c->ev[i]);
}

static void
case_end(struct case_state *c)
{
	if (c->line == NULL)
		return;
	if (c->expect_none && c->n != 0) {
		fprintf(stderr, "%s:%d: expected no event, got %zu (rule %s)\n", c->file,
		    c->line_no, c->n, c->ev[0].rule);
		c->failures++;
	} else if (!c->expect_none && c->seen != c->n) {
		fprintf(stderr, "%s:%d: expected %zu events, got %zu\n", c->file, c->line_no,
		    c->seen, c->n);
		c->failures++;
	}
	free(c->line);
	c->line = NULL;
}

static void
case_expect(struct case_state *c, int line_no, char *text)
{
	char *key, *val, buf[1024];
	size_t i = c->seen++;

	if (strcmp(text, "none") == 0) {
		c->expect_none = true;
		c->seen--;
		return;
	}
	if (i >= c->n)
		return; /* counted in case_end */
	while (next_pair(&text, &key, &val)) {
		if (!actual(&c->env, &c->ev[i], key, buf, sizeof buf)) {
			fprintf(stderr, "%s:%d: unknown key '%s'\n", c->file, line_no, key);
			c->failures++;
			continue;
		}
		if (strcmp(buf, val) != 0) {
			fprintf(stderr, "%s:%d: event %zu: %s is '%s', expected '%s'\n", c->file,
			    line_no, i + 1, key, buf, val);
			c->failures++;
		}
	}
}

static int
run_rows_file(const char *path, int *cases)
{
	FILE *f = fopen(path, "r");
	struct case_state c = {0};
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	int line_no = 0;

	if (f == NULL) {
		fprintf(stderr, "%s: cannot open\n", path);
		return 1;
	}
	while ((len = getline(&buf, &cap, f)) >= 0) {
		line_no++;
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		if (len == 0 || buf[0] == '#')
			continue;
		if (buf[0] == '>' && buf[1] == ' ') {
			case_end(&c);
			case_start(&c, path, line_no, buf + 2);
			(*cases)++;
		} else if (c.line != NULL)
			case_expect(&c, line_no, buf);
		else {
			fprintf(stderr, "%s:%d: expectation before any '>' line\n", path, line_no);
			c.failures++;
		}
	}
	case_end(&c);
	free(buf);
	fclose(f);
	return c.failures;
}

static void
test_rows(void **state)
{
	int failures = 0, cases = 0;

	(void)state;
	for (int i = 0; i < nrow_files; i++)
		failures += run_rows_file(row_files[i], &cases);
	fprintf(stderr, "rows: %d cases in %d files, %d failed checks\n", cases, nrow_files,
	    failures);
	assert_true(cases > 0);
	assert_int_equal(failures, 0);
}

int
main(int argc, char **argv)
{
	const char *top = getenv("top_srcdir");
	char *dir, *cause = NULL;
	static char *defaults[] = {"postfix", "exim", "sendmail"};
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_rows)};

	if (top == NULL)
		top = ".";
	dir = xasprintf("%s/patterns", top);
	pats = patterns_load(dir, &cause);
	if (pats == NULL) {
		fprintf(stderr, "%s\n", cause);
		return 1;
	}
	if (argc > 1) {
		row_files = argv + 1;
		nrow_files = argc - 1;
	} else {
		row_files = xcalloc(3, sizeof *row_files);
		for (int i = 0; i < 3; i++) {
			char *p = xasprintf("%s/tests/rows/%s.rows", top, defaults[i]);
			FILE *f = fopen(p, "r");

			if (f != NULL) {
				fclose(f);
				row_files[nrow_files++] = p;
			} else
				free(p);
		}
	}
	{
		int rc = cmocka_run_group_tests_name("rows", tests, NULL, NULL);

		if (argc <= 1) {
			for (int i = 0; i < nrow_files; i++)
				free(row_files[i]);
			free(row_files);
		}
		patterns_free(pats);
		free(dir);
		return rc;
	}
}
