/*
 * store.h - the SQLite database: schema, sources, events.
 *
 * Owns: the public schema (SPEC section 4) and its version, opening and
 * migrating a database, recognising an input already read (by a fingerprint
 * of its first bytes, not its name) and where to resume it, and inserting
 * events (with the findings of their own text, judged by analyze.c) through
 * statements prepared once (a batch of events in one INSERT, read from
 * store_feed.c's virtual table), in large transactions that also record each
 * source's new offset, so a kill loses and duplicates nothing;
 * checkpointing the WAL on a thread of its own; and whether a first load's
 * records and counts (for its analysis and report) still match the table.
 * Does not own: reading inputs, deciding findings (analyze.c), or the
 * report's queries (report.c).
 */
#ifndef SMTPLOG_STORE_H
#define SMTPLOG_STORE_H

#include "event.h"

#include <sqlite3.h>

#define STORE_SCHEMA_VERSION 2
/* the tallies table counts events per this many seconds */
#define TALLY_SECONDS           900
#define TALLY_SECONDS_SQL       "900"
#define STORE_FINGERPRINT_BYTES 4096

struct store;

/* Where an input stands: filled by store_source_find(), advanced by the caller. */
struct source_state {
	int64_t id;
	uint64_t offset; /* uncompressed bytes already stored */
	uint64_t lines;
	uint64_t matched;    /* lines that gave events */
	uint64_t candidates; /* outcome-looking lines no rule matched */
	uint64_t unparsed;   /* lines with no known envelope */
	uint64_t events;
};

/* store_open - open or create PATH (":memory:" allowed), mode 0600, schema
 * created or migrated (a file it creates: committed by the caller's first
 * store_commit, with the knowledge base); NULL with *cause */
struct store *store_open(const char *path, char **cause);
void store_close(struct store *st);
sqlite3 *store_db(struct store *st);
const char *store_path(const struct store *st);

/* store_source_find - the source whose first bytes are HEAD[0..N) (N is
 * what the input has, at most STORE_FINGERPRINT_BYTES), or a new one for
 * PATH.  *resumed tells whether an earlier run read it. */
int store_source_find(struct store *st, const char *path, const char *head, size_t n, bool is_stdin,
                      struct source_state *src, bool *resumed, char **cause);
/* store_source_restart - the file was truncated or replaced: forget its
 * offset (its stored events stay) */
void store_source_restart(struct source_state *src);

/* One event to store: the line it came from, its envelope and the event
 * (their spans must stay valid until store_add_events returns). */
struct store_event {
	uint64_t line_no;
	struct envelope env;
	struct event ev;
};

/* store_add_events - insert the N events ROWS of SRC, with their text
 * findings and tallies, in one statement; 0, or -1 with *cause */
int store_add_events(struct store *st, const struct source_state *src,
                     const struct store_event *rows, size_t n, char **cause);

/* store_message_key - the 64-bit FNV-1a hash of MTA, host and queue ID:
 * events.message_key, the key the analysis finds a message's events by */
int64_t store_message_key(const char *mta, struct span host, struct span queue_id);
/* store_text_key - the 64-bit FNV-1a hash of a text: the events' reason_key
 * (the report groups reasons by it: integers sort faster than long texts),
 * and the report's key for the values it counts */
int64_t store_text_key(const char *p, size_t n);
/* store_insert_finding - run S, an insert into greylisting or
 * miscategorized, once with event ID at ?1, TEXT (a signature or rule name,
 * kept as long as S runs) at ?2 and DETAIL (copied; NULL for none) at ?3;
 * 0, or -1 with the error in S's connection */
int store_insert_finding(sqlite3_stmt *s, int64_t id, const char *text, const char *detail);
/* store_checkpoint - record SRC's progress and commit every event added
 * since the last checkpoint, in one transaction */
int store_checkpoint(struct store *st, const struct source_state *src, char **cause);

struct codes;
/* store_codes_current - is the codes table the knowledge base whose file
 * has FILE_DIGEST (codes_file_digest)?  false also when that cannot be
 * read */
bool store_codes_current(struct store *st, uint64_t file_digest);
/* store_sync_codes - replace the codes table with CODES, read from the file
 * of FILE_DIGEST (committed with the next checkpoint or store_commit) */
int store_sync_codes(struct store *st, const struct codes *codes, uint64_t file_digest,
                     char **cause);
/* store_max_event_id - the highest events.id, 0 when empty */
int64_t store_max_event_id(struct store *st);
/* store_bulk_begin - before ingesting into an empty database, drop the
 * message index (built when a later analysis needs it:
 * store_message_index), and write through a rollback journal instead of
 * the WAL (a database store_open created is in that mode already) */
int store_bulk_begin(struct store *st, char **cause);
/* store_checkpoint_beside - have the WAL copied into the database file now,
 * on the store's own thread, beside what the run does next (the analysis,
 * the report), rather than by SQLite when the database is closed, or when
 * the WAL has grown enough; nothing during a bulk load or with one CPU */
void store_checkpoint_beside(struct store *st);
/* store_in_bulk - whether a bulk load is on (store_bulk_begin switched to
 * a rollback journal, or the database is in memory) */
bool store_in_bulk(const struct store *st);
/* store_bulk_end - after the ingest (or, without one, before the report):
 * commit, and back to WAL mode */
int store_bulk_end(struct store *st, char **cause);
struct msg_runs;
/* store_take_message_runs - the events of a load into an empty table
 * (store_bulk_begin on), as records for a first analysis, when they are
 * every row of the table; else NULL.  The caller frees them. */
struct msg_runs *store_take_message_runs(struct store *st);
struct report_agg;
/* store_take_counts - the failures of such a load, counted as the report
 * counts them (report_agg.h), when they are every row of the table; else
 * NULL.  The caller frees them. */
struct report_agg *store_take_counts(struct store *st);
/* store_message_index - build the index of events by message_key if the
 * database lacks it (an analysis of the messages in play needs it; a
 * first analysis does not); commits what is open first */
int store_message_index(struct store *st, char **cause);
/* store_read_begin - commit what is open and start a read transaction: one
 * snapshot of the database (the report reads beside it on a connection of
 * its own); temp tables may be written.  store_read_end ends it. */
int store_read_begin(struct store *st, char **cause);
int store_read_end(struct store *st, char **cause);
/* store_begin - open a write transaction if none is open */
int store_begin(struct store *st, char **cause);
/* store_commit - commit what is pending */
int store_commit(struct store *st, char **cause);
/* store_release_memory - free the unused page cache and halve it (to 8
 * MiB), for the stages after ingestion that read more than they write */
void store_release_memory(struct store *st);
/* store_rollback - drop what the open transaction holds */
void store_rollback(struct store *st);

/* store_prune - delete events older than EPOCH (rounded down to a quarter
 * hour), their tallies and findings; returns the events deleted, or -1.
 * Commit with store_commit. */
int64_t store_prune(struct store *st, int64_t epoch, char **cause);

#endif
