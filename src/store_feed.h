/*
 * store_feed.h - the virtual table through which one INSERT statement takes
 * a whole batch of events (store.c's store_add_events).
 *
 * Owns: the table-valued source smtplog_event_feed, registered on the
 * store's own connection only and usable only directly (no view or trigger
 * of a database can reach it), and what each event's row derives from it:
 * the ISO 8601 time, the epoch, the lower-case recipient domain, the
 * message and reason keys.
 * Does not own: the events table, the statement or the transaction
 * (store.c); the batch's memory (the caller's, for as long as the
 * statement runs).
 *
 * Why: one sqlite3_step per event costs a statement's start and end
 * (cursors opened and closed, the table's last row sought, registers
 * reset) on every row; one INSERT ... SELECT over a batch pays them once.
 * The writer thread's CPU on 100 MB of Postfix (103 k rows): 0.227 s with
 * a step per row, 0.185 s with a step per batch.
 */
#ifndef SMTPLOG_STORE_FEED_H
#define SMTPLOG_STORE_FEED_H

#include "store.h"

/* The columns the feed gives, in the order of the events table's insert. */
#define STORE_FEED_COLUMNS                                                                         \
	"id, source_id, line_no, ts, ts_epoch, host, mta, program, queue_id, status, sender,"      \
	" recipient, recipient_domain, orig_recipient, relay, client, reply_code,"                 \
	" enhanced_code, dsn, class, subject, detail, response, reason, rule, enhanced_source,"    \
	" message_key, reason_key"

/* What the store derives from one event for its row and its tallies. */
struct feed_row {
	char ts[48]; /* as envelope_format_ts writes it; "" without a time */
	int64_t epoch;
	char domain[256]; /* the recipient's domain, lower case */
	size_t domain_len;
	int64_t message_key; /* store_message_key(), with a queue ID */
	int64_t reason_key;  /* store_text_key() of the reason, 0 without one */
};

/* A reason and its key, remembered: a log's events share a few hundred
 * reasons, and FNV-1a multiplies once per byte, four cycles each, one after
 * the other (every event's reason key: 10.0 M instructions per 10 MB of
 * bounce-heavy Exim; remembered, 3.6 M). */
struct reason_memo {
	uint64_t hash; /* hash_words() of the text; 0: empty slot */
	int64_t key;   /* store_text_key() of the text */
	size_t len;
	char text[REASON_MAX + 1];
};
#define REASON_MEMO_SLOTS 256

struct store_feed {
	const struct store_event *rows; /* the batch */
	struct feed_row *derived;       /* one per row */
	size_t n, cap;
	int64_t source_id;
	struct reason_memo *memo; /* REASON_MEMO_SLOTS, made on first use */
};

/* store_feed_register - make smtplog_event_feed readable on DB, giving
 * FEED's rows; SQLITE_OK or an SQLite error code */
int store_feed_register(sqlite3 *db, struct store_feed *feed);

/* store_feed_load - point FEED at the N events ROWS of source SOURCE_ID
 * and derive their rows' values */
void store_feed_load(struct store_feed *feed, int64_t source_id, const struct store_event *rows,
                     size_t n);

/* store_feed_free - the derived values (not the feed itself) */
void store_feed_free(struct store_feed *feed);

#endif
