/*
 * report.c - the report: a model built once from the database, and its
 * renderers.
 *
 * Each section is a table: column names, and rows of cells that are text,
 * integer or NULL, straight from one SQL query over the events in scope or
 * the small tables counted from them in one pass (report_agg.c).  The
 * scope is a temporary table of source ids plus bound time and domain
 * parameters, so every section sees the same events.
 */
#include "config.h"

#include "report.h"

#include "analyze.h"
#include "diag.h"
#include "redact.h"
#include "report_agg.h"
#include "report_model.h"
#include "store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *const statuses[] = {"sent", "deferred", "bounced", "expired", "rejected"};

/* Every section reads the tables scope_setup() fills from the events in
 * scope (sources, time range ?1 since and ?2 until, domain ?3: temp.tally,
 * temp.counts), those report_aggregate() counts from the failures in scope
 * (EVENTS_IN_SCOPE, report_agg.h), or temp.found_ev, the failures in scope
 * that have findings; ?4 is --top. */
/* the visible columns of a cause section (its CTE c also carries example_id) */
#define CAUSE_COLUMNS                                                                              \
	"c.events, c.recipients, c.domains, c.enhanced_code, c.reply_code, c.reason, c.hint"
#define REJECT_COLUMNS                                                                             \
	"c.events, c.clients, c.recipients, c.enhanced_code, c.reply_code, c.reason, c.hint"

/* CAUSE_SQL - one cause section: the causes of STATUS (temp.causes: the
 * events grouped by enhanced code, reply code and reason, with their spread
 * counts), the knowledge base's fix hint, and the first event's response
 * as the example.  Reasons are grouped by their key and read from each
 * group's first event. */
/* clang-format off */
#define CAUSE_SQL(status, columns)                                                                 \
	"WITH t AS MATERIALIZED (SELECT g.*, x.reason FROM temp.causes g"                          \
	"   JOIN events x ON x.id = g.example_id WHERE g.status = '" status "'"                    \
	"   ORDER BY g.events DESC, x.reason, g.enhanced_code, g.reply_code LIMIT ?4),"            \
	" c AS (SELECT t.*, coalesce((SELECT hint FROM codes WHERE code = t.enhanced_code),"       \
	"   (SELECT hint FROM codes WHERE code = CAST(t.reply_code AS TEXT))) AS hint FROM t)"     \
	" SELECT " columns ", (SELECT response FROM events WHERE id = c.example_id) AS example"    \
	" FROM c ORDER BY c.events DESC, c.reason, c.enhanced_code, c.reply_code"
/* clang-format on */

/* The same scope over the tallies: exact when the time bounds fall on the
 * tallies' quarter hours, as every date does. */
#define TALLIES_IN_SCOPE                                                                           \
	" t.source_id IN (SELECT id FROM temp.report_scope)"                                       \
	" AND (?1 = 0 OR t.period >= ?1 / " TALLY_SECONDS_SQL ")"                                  \
	" AND (?2 = 0 OR (t.period >= 0 AND t.period < ?2 / " TALLY_SECONDS_SQL "))"               \
	" AND (?3 IS NULL OR t.recipient_domain = lower(?3))"

