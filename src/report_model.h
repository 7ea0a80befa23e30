/*
 * report_model.h - the report model shared by report.c (which builds it)
 * and the renderers (report_text.c, report_json.c, report_csv.c,
 * report_html.c).  Not part of the library's public interface.
 */
#ifndef SMTPLOG_REPORT_MODEL_H
#define SMTPLOG_REPORT_MODEL_H

#include "report.h"

#include <stdbool.h>
#include <stdint.h>

struct cell {
	char *text; /* NULL for SQL NULL */
	bool integer;
};

struct table {
	const char *id;
	const char *title;
	const char *note; /* one line under the title, or NULL */
	size_t ncols;
	const char **cols;
	size_t nrows;
	struct cell *cells; /* nrows * ncols */
};

struct summary_source {
	char *path;
	int64_t lines, matched, candidates, unparsed, events;
};

struct report {
	const struct report_scope *scope;
	struct summary_source *sources;
	size_t nsources;
	char *first_ts, *last_ts;
	int64_t by_status[6]; /* sent deferred bounced expired rejected, total */
	struct table *tables;
	size_t ntables;
};

enum { ST_SENT, ST_DEFERRED, ST_BOUNCED, ST_EXPIRED, ST_REJECTED, ST_TOTAL };

/* report_utf8_len - the length of the valid UTF-8 sequence starting at P
 * (a byte >= 0x80), or 0 when it is not one (overlong, surrogate, cut) */
size_t report_utf8_len(const unsigned char *p);
/* report_put_utf8 - write the sequence at P, or REPLACEMENT when it is not
 * valid UTF-8; returns the byte after what was consumed */
const unsigned char *report_put_utf8(FILE *out, const unsigned char *p, const char *replacement);

/* report_table - the section with ID, or NULL */
const struct table *report_table(const struct report *r, const char *id);

void report_render_text(const struct report *r, FILE *out);
void report_render_json(const struct report *r, FILE *out);
void report_render_csv(const struct report *r, FILE *out);
void report_render_html(const struct report *r, FILE *out);

#endif
