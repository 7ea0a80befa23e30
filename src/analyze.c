/*
 * analyze.c - greylisting and miscategorized replies over the database.
 *
 * Three passes over the events in play (new ones and their messages'):
 *  1. text: each 4xx/5xx failure's response against the wording signatures
 *     of patterns/signatures.pat: greylisting by text (4xx only),
 *     class-mismatch (the remote's own reply and enhanced codes disagree),
 *     transient-text-under-5xx, permanent-text-under-4xx;
 *  2. retries: chains of 4xx deferrals of one recipient ending in
 *     acceptance: greylisting by behaviour when the delay fits and no
 *     deferral of the chain names another cause;
 *  3. outcomes: 4xx deferrals whose message later expired or bounced
 *     (4xx-until-expiry), 5xx failures later delivered (5xx-then-delivered).
 */
#include "config.h"

#include "analyze.h"

#include "diag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Correlated lookups go through events_message_key, the index of a hash of
 * MTA, host and queue ID; the columns themselves are then compared, so a
 * collision of hashes matches nothing.  A unary + on status and ts_epoch
 * keeps SQLite from choosing another index. */
#define SAME_QUEUE_ITEM(a, b)                                                                      \
	" " b ".message_key = " a ".message_key AND " b ".mta = " a ".mta AND " b ".host IS " a    \
	".host AND " b ".queue_id = " a ".queue_id"
#define SAME_MESSAGE(a, b) SAME_QUEUE_ITEM(a, b) " AND " b ".recipient = " a ".recipient"
/* the recipient's own outcome, or the message's expiry logged without one */
#define SAME_MESSAGE_OR_EXPIRY(a, b)                                                               \
	SAME_QUEUE_ITEM(a, b)                                                                      \
	" AND (" b ".recipient = " a ".recipient OR (" b ".recipient IS NULL AND " b               \
	".status = 'expired'))"