/* exec_in_scope - run SQL with the scope's time and domain bound */
static int
exec_in_scope(sqlite3 *db, const struct report_scope *sc, const char *sql, char **cause)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		set_cause(cause, "report: %s", sqlite3_errmsg(db));
		return -1;
	}
	report_bind_scope(s, sc);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		set_cause(cause, "report: %s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

/* prepare_scoped - a section's query, with --top bound to ?4 (the
 * sections read tables already made of the events in scope) */
static int
prepare_scoped(sqlite3 *db, const struct report_scope *sc, const char *sql, sqlite3_stmt **s,
               char **cause)
{
	if (sqlite3_prepare_v2(db, sql, -1, s, NULL) != SQLITE_OK) {
		set_cause(cause, "report query: %s", sqlite3_errmsg(db));
		return -1;
	}
	if (sqlite3_bind_parameter_index(*s, "?4") > 0)
		sqlite3_bind_int(*s, 4, sc->top);
	return 0;
}

/* tallies_exact - can the tallies answer for this scope's time bounds? */
static bool
tallies_exact(const struct report_scope *sc)
{
	return sc->since >= 0 && sc->since % TALLY_SECONDS == 0 && sc->until >= 0 &&
	       sc->until % TALLY_SECONDS == 0;
}

static int
scope_setup(sqlite3 *db, const struct report_scope *sc, char **cause)
{
	sqlite3_stmt *ins;
	char *err = NULL;

	/* the sources in scope: those named, or (--all) every one */
	if (sqlite3_exec(db,
	                 "DROP TABLE IF EXISTS temp.report_scope;"
	                 "CREATE TEMP TABLE report_scope(id INTEGER PRIMARY KEY);",
	                 NULL, NULL, &err) != SQLITE_OK ||
	    (sc->source_ids == NULL &&
	     sqlite3_exec(db, "INSERT INTO temp.report_scope SELECT id FROM sources", NULL, NULL,
	                  &err) != SQLITE_OK)) {
		set_cause(cause, "report: %s", err);
		sqlite3_free(err);
		return -1;
	}
	if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO temp.report_scope VALUES (?1)", -1, &ins,
	                       NULL) != SQLITE_OK) {
		set_cause(cause, "report: %s", sqlite3_errmsg(db));
		return -1;
	}
	for (size_t i = 0; sc->source_ids != NULL && i < sc->nsources; i++) {
		sqlite3_bind_int64(ins, 1, sc->source_ids[i]);
		sqlite3_step(ins);
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
	/* Every section reads these tables: temp.tally, the events in scope
	 * counted by MTA, status, domain and relay (from the tallies, or, for
	 * time bounds within a quarter hour, from a pass over the events), and
	 * temp.counts, its totals by MTA and status.  The failures are counted
	 * by report_aggregate, straight from the events. */
	/* clang-format off */
	if (sqlite3_exec(db,
	        "DROP TABLE IF EXISTS temp.counts; DROP TABLE IF EXISTS temp.tally;",
	        NULL, NULL, NULL) != SQLITE_OK) {
		set_cause(cause, "report: %s", sqlite3_errmsg(db));
		return -1;
	}
	if (exec_in_scope(db, sc, tallies_exact(sc)
	        ? "CREATE TEMP TABLE tally AS SELECT mta, status, recipient_domain, relay,"
	          " sum(events) AS events, min(first_ts) AS first_ts, max(last_ts) AS last_ts"
	          " FROM tallies t WHERE" TALLIES_IN_SCOPE
	          " GROUP BY mta, status, recipient_domain, relay"
	        : "CREATE TEMP TABLE tally AS SELECT mta, status,"
	          " coalesce(recipient_domain, '') AS recipient_domain,"
	          " coalesce(relay, '') AS relay, count(*) AS events, min(ts) AS first_ts,"
	          " max(ts) AS last_ts FROM events e WHERE" EVENTS_IN_SCOPE " GROUP BY 1, 2, 3, 4",
	        cause) != 0 ||
	    exec_in_scope(db, sc,
	        "CREATE TEMP TABLE counts AS SELECT mta, status, sum(events) AS n,"
	        " min(first_ts) AS lo, max(last_ts) AS hi FROM temp.tally GROUP BY mta, status",
	        cause) != 0)
		return -1;
	/* clang-format on */
	return 0;
}

