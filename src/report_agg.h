/*
 * report_agg.h - the failures in scope counted in one pass, for the report.
 *
 * Owns: temp.causes, temp.class_subject, temp.quarters,
 * temp.domain_recipients and temp.failure_totals, counted from the
 * failures in scope (see report_agg.c); what "in scope" means in SQL.
 * Does not own: temp.report_scope (report.c fills it) or the sections.
 */
#ifndef SMTPLOG_REPORT_AGG_H
#define SMTPLOG_REPORT_AGG_H

#include "report.h"

#include <sqlite3.h>

/* The events a report covers, as events e: the sources of
 * temp.report_scope, ?1 since, ?2 until, ?3 domain (report_bind_scope). */
#define EVENTS_IN_SCOPE                                                                            \
	" e.source_id IN (SELECT id FROM temp.report_scope)"                                       \
	" AND (?1 = 0 OR e.ts_epoch >= ?1) AND (?2 = 0 OR e.ts_epoch < ?2)"                        \
	" AND (?3 IS NULL OR e.recipient_domain = lower(?3))"
/* the failures among them */
#define FAILURES_IN_SCOPE EVENTS_IN_SCOPE " AND e.status <> 'sent'"

/* report_bind_scope - bind SC's time bounds and domain to ?1 to ?3 of S */
void report_bind_scope(sqlite3_stmt *s, const struct report_scope *sc);

/* report_aggregate - (re)make the aggregate tables on DB's connection from
 * the failures in SC's scope; 0, or -1 with *cause */
int report_aggregate(sqlite3 *db, const struct report_scope *sc, char **cause);

#endif
