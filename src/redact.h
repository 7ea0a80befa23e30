/*
 * redact.h - replacing the local parts of e-mail addresses with a keyed hash
 * (--redact), so a database and its reports can be shared.
 *
 * Owns: the key (kept in a file beside the database, mode 0600, created on
 * first use; random per run for :memory:), SipHash-2-4 of local parts, and
 * rewriting an event's address fields and response text before they are
 * stored.  "bob@example.com" becomes "u-3f9a0c21d7@example.com": the same
 * address gives the same token across runs with the same key, so grouping
 * and counting still work.
 */
#ifndef SMTPLOG_REDACT_H
#define SMTPLOG_REDACT_H

#include "event.h"

struct redactor;

/* redact_open - load or create the key in KEY_PATH (NULL: a random key for
 * this run only); NULL with *cause */
struct redactor *redact_open(const char *key_path, char **cause);
void redact_free(struct redactor *r);

/* redact_event - rewrite EV's sender, recipient, orig_recipient, response
 * and reply; the new spans point into R's buffers, valid until the next call */
void redact_event(struct redactor *r, struct event *ev);

/* redact_text - TEXT with every address's local part hashed, into R's
 * buffer number SLOT (0-4) */
struct span redact_text(struct redactor *r, int slot, struct span text);

#endif