/* timing_end - with SMTPLOG_TIMING, how long step NAME took since T0 */
static void
timing_end(const char *name, const struct timespec *t0)
{
	struct timespec t1;

	if (getenv("SMTPLOG_TIMING") == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	diag_timing(name, diag_seconds(t0, &t1));
}

/* add_table - run SQL (scoped) and keep its rows as a section */
static int
add_table(struct report *r, sqlite3 *db, const char *id, const char *title, const char *note,
          const char *sql, char **cause)
{
	sqlite3_stmt *s;
	struct table *t;
	int rc;

	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (prepare_scoped(db, r->scope, sql, &s, cause) != 0)
		return -1;
	r->tables = xreallocarray(r->tables, r->ntables + 1, sizeof *r->tables);
	t = &r->tables[r->ntables++];
	memset(t, 0, sizeof *t);
	t->id = id;
	t->title = title;
	t->note = note;
	t->ncols = (size_t)sqlite3_column_count(s);
	t->cols = xcalloc(t->ncols, sizeof *t->cols);
	for (size_t c = 0; c < t->ncols; c++)
		t->cols[c] = xstrdup(sqlite3_column_name(s, (int)c));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		t->cells = xreallocarray(t->cells, (t->nrows + 1) * t->ncols, sizeof *t->cells);
		for (size_t c = 0; c < t->ncols; c++) {
			struct cell *cl = &t->cells[t->nrows * t->ncols + c];
			int type = sqlite3_column_type(s, (int)c);

			cl->integer = type == SQLITE_INTEGER;
			if (type == SQLITE_NULL)
				cl->text = NULL;
			else {
				struct span v = {(const char *)sqlite3_column_text(s, (int)c),
				                 (size_t)sqlite3_column_bytes(s, (int)c)};

				if (r->scope->redact != NULL && !cl->integer)
					v = redact_text(r->scope->redact, 0, v);
				cl->text = xstrndup(v.p, v.n);
			}
		}
		t->nrows++;
	}
	if (rc != SQLITE_DONE) {
		set_cause(cause, "report query: %s", sqlite3_errmsg(db));
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	timing_end(id, &t0);
	return 0;
}

static int
build_summary(struct report *r, sqlite3 *db, char **cause)
{
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(
	        db,
	        "SELECT path, lines, matched, candidates, unparsed, events FROM sources"
	        " WHERE id IN (SELECT id FROM temp.report_scope) ORDER BY id",
	        -1, &s, NULL) != SQLITE_OK) {
		set_cause(cause, "report: %s", sqlite3_errmsg(db));
		return -1;
	}
	while (sqlite3_step(s) == SQLITE_ROW) {
		struct summary_source *ss;

		r->sources = xreallocarray(r->sources, r->nsources + 1, sizeof *r->sources);
		ss = &r->sources[r->nsources++];
		ss->path = xstrdup((const char *)sqlite3_column_text(s, 0));
		ss->lines = sqlite3_column_int64(s, 1);
		ss->matched = sqlite3_column_int64(s, 2);
		ss->candidates = sqlite3_column_int64(s, 3);
		ss->unparsed = sqlite3_column_int64(s, 4);
		ss->events = sqlite3_column_int64(s, 5);
	}
	sqlite3_finalize(s);
	if (sqlite3_prepare_v2(db, "SELECT lo, hi, status, n FROM temp.counts", -1, &s, NULL) !=
	    SQLITE_OK) {
		set_cause(cause, "report: %s", sqlite3_errmsg(db));
		return -1;
	}
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *lo = (const char *)sqlite3_column_text(s, 0);
		const char *hi = (const char *)sqlite3_column_text(s, 1);
		const char *st = (const char *)sqlite3_column_text(s, 2);
		int64_t n = sqlite3_column_int64(s, 3);

		if (lo != NULL && (r->first_ts == NULL || strcmp(lo, r->first_ts) < 0)) {
			free(r->first_ts);
			r->first_ts = xstrdup(lo);
		}
		if (hi != NULL && (r->last_ts == NULL || strcmp(hi, r->last_ts) > 0)) {
			free(r->last_ts);
			r->last_ts = xstrdup(hi);
		}
		for (size_t i = 0; i < 5; i++) {
			if (st != NULL && strcmp(st, statuses[i]) == 0)
				r->by_status[i] += n;
		}
		r->by_status[5] += n;
	}
	sqlite3_finalize(s);
	return 0;
}

/* The events of the findings of the events' own texts, and those of the
 * analysis' passes over messages (analyze.h), in id order. */
/* clang-format off */
#define TEXT_FINDING_EVENTS                                                                        \
	"SELECT event_id FROM greylisting WHERE NOT (" ANALYZE_MESSAGE_GREYLISTING ")"             \
	" UNION SELECT event_id FROM miscategorized WHERE NOT (" ANALYZE_MESSAGE_MISCATEGORIZED ")"
#define MESSAGE_FINDING_EVENTS                                                                     \
	"SELECT event_id FROM greylisting WHERE " ANALYZE_MESSAGE_GREYLISTING                      \
	" UNION SELECT event_id FROM miscategorized WHERE " ANALYZE_MESSAGE_MISCATEGORIZED
