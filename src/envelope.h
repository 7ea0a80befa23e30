/*
 * envelope.h - the envelope of a log line: timestamp, host, program.
 *
 * Owns: recognising BSD syslog (with Solaris "[ID n fac.lvl]" tags),
 * RFC 3339 / journalctl short-iso, RFC 5424, and Exim's own mainlog format,
 * and inferring the year of BSD syslog lines (with roll-over at January).
 * Does not own: the MTA's message text (extract.c).
 */
#ifndef SMTPLOG_ENVELOPE_H
#define SMTPLOG_ENVELOPE_H

#include "event.h"

#include <time.h>

/* Year inference state for one input: create one per file. */
struct envelope_year {
	int forced_year; /* --year, or 0 */
	int ref_year;    /* year of the file's mtime (or now) */
	int ref_mon;     /* its month, 1-12 */
	int year;        /* current inferred year, 0 before the first line */
	int last_mon;
	int month_hint; /* the month name last read: month_number tries it first */
};

/* envelope_year_init - REF is the time the log was last written (mtime) */
void envelope_year_init(struct envelope_year *y, time_t ref, int forced_year);

/* envelope_parse - fill ENV from a line; false if no known envelope */
bool envelope_parse(const char *p, size_t n, struct envelope_year *y, struct envelope *env);

/* envelope_format_ts - ISO 8601 text of TS into BUF (at least 40 bytes) */
void envelope_format_ts(const struct timestamp *ts, char *buf, size_t size);

/* envelope_ts_epoch - seconds since the epoch (local time when no zone) */
int64_t envelope_ts_epoch(const struct timestamp *ts);

#endif
