/*
 * analyze.h - findings that need more than one line: greylisting and
 * miscategorized replies (SPEC section 3), computed over the database.
 *
 * Owns: the greylisting and miscategorized tables' contents.  What an
 * event's own text tells is judged as it is extracted (analyze_event_text);
 * what its message's other events tell runs after ingestion over the new
 * events and every event of the same messages, so a message whose lines
 * span several files or runs is judged on all of them.
 * Correlation key: MTA, host, queue ID and recipient, within time bounds
 * (Postfix reuses short queue IDs).
 */
#ifndef SMTPLOG_ANALYZE_H
#define SMTPLOG_ANALYZE_H

#include "patterns.h"
#include "store.h"

/* Greylisting by behaviour: acceptance between these many seconds after
 * the first deferral. */
#define GREYLIST_MIN_DELAY 60
#define GREYLIST_MAX_DELAY 43200 /* 12 hours */
/* How far apart two lines of one message may be (queue IDs repeat). */
#define MESSAGE_WINDOW 2592000 /* 30 days */

#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)

/* The findings the passes over messages make, as SQL conditions on the
 * greylisting and miscategorized tables; the others are an event's own
 * text's, stored with it and never changed by an analysis. */
#define ANALYZE_MESSAGE_GREYLISTING    "basis = 'retry'"
#define ANALYZE_MESSAGE_MISCATEGORIZED "rule IN ('4xx-until-expiry', '5xx-then-delivered')"

/* analyze_event_text - the findings of EV's own text and codes, for the
 * store to write with it: greylisting by text, class-mismatch,
 * transient-text-under-5xx, permanent-text-under-4xx, and whether a 4xx
 * deferral names another cause than greylisting (nothing for a
 * delivery).  Called on each event of a batch before it is stored, on
 * whichever ingest thread has time, so that no pass over the database is
 * needed for them; PATS is that thread's (patterns_for_thread). */
void analyze_event_text(struct patterns *pats, struct event *ev);

/* analyze_prepare - before the report reads beside the analysis: the
 * message index (store_message_index), when the analysis to come follows an
 * earlier one and so looks messages up.  0, or -1 with *cause */
int analyze_prepare(struct store *st, char **cause);
/* analyze_events - (re)compute findings for the events stored since the
 * last analysis (meta 'analyzed_through') and all events sharing a message
 * with them, then move the mark, in one transaction; nothing to do when
 * nothing is new.  0, or -1 with *cause */
int analyze_events(struct store *st, struct patterns *pats, char **cause);

#endif
