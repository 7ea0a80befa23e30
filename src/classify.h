/*
 * classify.h - codes, classes and reason signatures of an event.
 *
 * Owns: validating RFC 3463 enhanced status codes, deriving enhanced_code,
 * class, subject and detail (SPEC section 3), and normalising a response
 * text into a reason signature so that one cause groups into one row.
 * Does not own: finding the codes in the line (the patterns do that) or
 * correlation across lines (done over the database).
 */
#ifndef SMTPLOG_CLASSIFY_H
#define SMTPLOG_CLASSIFY_H

#include "event.h"

/* classify_enhanced_code - copy S into OUT ("d.ddd.ddd") if it is a valid
 * enhanced status code (class 2, 4 or 5; subject and detail 1-3 digits);
 * false and OUT "" otherwise */
bool classify_enhanced_code(struct span s, char out[CODE_MAX]);

/* classify_reply_code - the three-digit reply code in S (2xx-5xx), or 0 */
int classify_reply_code(struct span s);

/* classify_event - fill enhanced_code (falling back to dsn), class,
 * subject and detail from what extraction captured */
void classify_event(struct event *ev);

/* classify_event_reason - fill reason: the signature of the reply (or of
 * the response when no reply was found in it).  Apart from classify_event
 * so that the pipeline can compute it on its writing thread. */
void classify_event_reason(struct event *ev);

/* classify_reason - the signature of text P..P+N into OUT (REASON_MAX+1) */
void classify_reason(const char *p, size_t n, char *out);

#endif
