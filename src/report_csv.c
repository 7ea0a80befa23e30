/*
 * report_csv.c - one section as CSV (RFC 4180: CRLF line ends, fields with
 * commas, quotes or line breaks quoted, quotes doubled).  Cells that a
 * spreadsheet would run as a formula (starting with = + - @, tab or CR) get a
 * leading apostrophe: log text comes from strangers.
 */
#include "config.h"

#include "report_model.h"

#include <stdio.h>
#include <string.h>

static void
csv_field(FILE *out, const char *s, bool integer)
{
	bool quote;

	if (s == NULL)
		return;
	if (integer) {
		fputs(s, out);
		return;
	}
	quote = strpbrk(s, ",\"\r\n") != NULL;
	if (quote)
		fputc('"', out);
	if (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
	    s[0] == '\r')
		fputc('\'', out);
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '"')
			fputc('"', out);
		fputc(*p, out);
	}
	if (quote)
		fputc('"', out);
}

void
report_render_csv(const struct report *r, FILE *out)
{
	const char *id = r->scope->section ? r->scope->section : "bounces";
	const struct table *t = report_table(r, id);

	if (t == NULL)
		return;
	for (size_t c = 0; c < t->ncols; c++) {
		if (c)
			fputc(',', out);
		csv_field(out, t->cols[c], false);
	}
	fputs("\r\n", out);
	for (size_t row = 0; row < t->nrows; row++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const struct cell *cl = &t->cells[row * t->ncols + c];

			if (c)
				fputc(',', out);
			csv_field(out, cl->text, cl->integer);
		}
		fputs("\r\n", out);
	}
}