/* clang-format on */

/* found_events - add to temp.found_ev, (re)made when IDS is NULL, the
 * failures in scope among the events the query IDS gives (findings' event
 * ids, in order), looked up once for the findings' sections (the findings
 * tables cover the whole database) */
static int
found_events(sqlite3 *db, const struct report_scope *sc, const char *ids, char **cause)
{
	char *sql;
	int rc;

	if (ids == NULL) {
		if (sqlite3_exec(db,
		                 "DROP TABLE IF EXISTS temp.found_ev;"
		                 "CREATE TEMP TABLE found_ev(id INTEGER PRIMARY KEY, sender TEXT,"
		                 " recipient TEXT, recipient_domain TEXT, relay TEXT, client TEXT,"
		                 " reply_code INTEGER, enhanced_code TEXT, reason_key INTEGER)",
		                 NULL, NULL, NULL) == SQLITE_OK)
			return 0;
		set_cause(cause, "report: %s", sqlite3_errmsg(db));
		return -1;
	}
	sql = xasprintf("INSERT OR IGNORE INTO temp.found_ev SELECT e.id, e.sender, e.recipient,"
	                " e.recipient_domain, e.relay, e.client, e.reply_code, e.enhanced_code,"
	                " e.reason_key FROM (%s) f CROSS JOIN events e ON e.id = f.event_id"
	                " WHERE" FAILURES_IN_SCOPE,
	                ids);
	rc = exec_in_scope(db, sc, sql, cause);
	free(sql);
	return rc;
}

/* build_counts - the sections that read the events alone: the scope's
 * tables, the summary, the counts and the causes; and the events of the
 * findings of the events' own texts, which no analysis changes */