static int
run(sqlite3 *db, const char *sql, int64_t after, char **cause)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		set_cause(cause, "analysis: %s", sqlite3_errmsg(db));
		return -1;
	}
	if (sqlite3_bind_parameter_count(s) > 0)
		sqlite3_bind_int64(s, 1, after);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		set_cause(cause, "analysis: %s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

/* select_in_play - temp.in_play: the new failures, and the earlier failures
 * of the same messages (none when the database was empty).  Findings are
 * about failures only; deliveries are what they are compared with. */
static int
select_in_play(sqlite3 *db, int64_t after, char **cause)
{
	/* clang-format off */
	return run(db, "DROP TABLE IF EXISTS temp.in_play", 0, cause) != 0 ||
	    run(db, "CREATE TEMP TABLE in_play(id INTEGER PRIMARY KEY)", 0, cause) != 0 ||
	    run(db,
		"INSERT OR IGNORE INTO temp.in_play SELECT e.id FROM events e"
		" WHERE e.status <> 'sent' AND e.id > ?1",
		after, cause) != 0 ||
	    (after > 0 &&
		run(db,
		    "INSERT OR IGNORE INTO temp.in_play SELECT e.id FROM events e JOIN"
		    " (SELECT DISTINCT message_key FROM events WHERE id > ?1"
		    "  AND message_key IS NOT NULL) k"
		    " ON e.message_key = k.message_key WHERE e.id <= ?1 AND e.status <> 'sent'",
		    after, cause) != 0) ||
	    run(db, "DELETE FROM greylisting WHERE event_id IN (SELECT id FROM temp.in_play)",
		0, cause) != 0 ||
	    run(db, "DELETE FROM miscategorized WHERE event_id IN (SELECT id FROM temp.in_play)",
		0, cause) != 0
	    ? -1 : 0;
	/* clang-format on */
}

static int
insert_finding(sqlite3_stmt *ins, int64_t id, const char *rule, const char *detail)
{
	sqlite3_reset(ins);
	sqlite3_bind_int64(ins, 1, id);
	sqlite3_bind_text(ins, 2, rule, -1, SQLITE_STATIC);
	if (detail != NULL)
		sqlite3_bind_text(ins, 3, detail, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(ins, 3);
	return sqlite3_step(ins) == SQLITE_DONE ? 0 : -1;
}

/* pass_text - signatures and code classes, one event at a time */
static int
pass_text(sqlite3 *db, struct patterns *pats, char **cause)
{
	sqlite3_stmt *sel = NULL, *grey = NULL, *mis = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(
	        db,
	        "SELECT e.id, e.status, e.class, e.reply_code, e.enhanced_code, e.enhanced_source,"
	        " e.response FROM temp.in_play p CROSS JOIN events e ON e.id = p.id"
	        " WHERE e.status IN ('deferred', 'rejected', 'bounced', 'expired')"
	        " AND e.class IN (4, 5)",
	        -1, &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
	        db,
	        "INSERT OR REPLACE INTO greylisting(event_id, basis, signature, direction)"
	        " VALUES (?1, 'text', ?2, ?3)",
	        -1, &grey, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
	        db,
	        "INSERT OR IGNORE INTO miscategorized(event_id, rule, detail) VALUES (?1, ?2, ?3)",
	        -1, &mis, NULL) != SQLITE_OK) {
		set_cause(cause, "analysis: %s", sqlite3_errmsg(db));
		goto out;
	}
	while (sqlite3_step(sel) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(sel, 0);
		const char *status = (const char *)sqlite3_column_text(sel, 1);
		int klass = sqlite3_column_int(sel, 2);
		int reply = sqlite3_column_int(sel, 3);
		const char *enh = (const char *)sqlite3_column_text(sel, 4);
		const char *source = (const char *)sqlite3_column_text(sel, 5);
		const char *text = (const char *)sqlite3_column_text(sel, 6);
		size_t len = (size_t)sqlite3_column_bytes(sel, 6);
		const char *sig;

		if (reply != 0 && enh != NULL && source != NULL && strcmp(source, "reply") == 0 &&
		    reply / 100 != enh[0] - '0') {
			char detail[32];

			snprintf(detail, sizeof detail, "%d %s", reply, enh);
			if (insert_finding(mis, id, "class-mismatch", detail) != 0)
				goto db_error;
		}
		if (text == NULL)
			continue;
		if (klass == 4 && (sig = patterns_signature(pats, "greylist", text, len)) != NULL) {
			sqlite3_reset(grey);
			sqlite3_bind_int64(grey, 1, id);
			sqlite3_bind_text(grey, 2, sig, -1, SQLITE_STATIC);
			sqlite3_bind_text(grey, 3,
			                  strcmp(status, "rejected") == 0 ? "inbound" : "outbound",
			                  -1, SQLITE_STATIC);
			if (sqlite3_step(grey) != SQLITE_DONE)
				goto db_error;
		}
		if (klass == 5 &&
		    (sig = patterns_signature(pats, "transient", text, len)) != NULL &&
		    insert_finding(mis, id, "transient-text-under-5xx", sig) != 0)
			goto db_error;
		if (klass == 4 &&
		    (sig = patterns_signature(pats, "permanent", text, len)) != NULL &&
		    insert_finding(mis, id, "permanent-text-under-4xx", sig) != 0)
			goto db_error;
	}
	rc = 0;
	goto out;
db_error:
	set_cause(cause, "analysis: %s", sqlite3_errmsg(db));
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(grey);
	sqlite3_finalize(mis);
	return rc;
}

struct chain_link {
	int64_t id, ts;
	bool other_cause;
	bool text_grey;
};

/* chain_finish - judge one chain of deferrals ending in acceptance SID at STS */
static int
chain_finish(sqlite3_stmt *upd, sqlite3_stmt *ins, const struct chain_link *c, size_t n,
             int64_t sid, int64_t sts)
{
	int64_t first = c[0].ts, delay;
	bool other = false, text = false;

	for (size_t i = 0; i < n; i++) {
		if (c[i].ts < first)
			first = c[i].ts;
		other |= c[i].other_cause;
		text |= c[i].text_grey;
	}
	delay = sts - first;
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *s;

		if (c[i].text_grey)
			s = upd; /* greylisted by text: add what the retry tells */
		else if (!text && !other && delay >= GREYLIST_MIN_DELAY &&
		         delay <= GREYLIST_MAX_DELAY)
			s = ins;
		else
			continue;
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, c[i].id);
		sqlite3_bind_int64(s, 2, sid);
		sqlite3_bind_int64(s, 3, delay);
		if (sqlite3_step(s) != SQLITE_DONE)
			return -1;
	}
	return 0;
}

