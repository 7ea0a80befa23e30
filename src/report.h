/*
 * report.h - the report: a model built once from the database, and its
 * renderers.
 *
 * Owns: the report's sections (SPEC section 5) as tables of cells, the
 * scope they cover (sources of this run or all, a time range, a domain),
 * and rendering them as text.  Every query binds its parameters; no SQL is
 * built from log text.
 * Does not own: ingestion (ingest.c) or the schema (store.c).
 */
#ifndef SMTPLOG_REPORT_H
#define SMTPLOG_REPORT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct redactor;

struct report_scope {
	const int64_t *source_ids; /* NULL: every source (--all) */
	size_t nsources;
	int64_t since, until;    /* epoch seconds; 0: open */
	const char *domain;      /* recipient domain, or NULL */
	int top;                 /* rows per section */
	const char *db_path;     /* named in the footer */
	const char *section;     /* CSV: the section to write */
	struct redactor *redact; /* --redact: hash local parts in every cell */
	/* the failures in scope as they were stored, counted (a first load
	 * reported whole: store_take_counts), or NULL: read from the events */
	const struct report_agg *counted;
};

struct report;
struct report_agg;

/* report_start - begin the report at once, on a thread of its own with a
 * second connection to the database at PATH (DB's file, or NULL), for the
 * sections that do not read the findings; report_finish adds those once
 * the analysis has committed.  Where no second connection can be had
 * (PATH NULL or :memory:, one CPU), report_finish reads it all through DB.
 * SCOPE must stay valid until report_finish. */
struct report_job;
struct report_job *report_start(sqlite3 *db, const char *path, const struct report_scope *scope);
/* report_finish - wait for the job, add the findings' sections; the
 * report, or NULL with *cause.  Frees JOB. */
struct report *report_finish(struct report_job *job, char **cause);
void report_free(struct report *r);

/* report_format_known - is NAME a format (text, json, csv, html)? */
bool report_format_known(const char *name);
/* report_format_for_path - the format a file name's extension implies, or NULL */
const char *report_format_for_path(const char *path);
/* report_section_known - is ID a section (for CSV's --section)? */
bool report_section_known(const char *id);
/* report_render - write R in FORMAT; SECTION picks the CSV table (NULL:
 * bounce causes) */
void report_render(const struct report *r, const char *format, const char *section, FILE *out);

/* report counts, for exit-status thresholds */
uint64_t report_count(const struct report *r, const char *status);

#endif