static int
build_counts(struct report *r, sqlite3 *db, char **cause)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (scope_setup(db, r->scope, cause) != 0)
		goto fail;
	timing_end("scope", &t0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (report_aggregate(db, r->scope, cause) != 0)
		goto fail;
	timing_end("aggregate", &t0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (found_events(db, r->scope, NULL, cause) != 0 ||
	    found_events(db, r->scope, TEXT_FINDING_EVENTS, cause) != 0)
		goto fail;
	timing_end("text findings' events", &t0);
	if (build_summary(r, db, cause) != 0)
		goto fail;
	if (add_table(r, db, "by_mta", "Events by MTA", NULL,
	              "SELECT mta, sum(n * (status = 'sent')) AS sent, sum(n * (status = "
	              "'deferred')) AS deferred,"
	              " sum(n * (status = 'bounced')) AS bounced, sum(n * (status = 'expired')) AS "
	              "expired,"
	              " sum(n * (status = 'rejected')) AS rejected, sum(n) AS total"
	              " FROM temp.counts GROUP BY mta ORDER BY total DESC, mta",
	              cause) != 0)
		goto fail;
	if (add_table(
	        r, db, "class_subject", "Failures by class and subject",
	        "4 temporary, 5 permanent. X.1 address X.2 mailbox X.3 system X.4 network "
	        "X.5 protocol X.6 content X.7 policy",
	        "SELECT class,"
	        " sum(events * (subject = 0)) AS \"X.0\", sum(events * (subject = 1)) AS \"X.1\","
	        " sum(events * (subject = 2)) AS \"X.2\", sum(events * (subject = 3)) AS \"X.3\","
	        " sum(events * (subject = 4)) AS \"X.4\", sum(events * (subject = 5)) AS \"X.5\","
	        " sum(events * (subject = 6)) AS \"X.6\", sum(events * (subject = 7)) AS \"X.7\","
	        " sum(events * (subject IS NULL OR subject > 7)) AS \"none\","
	        " sum(events) AS total FROM temp.class_subject GROUP BY class ORDER BY class",
	        cause) != 0)
		goto fail;
	if (add_table(r, db, "bounces", "Bounce causes",
	              "permanent failures: the message was returned to its sender",
	              CAUSE_SQL("bounced", CAUSE_COLUMNS), cause) != 0)
		goto fail;
	if (add_table(r, db, "deferrals", "Deferral causes",
	              "temporary failures: the MTA keeps the message and retries",
	              CAUSE_SQL("deferred", CAUSE_COLUMNS), cause) != 0)
		goto fail;
	if (add_table(r, db, "rejections", "SMTP-time rejections",
	              "refused by this server while the client was connected",
	              CAUSE_SQL("rejected", REJECT_COLUMNS), cause) != 0)
		goto fail;
	if (add_table(r, db, "domains", "Top failing recipient domains", NULL,
	              /* the counts from the tallies; the top domains' distinct
	               * recipients from the failures */
	              "WITH f AS MATERIALIZED (SELECT recipient_domain AS domain,"
	              "   sum(events * (status = 'bounced')) AS bounced,"
	              "   sum(events * (status = 'deferred')) AS deferred,"
	              "   sum(events * (status = 'expired')) AS expired,"
	              "   sum(events * (status = 'sent')) AS sent"
	              "   FROM temp.tally WHERE recipient_domain <> '' GROUP BY recipient_domain"
	              "   HAVING bounced + deferred + expired > 0"
	              "   ORDER BY bounced + deferred + expired DESC, domain LIMIT ?4)"
	              " SELECT domain, bounced, deferred, expired, sent, r.recipients"
	              " FROM f LEFT JOIN temp.domain_recipients r ON r.recipient_domain = f.domain"
	              " ORDER BY bounced + deferred + expired DESC, domain",
	              cause) != 0)
		goto fail;
	if (add_table(
	        r, db, "relays", "Top failing relays", NULL,
	        "SELECT relay, sum(events * (status = 'bounced')) AS bounced,"
	        " sum(events * (status = 'deferred')) AS deferred,"
	        " sum(events * (status = 'sent')) AS sent"
	        " FROM temp.tally WHERE relay <> '' AND relay <> 'none' GROUP BY relay"
	        " HAVING bounced + deferred > 0 ORDER BY bounced + deferred DESC, relay LIMIT ?4",
	        cause) != 0)
		goto fail;
	/* per hour when the events span three days or less, else per day */
	if (add_table(
	        r, db, "failures_by_time", "Failures over time", NULL,
	        /* counted per quarter hour (temp.quarters): no time zone's
	         * hour or day splits one, and the time conversions run once
	         * per quarter */
	        "WITH q AS (SELECT * FROM temp.quarters),"
	        " span AS (SELECT max(hi) - min(lo) <= 3 * 86400 AS hourly FROM q)"
	        " SELECT CASE WHEN (SELECT hourly FROM span)"
	        "   THEN strftime('%Y-%m-%dT%H:00', quarter, 'unixepoch', 'localtime')"
	        "   ELSE strftime('%Y-%m-%d', quarter, 'unixepoch', 'localtime') END AS period,"
	        " sum(deferred) AS deferred, sum(bounced) AS bounced, sum(expired) AS expired,"
	        " sum(rejected) AS rejected, sum(total) AS total"
	        " FROM q GROUP BY period ORDER BY period",
	        cause) != 0)
		goto fail;
	return 0;
fail:
	return -1;
}

/* build_findings - the sections that read the analysis' findings (and the
 * scope's tables build_counts made on the same connection) */
static int
build_findings(struct report *r, sqlite3 *db, char **cause)
{
	struct timespec t0;

	/* the events of the findings the analysis made (those of the
	 * events' own texts were looked up beside it: found_events) */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (found_events(db, r->scope, MESSAGE_FINDING_EVENTS, cause) != 0)
		goto fail;
	timing_end("findings' events", &t0);
	if (add_table(
	        r, db, "greylisting", "Greylisting",
	        "outbound: remote servers greylisting our mail (share of all deferrals); inbound: "
	        "this server greylisting senders (share of its 4xx rejections)",
	        "WITH g AS (SELECT g.*, e.recipient FROM greylisting g JOIN temp.found_ev e"
	        "   ON e.id = g.event_id),"
	        " d AS (SELECT direction, accepted_event_id, max(delay) AS delay FROM g"
	        "   WHERE delay IS NOT NULL GROUP BY direction, accepted_event_id),"
	        " r AS (SELECT direction, delay, row_number() OVER (PARTITION BY direction ORDER "
	        "BY delay)"
	        "   AS rn, count(*) OVER (PARTITION BY direction) AS n FROM d),"
	        " s AS (SELECT direction, max(n) AS accepted,"
	        "   min(CASE WHEN rn >= (n + 1) / 2 THEN delay END) AS median,"
	        "   min(CASE WHEN rn * 10 >= n * 9 THEN delay END) AS p90 FROM r GROUP BY "
	        "direction)"
	        " SELECT g.direction, count(*) AS events,"
	        " printf('%.1f%%', 100.0 * count(*) / max(1, (SELECT CASE g.direction"
	        "   WHEN 'outbound' THEN t.deferred ELSE t.rejected_4xx END"
	        "   FROM temp.failure_totals t))) AS share,"
	        " sum(g.basis = 'text') AS by_text, sum(g.basis = 'retry') AS by_retry,"
	        " count(DISTINCT g.recipient) AS recipients, s.accepted,"
	        " CASE WHEN s.median IS NULL THEN NULL WHEN s.median < 3600"
	        "   THEN printf('%dm%02ds', s.median / 60, s.median % 60)"
	        "   ELSE printf('%dh%02dm', s.median / 3600, s.median % 3600 / 60) END AS "
	        "median_delay,"
	        " CASE WHEN s.p90 IS NULL THEN NULL WHEN s.p90 < 3600"
	        "   THEN printf('%dm%02ds', s.p90 / 60, s.p90 % 60)"
	        "   ELSE printf('%dh%02dm', s.p90 / 3600, s.p90 % 3600 / 60) END AS p90_delay"
	        " FROM g LEFT JOIN s ON s.direction = g.direction"
	        " GROUP BY g.direction ORDER BY g.direction DESC",
	        cause) != 0)
		goto fail;
	if (add_table(r, db, "greylisting_domains", "Greylisting by recipient domain (outbound)",
	              NULL,
	              "SELECT e.recipient_domain AS domain, count(*) AS deferrals,"
	              " count(DISTINCT e.recipient) AS recipients, max(e.relay) AS relay"
	              " FROM greylisting g JOIN temp.found_ev e ON e.id = g.event_id"
	              " WHERE g.direction = 'outbound'"
	              " GROUP BY e.recipient_domain ORDER BY deferrals DESC, domain LIMIT ?4",
	              cause) != 0)
		goto fail;
	if (add_table(
	        r, db, "greylisting_clients", "Greylisting by client (inbound)", NULL,
	        "SELECT e.client, count(*) AS rejections, count(DISTINCT e.sender) AS senders,"
	        " count(DISTINCT e.recipient) AS recipients"
	        " FROM greylisting g JOIN temp.found_ev e ON e.id = g.event_id"
	        " WHERE g.direction = 'inbound'"
	        " GROUP BY e.client ORDER BY rejections DESC, e.client LIMIT ?4",
	        cause) != 0)
		goto fail;
	if (add_table(
	        r, db, "miscategorized", "Miscategorized replies",
	        "replies whose class says one thing and whose words or fate say another",
	        "SELECT m.rule, count(*) AS events, count(DISTINCT e.recipient) AS recipients,"
	        " CASE m.rule"
	        "  WHEN 'class-mismatch' THEN 'reply and enhanced code disagree; the MTA acts on "
	        "the"
	        " reply code'"
	        "  WHEN 'transient-text-under-5xx' THEN 'a permanent code for a temporary problem:"
	        " mail bounced that a retry would have delivered'"
	        "  WHEN 'permanent-text-under-4xx' THEN 'a temporary code for a permanent problem:"
	        " the sender retries in vain for days'"
	        "  WHEN '4xx-until-expiry' THEN 'retried until the queue lifetime ran out: "
	        "effectively"
	        " permanent, sender learns late'"
	        "  WHEN '5xx-then-delivered' THEN 'refused permanently, then delivered: effectively"
	        " temporary'"
	        " END AS meaning"
	        " FROM miscategorized m JOIN temp.found_ev e ON e.id = m.event_id"
	        " GROUP BY m.rule ORDER BY events DESC, m.rule",
	        cause) != 0)
		goto fail;
	if (add_table(
	        r, db, "miscategorized_examples", "Miscategorized replies: top reasons", NULL,
	        "WITH g AS (SELECT m.rule, count(*) AS events, e.reply_code, e.enhanced_code,"
	        "  e.reason_key, min(e.id) AS example_id"
	        "  FROM miscategorized m JOIN temp.found_ev e ON e.id = m.event_id"
	        "  GROUP BY m.rule, e.reply_code, e.enhanced_code, e.reason_key),"
	        " x AS (SELECT g.*, ev.reason, ev.response AS example,"
	        "  row_number() OVER (PARTITION BY g.rule ORDER BY g.events DESC, ev.reason) AS rn"
	        "  FROM g JOIN events ev ON ev.id = g.example_id)"
	        " SELECT rule, events, reply_code, enhanced_code, reason, example FROM x WHERE rn "
	        "<= 3"
	        " ORDER BY rule, events DESC, reason",
	        cause) != 0)
		goto fail;
	return 0;
fail:
	return -1;
}

void
report_free(struct report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nsources; i++)
		free(r->sources[i].path);
	free(r->sources);
	for (size_t i = 0; i < r->ntables; i++) {
		struct table *t = &r->tables[i];

		for (size_t k = 0; k < t->nrows * t->ncols; k++)
			free(t->cells[k].text);
		for (size_t c = 0; c < t->ncols; c++)
			free((char *)t->cols[c]);
		free(t->cols);
		free(t->cells);
	}
	free(r->tables);
	free(r->first_ts);
	free(r->last_ts);
	free(r);
}

