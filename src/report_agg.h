/*
 * report_agg.h - the failures in scope counted in one pass, for the report.
 *
 * Owns: temp.causes, temp.class_subject, temp.quarters and
 * temp.domain_recipients, made from temp.sev (see report_agg.c).
 * Does not own: temp.sev itself or the sections (report.c).
 */
#ifndef SMTPLOG_REPORT_AGG_H
#define SMTPLOG_REPORT_AGG_H

#include <sqlite3.h>

/* report_aggregate - (re)make the aggregate tables on DB's connection from
 * its temp.sev; 0, or -1 with *cause */
int report_aggregate(sqlite3 *db, char **cause);

#endif
