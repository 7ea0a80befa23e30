/*
 * report_text.c - the plain-text report: fits 100 columns, no colour, no
 * control bytes (log text is shown with control bytes as '?').
 */
#include "config.h"

#include "report_model.h"

#include "diag.h"
#include "textout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_WIDTH 100

/* text_header - shorter column names where the text report is tight */
static const char *
text_header(const char *col)
{
	if (strcmp(col, "enhanced_code") == 0)
		return "enhanced";
	if (strcmp(col, "reply_code") == 0)
		return "reply";
	if (strcmp(col, "recipients") == 0)
		return "rcpts";
	return col;
}

static int
text_width(const char *s)
{
	int n = 0;

	if (s == NULL)
		return 1;
	for (; *s; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	}
	return n;
}

static void
render_heading(FILE *out, const char *title, const char *note)
{
	fprintf(out, "\n%s\n", title);
	for (size_t i = 0; i < strlen(title); i++)
		fputc('-', out);
	fputc('\n', out);
	if (note != NULL) {
		char *paren = xasprintf("(%s)", note);

		text_wrapped(out, "", paren, "", TEXT_WIDTH, 4);
		free(paren);
	}
}

/* Columns printed on a line of their own under their row, with a prefix. */
static const struct {
	const char *name, *prefix;
} text_subline[] = {
    {"meaning", "    "},
    {"example", "    e.g. "},
    {"hint", "    fix: "},
};
#define NSUBLINE (sizeof text_subline / sizeof text_subline[0])

static int
subline_of(const char *col)
{
	for (size_t i = 0; i < NSUBLINE; i++) {
		if (strcmp(col, text_subline[i].name) == 0)
			return (int)i;
	}
	return -1;
}

/* render_table_text - columns sized to content; "meaning", "example" and
 * "hint" go on lines of their own under their row; the last column takes
 * what is left of WIDTH */
static void
render_table_text(const struct table *t, FILE *out, int width)
{
	int w[32] = {0};
	size_t sub[NSUBLINE];
	size_t ncols = t->ncols < 32 ? t->ncols : 32, last;
	size_t enh = (size_t)-1, reply = (size_t)-1;
	bool is_sub[32] = {false};
	int used = 0;

	render_heading(out, t->title, t->note);
	if (t->nrows == 0) {
		fprintf(out, "none\n");
		return;
	}
	for (size_t i = 0; i < NSUBLINE; i++)
		sub[i] = (size_t)-1;
	for (size_t c = 0; c < ncols; c++) {
		int k = subline_of(t->cols[c]);

		if (k >= 0) {
			sub[k] = c;
			is_sub[c] = true;
			continue;
		}
		if (strcmp(t->cols[c], "enhanced_code") == 0)
			enh = c;
		else if (strcmp(t->cols[c], "reply_code") == 0)
			reply = c;
		w[c] = text_width(text_header(t->cols[c]));
		for (size_t r = 0; r < t->nrows; r++) {
			int k2 = text_width(t->cells[r * t->ncols + c].text);

			if (k2 > w[c])
				w[c] = k2;
		}
	}
	last = ncols - 1;
	while (last > 0 && is_sub[last])
		last--;
	for (size_t c = 0; c < last; c++) {
		if (!is_sub[c])
			used += w[c] + 2;
	}
	if (w[last] > width - used && !t->cells[last].integer)
		w[last] = width - used > 10 ? width - used : 10;
	for (size_t c = 0; c <= last; c++) {
		if (is_sub[c])
			continue;
		text_clipped(out, text_header(t->cols[c]), w[c], t->cells[c].integer, c != last);
		if (c != last)
			fputs("  ", out);
	}
	fputc('\n', out);
	for (size_t r = 0; r < t->nrows; r++) {
		const struct cell *row = &t->cells[r * t->ncols];

		for (size_t c = 0; c <= last; c++) {
			if (is_sub[c])
				continue;
			text_clipped(out, row[c].text, w[c], row[c].integer, c != last);
			if (c != last)
				fputs("  ", out);
		}
		fputc('\n', out);
		for (size_t k = 0; k < NSUBLINE; k++) {
			const char *text = sub[k] != (size_t)-1 ? row[sub[k]].text : NULL;
			char more[64] = "";
			int room;

			if (text == NULL)
				continue;
			if (strcmp(text_subline[k].name, "hint") == 0) {
				const char *rc = reply != (size_t)-1 ? row[reply].text : NULL;
				const char *ec = enh != (size_t)-1 ? row[enh].text : NULL;

				snprintf(more, sizeof more, "  [explain%s%s%s%s]", rc ? " " : "",
				         rc ? rc : "", ec ? " " : "", ec ? ec : "");
			}
			if (strcmp(text_subline[k].name, "example") == 0) {
				/* one line: it is the log text itself, cut */
				room = width - (int)strlen(text_subline[k].prefix);
				fputs(text_subline[k].prefix, out);
				text_clipped(out, text, room, false, false);
				fputc('\n', out);
			} else
				text_wrapped(out, text_subline[k].prefix, text, more, width, 3);
		}
	}
}

static double
pct(int64_t a, int64_t b)
{
	return b > 0 ? 100.0 * (double)a / (double)b : 0.0;
}

void
report_render_text(const struct report *r, FILE *out)
{
	int width = TEXT_WIDTH;
	int64_t lines = 0, matched = 0, cand = 0, unparsed = 0;
	int64_t delivered = r->by_status[0], attempts;

	fprintf(out, "smtplog-report %s\n", PACKAGE_VERSION);
	render_heading(out, "Summary", NULL);
	for (size_t i = 0; i < r->nsources; i++) {
		const struct summary_source *s = &r->sources[i];

		fputs("file        ", out);
		text_clipped(out, s->path, width - 12, false, false);
		fputc('\n', out);
		lines += s->lines;
		matched += s->matched;
		cand += s->candidates;
		unparsed += s->unparsed;
	}
	fprintf(out,
	        "lines       %lld read, %lld outcome lines matched, %lld unmatched outcome-like, "
	        "%lld not log lines\n",
	        (long long)lines, (long long)matched, (long long)cand, (long long)unparsed);
	fprintf(out, "time range  %s .. %s\n", r->first_ts ? r->first_ts : "-",
	        r->last_ts ? r->last_ts : "-");
	attempts = r->by_status[0] + r->by_status[2] + r->by_status[3];
	fprintf(out,
	        "events      %lld: %lld sent, %lld deferred, %lld bounced, %lld expired, "
	        "%lld rejected\n",
	        (long long)r->by_status[5], (long long)r->by_status[0], (long long)r->by_status[1],
	        (long long)r->by_status[2], (long long)r->by_status[3], (long long)r->by_status[4]);
	fprintf(out, "rates       %.1f%% of final outcomes bounced or expired, %.1f%% delivered\n",
	        pct(r->by_status[2] + r->by_status[3], attempts), pct(delivered, attempts));
	for (size_t i = 0; i < r->ntables; i++)
		render_table_text(&r->tables[i], out, width);
	fprintf(out, "\ndatabase    %s\n", r->scope->db_path ? r->scope->db_path : "-");
}