uint64_t
report_count(const struct report *r, const char *status)
{
	if (status == NULL)
		return (uint64_t)r->by_status[5];
	for (size_t i = 0; i < 5; i++) {
		if (strcmp(status, statuses[i]) == 0)
			return (uint64_t)r->by_status[i];
	}
	return 0;
}

size_t
report_utf8_len(const unsigned char *p)
{
	unsigned char c = p[0];
	size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;

	if (len == 0 || c < 0xc2 || c > 0xf4)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0; /* also stops at the terminating NUL */
	}
	if (len == 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0)))
		return 0; /* overlong, or a UTF-16 surrogate */
	if (len == 4 && ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90)))
		return 0; /* overlong, or beyond U+10FFFF */
	return len;
}

const unsigned char *
report_put_utf8(FILE *out, const unsigned char *p, const char *replacement)
{
	size_t len = report_utf8_len(p);

	if (len == 0) {
		fputs(replacement, out);
		return p + 1;
	}
	fwrite(p, 1, len, out);
	return p + len;
}

const struct table *
report_table(const struct report *r, const char *id)
{
	for (size_t i = 0; i < r->ntables; i++) {
		if (strcmp(r->tables[i].id, id) == 0)
			return &r->tables[i];
	}
	return NULL;
}

/* The renderers, one module each. */
static const struct renderer {
	const char *name;
	const char *ext;
	void (*render)(const struct report *r, FILE *out);
} renderers[] = {
    {"text", ".txt", report_render_text},
    {"json", ".json", report_render_json},
    {"csv", ".csv", report_render_csv},
    {"html", ".html", report_render_html},
};

