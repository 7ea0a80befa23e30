/*
 * extract.h - from a line's envelope to its events.
 *
 * Owns: turning one pattern match into events (one per recipient), with
 * status, codes and spans; counting nothing (the caller counts).
 * Does not own: the regexes (patterns.c) or the meaning of codes
 * (classify.c, which it calls for each event).
 */
#ifndef SMTPLOG_EXTRACT_H
#define SMTPLOG_EXTRACT_H

#include "event.h"
#include "patterns.h"

/* Recipients beyond this on one line are dropped (and reported by the caller). */
#define EXTRACT_MAX_EVENTS 128

enum extract_result {
	EXTRACT_NONE,      /* not an outcome line */
	EXTRACT_CANDIDATE, /* looks like an outcome line of a known MTA, matched no rule */
	EXTRACT_EVENTS     /* *n events filled */
};

/* extract_line - match ENV's message; fills OUT[0..*n), all but the
 * reason (classify_event_reason) */
enum extract_result extract_line(struct patterns *pats, const struct envelope *env,
                                 struct event *out, size_t max, size_t *n);

#endif
