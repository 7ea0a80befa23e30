/*
 * report_json.c - the JSON report: one object, every section, numbers as
 * numbers, NULL as null, times as ISO 8601 text.  The layout is documented in
 * the man page (JSON OUTPUT) and versioned by schema_version.
 */
#include "config.h"

#include "report_model.h"

#include <stdio.h>
#include <string.h>

#define JSON_SCHEMA_VERSION 1

/* json_string - S as a JSON string; bytes >= 0x80 pass (invalid UTF-8 is
 * replaced by U+FFFD so the document stays valid) */
static void
json_string(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	while (*p != '\0') {
		unsigned char c = *p;

		if (c == '"' || c == '\\') {
			fputc('\\', out);
			fputc(c, out);
			p++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(out, "\\u%04x", c);
			p++;
		} else if (c < 0x80) {
			/* '<' escaped so the JSON can sit inside HTML <script> safely */
			if (c == '<')
				fputs("\\u003c", out);
			else
				fputc(c, out);
			p++;
		} else
			p = report_put_utf8(out, p, "\\ufffd");
	}
	fputc('"', out);
}

static void
json_cell(FILE *out, const struct cell *c)
{
	if (c->text == NULL)
		fputs("null", out);
	else if (c->integer)
		fputs(c->text, out);
	else
		json_string(out, c->text);
}

void
report_render_json(const struct report *r, FILE *out)
{
	fprintf(out, "{\n  \"schema_version\": %d,\n  \"generator\": ", JSON_SCHEMA_VERSION);
	json_string(out, PACKAGE_NAME " " PACKAGE_VERSION);
	fputs(",\n  \"database\": ", out);
	json_string(out, r->scope->db_path);
	fputs(",\n  \"summary\": {\n    \"files\": [", out);
	for (size_t i = 0; i < r->nsources; i++) {
		const struct summary_source *s = &r->sources[i];

		fputs(i ? ",\n      {" : "\n      {", out);
		fputs("\"path\": ", out);
		json_string(out, s->path);
		fprintf(out,
		        ", \"lines\": %lld, \"matched\": %lld, \"unmatched_candidates\": %lld, "
		        "\"unparsed\": %lld, \"events\": %lld}",
		        (long long)s->lines, (long long)s->matched, (long long)s->candidates,
		        (long long)s->unparsed, (long long)s->events);
	}
	fputs(r->nsources ? "\n    ],\n" : "],\n", out);
	fputs("    \"first_event\": ", out);
	json_string(out, r->first_ts);
	fputs(",\n    \"last_event\": ", out);
	json_string(out, r->last_ts);
	fprintf(out,
	        ",\n    \"events\": {\"sent\": %lld, \"deferred\": %lld, \"bounced\": %lld, "
	        "\"expired\": %lld, \"rejected\": %lld, \"total\": %lld}\n  },\n",
	        (long long)r->by_status[ST_SENT], (long long)r->by_status[ST_DEFERRED],
	        (long long)r->by_status[ST_BOUNCED], (long long)r->by_status[ST_EXPIRED],
	        (long long)r->by_status[ST_REJECTED], (long long)r->by_status[ST_TOTAL]);
	fputs("  \"sections\": {", out);
	for (size_t i = 0; i < r->ntables; i++) {
		const struct table *t = &r->tables[i];

		fputs(i ? ",\n    " : "\n    ", out);
		json_string(out, t->id);
		fputs(": {\n      \"title\": ", out);
		json_string(out, t->title);
		fputs(",\n      \"note\": ", out);
		json_string(out, t->note);
		fputs(",\n      \"columns\": [", out);
		for (size_t c = 0; c < t->ncols; c++) {
			if (c)
				fputs(", ", out);
			json_string(out, t->cols[c]);
		}
		fputs("],\n      \"rows\": [", out);
		for (size_t row = 0; row < t->nrows; row++) {
			fputs(row ? ",\n        {" : "\n        {", out);
			for (size_t c = 0; c < t->ncols; c++) {
				if (c)
					fputs(", ", out);
				json_string(out, t->cols[c]);
				fputs(": ", out);
				json_cell(out, &t->cells[row * t->ncols + c]);
			}
			fputc('}', out);
		}
		fputs(t->nrows ? "\n      ]\n    }" : "]\n    }", out);
	}
	fputs("\n  }\n}\n", out);
}