bool
report_format_known(const char *name)
{
	for (size_t i = 0; i < sizeof renderers / sizeof renderers[0]; i++) {
		if (strcmp(renderers[i].name, name) == 0)
			return true;
	}
	return false;
}

const char *
report_format_for_path(const char *path)
{
	size_t n = strlen(path);

	for (size_t i = 0; i < sizeof renderers / sizeof renderers[0]; i++) {
		size_t k = strlen(renderers[i].ext);

		if (n > k && strcasecmp(path + n - k, renderers[i].ext) == 0)
			return renderers[i].name;
	}
	if (n > 4 && strcasecmp(path + n - 4, ".htm") == 0)
		return "html";
	return NULL;
}

/* Sections in the order the model holds them; kept here so --section can
 * be checked before any work is done. */
static const char *const section_ids[] = {
    "by_mta",
    "class_subject",
    "bounces",
    "deferrals",
    "rejections",
    "greylisting",
    "greylisting_domains",
    "greylisting_clients",
    "miscategorized",
    "miscategorized_examples",
    "domains",
    "relays",
    "failures_by_time",
};

bool
report_section_known(const char *id)
{
	for (size_t i = 0; i < sizeof section_ids / sizeof section_ids[0]; i++) {
		if (strcmp(section_ids[i], id) == 0)
			return true;
	}
	return false;
}