/* pass_retries - 4xx deferral chains that end in acceptance */
static int
pass_retries(sqlite3 *db, struct patterns *pats, char **cause)
{
	sqlite3_stmt *sel = NULL, *upd = NULL, *ins = NULL, *ts_of = NULL;
	struct chain_link *chain = NULL;
	size_t n = 0, cap = 0;
	int64_t cur_sid = 0, cur_sts = 0;
	int rc = -1;

	/* each deferral with the first acceptance after it, in message order */
	/* clang-format off */
	if (sqlite3_prepare_v2(db,
	    "SELECT d.id, d.ts_epoch, d.response, g.event_id IS NOT NULL,"
	    " (SELECT s.id FROM events s WHERE" SAME_MESSAGE("d", "s")
	    "   AND +s.status = 'sent' AND +s.ts_epoch >= d.ts_epoch"
	    "   AND +s.ts_epoch <= d.ts_epoch + " STRINGIFY(GREYLIST_MAX_DELAY)
	    "   ORDER BY s.ts_epoch, s.id LIMIT 1) AS sid"
	    " FROM temp.in_play p CROSS JOIN events d ON d.id = p.id"
	    " LEFT JOIN greylisting g ON g.event_id = d.id"
	    " WHERE d.status = 'deferred' AND d.class = 4 AND d.recipient IS NOT NULL"
	    " AND d.queue_id IS NOT NULL AND d.ts_epoch IS NOT NULL"
	    " ORDER BY sid, d.ts_epoch",
	        /* clang-format on */
	        -1, &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
	        db, "UPDATE greylisting SET accepted_event_id = ?2, delay = ?3 WHERE event_id = ?1",
	        -1, &upd, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
	        db,
	        "INSERT OR IGNORE INTO greylisting(event_id, basis, direction, accepted_event_id,"
	        " delay) VALUES (?1, 'retry', 'outbound', ?2, ?3)",
	        -1, &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT ts_epoch FROM events WHERE id = ?1", -1, &ts_of, NULL) !=
	        SQLITE_OK) {
		set_cause(cause, "analysis: %s", sqlite3_errmsg(db));
		goto out;
	}
	for (;;) {
		int step = sqlite3_step(sel);
		int64_t sid = step == SQLITE_ROW ? sqlite3_column_int64(sel, 4) : 0;

		if (step == SQLITE_ROW && sqlite3_column_type(sel, 4) == SQLITE_NULL)
			continue; /* never accepted within the window */
		if (n > 0 && (step != SQLITE_ROW || sid != cur_sid)) {
			if (chain_finish(upd, ins, chain, n, cur_sid, cur_sts) != 0)
				goto db_error;
			n = 0;
		}
		if (step != SQLITE_ROW)
			break;
		if (n == 0) {
			cur_sid = sid;
			cur_sts = 0;
			sqlite3_reset(ts_of);
			sqlite3_bind_int64(ts_of, 1, sid);
			if (sqlite3_step(ts_of) == SQLITE_ROW)
				cur_sts = sqlite3_column_int64(ts_of, 0);
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			chain = xreallocarray(chain, cap, sizeof *chain);
		}
		chain[n].id = sqlite3_column_int64(sel, 0);
		chain[n].ts = sqlite3_column_int64(sel, 1);
		chain[n].text_grey = sqlite3_column_int(sel, 3) != 0;
		chain[n].other_cause =
		    sqlite3_column_type(sel, 2) != SQLITE_NULL &&
		    patterns_signature(pats, "other-cause",
		                       (const char *)sqlite3_column_text(sel, 2),
		                       (size_t)sqlite3_column_bytes(sel, 2)) != NULL;
		n++;
	}
	rc = 0;
	goto out;
db_error:
	set_cause(cause, "analysis: %s", sqlite3_errmsg(db));
out:
	free(chain);
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	sqlite3_finalize(ins);
	sqlite3_finalize(ts_of);
	return rc;
}

/* pass_outcomes - what the message's later fate says about a reply */
static int
pass_outcomes(sqlite3 *db, char **cause)
{
	/* clang-format off */
	/* deferred with 4xx until the message expired or bounced */
	if (run(db,
	    "INSERT OR IGNORE INTO miscategorized(event_id, rule, detail)"
	    " SELECT d.id, '4xx-until-expiry', (SELECT x.status FROM events x"
	    "   WHERE" SAME_MESSAGE_OR_EXPIRY("d", "x")
	    "   AND +x.status IN ('expired', 'bounced') AND +x.ts_epoch >= d.ts_epoch"
	    "   AND +x.ts_epoch <= d.ts_epoch + " STRINGIFY(MESSAGE_WINDOW)
	    "   ORDER BY x.ts_epoch LIMIT 1)"
	    " FROM temp.in_play p CROSS JOIN events d ON d.id = p.id"
	    " WHERE d.status = 'deferred' AND d.class = 4 AND d.queue_id IS NOT NULL"
	    " AND NOT EXISTS (SELECT 1 FROM events s WHERE" SAME_MESSAGE("d", "s")
	    "   AND +s.status = 'sent' AND +s.ts_epoch >= d.ts_epoch)"
	    " AND EXISTS (SELECT 1 FROM events x WHERE" SAME_MESSAGE_OR_EXPIRY("d", "x")
	    "   AND +x.status IN ('expired', 'bounced') AND +x.ts_epoch >= d.ts_epoch"
	    "   AND +x.ts_epoch <= d.ts_epoch + " STRINGIFY(MESSAGE_WINDOW) ")",
	    0, cause) != 0)
		return -1;
	/* a 5xx for a recipient that was later delivered */
	return run(db,
	    "INSERT OR IGNORE INTO miscategorized(event_id, rule, detail)"
	    " SELECT d.id, '5xx-then-delivered', NULL"
	    " FROM temp.in_play p CROSS JOIN events d ON d.id = p.id"
	    " WHERE d.status IN ('deferred', 'bounced') AND d.class = 5"
	    " AND d.queue_id IS NOT NULL AND d.recipient IS NOT NULL"
	    " AND EXISTS (SELECT 1 FROM events s WHERE" SAME_MESSAGE("d", "s")
	    "   AND +s.status = 'sent' AND +s.ts_epoch >= d.ts_epoch"
	    "   AND +s.ts_epoch <= d.ts_epoch + " STRINGIFY(MESSAGE_WINDOW) ")",
	    0, cause);
	/* clang-format on */
}

/* analyzed_through - the last event id the findings cover (0: none) */
static int64_t
analyzed_through(sqlite3 *db)
{
	sqlite3_stmt *s;
	int64_t id = 0;

	if (sqlite3_prepare_v2(db,
	                       "SELECT CAST(value AS INTEGER) FROM meta"
	                       " WHERE key = 'analyzed_through'",
	                       -1, &s, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(s) == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return id;
}

int
analyze_events(struct store *st, struct patterns *pats, char **cause)
{
	sqlite3 *db = store_db(st);
	int64_t after_id = analyzed_through(db), last_id = store_max_event_id(st);
	struct timespec t[5];
	bool timing = getenv("SMTPLOG_TIMING") != NULL;

	if (last_id <= after_id)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t[0]);
	if (store_begin(st, cause) != 0 || select_in_play(db, after_id, cause) != 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t[1]);
	if (pass_text(db, pats, cause) != 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t[2]);
	if (pass_retries(db, pats, cause) != 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t[3]);
	if (pass_outcomes(db, cause) != 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t[4]);
	if (timing) {
		static const char *const names[] = {"in play", "text", "retries", "outcomes"};

		for (int i = 0; i < 4; i++)
			fprintf(stderr, "timing:   %-24s %.3f s\n", names[i],
			        (double)(t[i + 1].tv_sec - t[i].tv_sec) +
			            (double)(t[i + 1].tv_nsec - t[i].tv_nsec) / 1e9);
	}
	{
		sqlite3_stmt *s;
		int rc;

		if (sqlite3_prepare_v2(db,
		                       "INSERT OR REPLACE INTO meta(key, value)"
		                       " VALUES ('analyzed_through', ?1)",
		                       -1, &s, NULL) != SQLITE_OK) {
			set_cause(cause, "analysis: %s", sqlite3_errmsg(db));
			return -1;
		}
		sqlite3_bind_int64(s, 1, last_id);
		rc = sqlite3_step(s);
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE) {
			set_cause(cause, "analysis: %s", sqlite3_errmsg(db));
			return -1;
		}
	}
	return store_commit(st, cause);
}
