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

#include "event.h"
#include "report.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

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

/* One failure's values as report_aggregate counts them (the columns of
 * events); a span's p NULL for NULL. */
struct report_agg_row {
	int64_t id;
	bool has_ts;
	int64_t ts; /* ts_epoch */
	enum status status;
	struct span recipient, domain, client, enhanced;
	bool has_reply, has_class, has_subject;
	int64_t reply, klass, subject;
	int64_t reason_key; /* 0 for none */
};

/* The failures counted as they are stored, so that a report over exactly
 * those needs not read them back (report_scope's counted). */
struct report_agg *report_agg_new(void);
/* report_agg_add - count F (deliveries are not counted) */
void report_agg_add(struct report_agg *a, const struct report_agg_row *f);
void report_agg_free(struct report_agg *a);

/* report_aggregate - (re)make the aggregate tables on DB's connection from
 * the failures in SC's scope (SC's counted ones when it has them); 0, or
 * -1 with *cause */
int report_aggregate(sqlite3 *db, const struct report_scope *sc, char **cause);

#endif