void
report_render(const struct report *r, const char *format, const char *section, FILE *out)
{
	(void)section; /* the CSV renderer reads it from the scope */
	for (size_t i = 0; i < sizeof renderers / sizeof renderers[0]; i++) {
		if (strcmp(renderers[i].name, format) == 0) {
			renderers[i].render(r, out);
			return;
		}
	}
}

/* order_sections - the model's tables in section_ids' order, whichever
 * order they were built in */
static void
order_sections(struct report *r)
{
	size_t done = 0;

	for (size_t k = 0; k < sizeof section_ids / sizeof section_ids[0]; k++) {
		for (size_t i = done; i < r->ntables; i++) {
			if (strcmp(r->tables[i].id, section_ids[k]) == 0) {
				struct table t = r->tables[i];

				memmove(&r->tables[done + 1], &r->tables[done],
				        (i - done) * sizeof *r->tables);
				r->tables[done++] = t;
				break;
			}
		}
	}
}

/*
 * A report built beside the analysis: the sections that read the events
 * alone are read on a thread of their own, through a second connection
 * (in WAL mode one connection reads while another writes), while the
 * analysis runs on the first; the findings' sections follow on that second
 * connection, which sees the analysis once it has committed.  Where no
 * second connection can be had (:memory:, one CPU), everything is read in
 * report_finish through the first.
 */
struct report_job {
	struct report *r;
	sqlite3 *db; /* the connection every section is read through */
	bool own_db; /* a second connection, closed by report_finish */
	bool threaded;
	pthread_t thread;
	int rc;
	char *cause;
};

static void *
report_counts_main(void *arg)
{
	struct report_job *j = arg;

	diag_name_thread("smtplog-counts");
	j->rc = build_counts(j->r, j->db, &j->cause);
	return NULL;
}

struct report_job *
report_start(sqlite3 *db, const char *path, const struct report_scope *scope)
{
	struct report_job *j = xcalloc(1, sizeof *j);
	sqlite3 *db2 = NULL;

	j->r = xcalloc(1, sizeof *j->r);
	j->r->scope = scope;
	j->db = db;
	if (path == NULL || strcmp(path, ":memory:") == 0 || sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return j;
	/* temporary tables on disk, as on the first connection, and freed
	 * space not zeroed (store_open); a page cache
	 * of 2 MiB, since the first connection's (4 MiB; 2 MiB while the
	 * analysis sorts) is in use at the same time.  Peak RSS on 1 GB of
	 * Postfix: 65 MiB with 8, 57 with 4, 55 with 2; on 4 GB 62.5 with 2 */
	if (sqlite3_open_v2(path, &db2, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	        SQLITE_OK ||
	    sqlite3_exec(
	        db2, "PRAGMA temp_store=FILE; PRAGMA cache_size=-2048; PRAGMA secure_delete=OFF",
	        NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_close(db2);
		return j;
	}
	sqlite3_busy_timeout(db2, 10000);
	j->db = db2;
	j->own_db = true;
	j->threaded = pthread_create(&j->thread, NULL, report_counts_main, j) == 0;
	if (!j->threaded) {
		sqlite3_close(db2);
		j->db = db;
		j->own_db = false;
	}
	return j;
}

struct report *
report_finish(struct report_job *j, char **cause)
{
	struct report *r = j->r;
	int rc;

	if (j->threaded) {
		pthread_join(j->thread, NULL);
		rc = j->rc;
		if (rc != 0)
			set_cause(cause, "%s", j->cause ? j->cause : "report: failed");
	} else
		rc = build_counts(r, j->db, cause);
	if (rc == 0)
		rc = build_findings(r, j->db, cause);
	if (j->own_db)
		sqlite3_close(j->db);
	free(j->cause);
	free(j);
	if (rc != 0) {
		report_free(r);
		return NULL;
	}
	order_sections(r);
	return r;
}
