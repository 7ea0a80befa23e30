/*
 * report_agg.c - the failures in scope counted in one pass.
 *
 * Owns: the report's small aggregate tables, filled from the failures in
 * scope (FAILURES_IN_SCOPE, read straight from the events: a copy of them
 * in a temporary table cost Exim's bounce-heavy 100 MB 0.17 s more), or
 * from the counts a first load made as it stored them (report_agg_add on
 * the writer thread), with hash tables in C, where one SQL GROUP BY per
 * section sorted every failure again:
 *   temp.causes(status, enhanced_code, reply_code, reason_key, events,
 *               example_id, recipients, domains, clients)
 *   temp.class_subject(class, subject, events)
 *   temp.quarters(quarter, lo, hi, deferred, bounced, expired, rejected, total)
 *   temp.domain_recipients(recipient_domain, recipients)
 *   temp.failure_totals(deferred, rejected_4xx): one row, the shares'
 *               denominators (the greylisting section)
 * Groups are found by a 64-bit hash of their key, as the reasons already
 * are (reason_key); a distinct count keeps one 64-bit hash per distinct
 * (group, value) pair.  Past AGG_MAX_ENTRIES entries in all, the counts
 * are made by SQL instead, over temp.sev, a narrow copy of the failures
 * (sorts in temporary files), so that memory stays bounded whatever the
 * scope.
 * Does not own: the sections' columns and order (report.c's queries over
 * these tables).
 */
#include "config.h"

#include "report_agg.h"

#include "diag.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* 2^20 entries: at most 16 MiB of hash slots, before the SQL fallback */
#define AGG_MAX_ENTRIES (1u << 20)

/* a hash table of 64-bit keys (0 stands for empty), each with the index
 * of its entry; a set when VAL is NULL */
struct hmap {
	uint64_t *key;
	uint32_t *val;
	size_t cap, n;
};

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t
hash_int(uint64_t h, int64_t v)
{
	return mix(h ^ mix((uint64_t)v + 0x9e3779b97f4a7c15ULL));
}

static void
hmap_grow(struct hmap *m, bool with_val)
{
	size_t cap = m->cap ? m->cap * 2 : 1024;
	uint64_t *key = xcalloc(cap, sizeof *key);
	uint32_t *val = with_val ? xcalloc(cap, sizeof *val) : NULL;

	for (size_t i = 0; i < m->cap; i++) {
		size_t j;

		if (m->key[i] == 0)
			continue;
		for (j = mix(m->key[i]) & (cap - 1); key[j] != 0; j = (j + 1) & (cap - 1))
			;
		key[j] = m->key[i];
		if (val != NULL)
			val[j] = m->val[i];
	}
	free(m->key);
	free(m->val);
	m->key = key;
	m->val = val;
	m->cap = cap;
}

/* hmap_put - find KEY; when absent, add it with value NEXT.  True when it
 * was added; *VAL (may be NULL) its value either way. */
static bool
hmap_put(struct hmap *m, bool with_val, uint64_t key, uint32_t next, uint32_t *val)
{
	size_t j;

	if (key == 0)
		key = 1;
	if ((m->n + 1) * 2 > m->cap)
		hmap_grow(m, with_val);
	for (j = mix(key) & (m->cap - 1); m->key[j] != 0; j = (j + 1) & (m->cap - 1)) {
		if (m->key[j] == key) {
			if (val != NULL)
				*val = m->val[j];
			return false;
		}
	}
	m->key[j] = key;
	if (with_val)
		m->val[j] = next;
	if (val != NULL)
		*val = next;
	m->n++;
	return true;
}

static void
hmap_free(struct hmap *m)
{
	free(m->key);
	free(m->val);
}

enum { ST_DEFERRED, ST_BOUNCED, ST_EXPIRED, ST_REJECTED, ST_OTHER };
static const char *const status_names[] = {"deferred", "bounced", "expired", "rejected"};

struct cause {
	int status;
	char *enhanced; /* NULL for none */
	bool has_reply;
	int64_t reply, reason_key, events, example_id;
	int64_t recipients, domains, clients;
};

struct class_subject {
	int64_t klass, subject, events;
	bool has_subject;
};

struct quarter {
	int64_t quarter, lo, hi, n[4], total;
};

struct domain {
	char *name;
	int64_t recipients;
};

struct report_agg {
	struct hmap cause_ix, cs_ix, quarter_ix, domain_ix, pairs;
	struct cause *causes;
	struct class_subject *cs;
	struct quarter *quarters;
	struct domain *domains;
	size_t ncauses, ncs, nquarters, ndomains;
	int64_t deferred, rejected_4xx; /* temp.failure_totals */
	size_t max_entries;
	bool overflow; /* past max_entries: the counting is left to SQL */
};

/* grow - room for one more element in *ARR of N */
static void *
grow(void *arr, size_t n, size_t size)
{
	if ((n & (n - 1)) == 0) /* 0, 1, 2, 4...: double at each power of two */
		arr = xreallocarray(arr, n ? n * 2 : 1, size);
	return arr;
}

static size_t
agg_entries(const struct report_agg *a)
{
	return a->cs_ix.n + a->quarter_ix.n + a->cause_ix.n + a->domain_ix.n + a->pairs.n;
}

/* distinct - count VALUE (hash HV) once for counter KIND of group G */
static void
distinct(struct report_agg *a, int kind, uint32_t g, uint64_t hv, int64_t *counter)
{
	if (hmap_put(&a->pairs, false, hash_int(hv, (int64_t)g * 4 + kind), 0, NULL))
		(*counter)++;
}

static const char *
column_text(sqlite3_stmt *s, int i, size_t *n)
{
	const char *t = (const char *)sqlite3_column_text(s, i);

	*n = t != NULL ? (size_t)sqlite3_column_bytes(s, i) : 0;
	return t;
}

/* agg_add - count one failure */
static void
agg_add(struct report_agg *a, const struct report_agg_row *f)
{
	int64_t id = f->id;
	size_t nrcpt = f->recipient.n, ndom = f->domain.n, ncli = f->client.n, nenh = f->enhanced.n;
	const char *rcpt = f->recipient.p, *dom = f->domain.p, *cli = f->client.p,
	           *enh = f->enhanced.p;
	bool has_reply = f->has_reply;
	int64_t reply = f->reply, reason_key = f->reason_key;
	int status = f->status == STATUS_DEFERRED   ? ST_DEFERRED
	             : f->status == STATUS_BOUNCED  ? ST_BOUNCED
	             : f->status == STATUS_EXPIRED  ? ST_EXPIRED
	             : f->status == STATUS_REJECTED ? ST_REJECTED
	                                            : ST_OTHER;
	uint64_t hr = 0, hd = 0, hc = 0, h;
	uint32_t ix;

	if (a->overflow)
		return;
	if (rcpt != NULL)
		hr = hash_words(0, rcpt, nrcpt);
	if (dom != NULL)
		hd = hash_words(0, dom, ndom);
	if (cli != NULL)
		hc = hash_words(0, cli, ncli);

	if (status == ST_DEFERRED)
		a->deferred++;
	else if (status == ST_REJECTED && f->has_class && f->klass == 4)
		a->rejected_4xx++;
	/* class and subject, for classes 4 and 5 */
	if (f->has_class && (f->klass == 4 || f->klass == 5)) {
		int64_t klass = f->klass, subject = f->has_subject ? f->subject : 0;
		bool has_subject = f->has_subject;

		h = hash_int(hash_int(1, klass), has_subject ? subject : INT64_MIN);
		if (hmap_put(&a->cs_ix, true, h, (uint32_t)a->ncs, &ix)) {
			a->cs = grow(a->cs, a->ncs, sizeof *a->cs);
			a->cs[a->ncs++] = (struct class_subject){klass, subject, 0, has_subject};
		}
		a->cs[ix].events++;
	}

	/* the quarter hour */
	if (f->has_ts) {
		int64_t ts = f->ts, q = ts - ((ts % 900) + 900) % 900;
		struct quarter *qq;

		if (hmap_put(&a->quarter_ix, true, hash_int(2, q), (uint32_t)a->nquarters, &ix)) {
			a->quarters = grow(a->quarters, a->nquarters, sizeof *a->quarters);
			a->quarters[a->nquarters++] =
			    (struct quarter){.quarter = q, .lo = ts, .hi = ts};
		}
		qq = &a->quarters[ix];
		if (ts < qq->lo)
			qq->lo = ts;
		if (ts > qq->hi)
			qq->hi = ts;
		if (status != ST_OTHER)
			qq->n[status]++;
		qq->total++;
	}

	/* the causes of bounces, deferrals and rejections */
	if (status == ST_DEFERRED || status == ST_BOUNCED || status == ST_REJECTED) {
		struct cause *c;

		h = hash_int(3, status);
		h = enh != NULL ? hash_int(hash_int(h, 1), (int64_t)hash_words(0, enh, nenh))
		                : hash_int(h, 0);
		h = hash_int(h, has_reply ? reply : INT64_MIN);
		h = hash_int(h, reason_key);
		if (hmap_put(&a->cause_ix, true, h, (uint32_t)a->ncauses, &ix)) {
			a->causes = grow(a->causes, a->ncauses, sizeof *a->causes);
			a->causes[a->ncauses++] = (struct cause){
			    .status = status,
			    .enhanced = enh != NULL ? xstrndup(enh, nenh) : NULL,
			    .has_reply = has_reply,
			    .reply = reply,
			    .reason_key = reason_key,
			    .example_id = id,
			};
		}
		c = &a->causes[ix];
		c->events++;
		if (id < c->example_id)
			c->example_id = id;
		if (rcpt != NULL)
			distinct(a, 0, ix, hr, &c->recipients);
		if (status == ST_REJECTED) {
			if (cli != NULL)
				distinct(a, 1, ix, hc, &c->clients);
		} else if (dom != NULL)
			distinct(a, 2, ix, hd, &c->domains);
	}

	/* the failing domains' recipients */
	if ((status == ST_BOUNCED || status == ST_DEFERRED || status == ST_EXPIRED) &&
	    dom != NULL) {
		if (hmap_put(&a->domain_ix, true, hd, (uint32_t)a->ndomains, &ix)) {
			a->domains = grow(a->domains, a->ndomains, sizeof *a->domains);
			a->domains[a->ndomains++] = (struct domain){xstrndup(dom, ndom), 0};
		}
		if (rcpt != NULL)
			distinct(a, 3, ix, hr, &a->domains[ix].recipients);
	}
	if (agg_entries(a) > a->max_entries)
		a->overflow = true;
}

/* agg_row - count the failure in row S: the columns of SELECT_FAILURES */
static void
agg_row(struct report_agg *a, sqlite3_stmt *s)
{
	const char *st = (const char *)sqlite3_column_text(s, 2);
	struct report_agg_row f = {
	    .id = sqlite3_column_int64(s, 0),
	    .has_ts = sqlite3_column_type(s, 1) != SQLITE_NULL,
	    .ts = sqlite3_column_int64(s, 1),
	    .status = st != NULL ? status_parse(st, strlen(st)) : STATUS_NONE,
	    .has_reply = sqlite3_column_type(s, 6) != SQLITE_NULL,
	    .reply = sqlite3_column_int64(s, 6),
	    .has_class = sqlite3_column_type(s, 8) == SQLITE_INTEGER,
	    .klass = sqlite3_column_int64(s, 8),
	    .has_subject = sqlite3_column_type(s, 9) != SQLITE_NULL,
	    .subject = sqlite3_column_int64(s, 9),
	    .reason_key = sqlite3_column_int64(s, 10),
	};

	f.recipient.p = column_text(s, 3, &f.recipient.n);
	f.domain.p = column_text(s, 4, &f.domain.n);
	f.client.p = column_text(s, 5, &f.client.n);
	f.enhanced.p = column_text(s, 7, &f.enhanced.n);
	agg_add(a, &f);
}

static void
agg_free(struct report_agg *a)
{
	for (size_t i = 0; i < a->ncauses; i++)
		free(a->causes[i].enhanced);
	for (size_t i = 0; i < a->ndomains; i++)
		free(a->domains[i].name);
	free(a->causes);
	free(a->cs);
	free(a->quarters);
	free(a->domains);
	hmap_free(&a->cause_ix);
	hmap_free(&a->cs_ix);
	hmap_free(&a->quarter_ix);
	hmap_free(&a->domain_ix);
	hmap_free(&a->pairs);
}

static int
fail(sqlite3 *db, sqlite3_stmt *s, char **cause)
{
	set_cause(cause, "report: %s", sqlite3_errmsg(db));
	sqlite3_finalize(s);
	return -1;
}

static void
bind_opt_int(sqlite3_stmt *s, int i, bool has, int64_t v)
{
	if (has)
		sqlite3_bind_int64(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

/* The failures in scope, as agg_row reads them and temp.sev holds them. */
#define SELECT_FAILURES                                                                            \
	"SELECT e.id, e.ts_epoch, e.status, e.recipient, e.recipient_domain, e.client,"            \
	" e.reply_code, e.enhanced_code, e.class, e.subject, coalesce(e.reason_key, 0)"            \
	" FROM events e WHERE" FAILURES_IN_SCOPE

void
report_bind_scope(sqlite3_stmt *s, const struct report_scope *sc)
{
	sqlite3_bind_int64(s, 1, sc->since);
	sqlite3_bind_int64(s, 2, sc->until);
	if (sc->domain != NULL)
		sqlite3_bind_text(s, 3, sc->domain, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 3);
}

/* copy_failures - temp.sev: the failures in scope, for the SQL counts */
static int
copy_failures(sqlite3 *db, const struct report_scope *sc, char **cause)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_exec(db,
	                 "CREATE TEMP TABLE sev(id INTEGER PRIMARY KEY, ts_epoch INTEGER,"
	                 " status TEXT, recipient TEXT, recipient_domain TEXT, client TEXT,"
	                 " reply_code INTEGER, enhanced_code TEXT, class INTEGER,"
	                 " subject INTEGER, reason_key INTEGER)",
	                 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO temp.sev " SELECT_FAILURES, -1, &s, NULL) !=
	        SQLITE_OK)
		return fail(db, s, cause);
	report_bind_scope(s, sc);
	if (sqlite3_step(s) != SQLITE_DONE)
		return fail(db, s, cause);
	sqlite3_finalize(s);
	return 0;
}

/* agg_store - write the tables the pass filled */
static int
agg_store(sqlite3 *db, const struct report_scope *sc, const struct report_agg *a, char **cause)
{
	sqlite3_stmt *s = NULL;

	if (a->overflow) {
		/* the same counts, by sorts in temporary files */
		if (copy_failures(db, sc, cause) != 0)
			return -1;
		if (sqlite3_exec(
		        db,
		        "INSERT INTO temp.class_subject SELECT class, subject, count(*)"
		        " FROM temp.sev WHERE class IN (4, 5) GROUP BY class, subject;"
		        "INSERT INTO temp.quarters SELECT"
		        " ts_epoch - ((ts_epoch % 900) + 900) % 900 AS quarter,"
		        " min(ts_epoch), max(ts_epoch), sum(status = 'deferred'),"
		        " sum(status = 'bounced'), sum(status = 'expired'),"
		        " sum(status = 'rejected'), count(*) FROM temp.sev"
		        " WHERE ts_epoch IS NOT NULL GROUP BY quarter;"
		        "INSERT INTO temp.causes SELECT status, enhanced_code, reply_code,"
		        " reason_key, count(*), min(id), count(DISTINCT recipient),"
		        " count(DISTINCT recipient_domain), count(DISTINCT client)"
		        " FROM temp.sev WHERE status IN ('deferred', 'bounced', 'rejected')"
		        " GROUP BY status, enhanced_code, reply_code, reason_key;"
		        "INSERT INTO temp.domain_recipients SELECT recipient_domain,"
		        " count(DISTINCT recipient) FROM temp.sev"
		        " WHERE status IN ('bounced', 'deferred', 'expired')"
		        " AND recipient_domain IS NOT NULL GROUP BY recipient_domain;"
		        "INSERT INTO temp.failure_totals SELECT"
		        " coalesce(sum(status = 'deferred'), 0),"
		        " coalesce(sum(status = 'rejected' AND class = 4), 0) FROM temp.sev",
		        NULL, NULL, NULL) != SQLITE_OK)
			return fail(db, NULL, cause);
		return 0;
	}
	if (sqlite3_prepare_v2(db, "INSERT INTO temp.class_subject VALUES (?1, ?2, ?3)", -1, &s,
	                       NULL) != SQLITE_OK)
		return fail(db, s, cause);
	for (size_t i = 0; i < a->ncs; i++) {
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, a->cs[i].klass);
		bind_opt_int(s, 2, a->cs[i].has_subject, a->cs[i].subject);
		sqlite3_bind_int64(s, 3, a->cs[i].events);
		if (sqlite3_step(s) != SQLITE_DONE)
			return fail(db, s, cause);
	}
	sqlite3_finalize(s);
	if (sqlite3_prepare_v2(db,
	                       "INSERT INTO temp.quarters VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	                       -1, &s, NULL) != SQLITE_OK)
		return fail(db, s, cause);
	for (size_t i = 0; i < a->nquarters; i++) {
		const struct quarter *q = &a->quarters[i];

		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, q->quarter);
		sqlite3_bind_int64(s, 2, q->lo);
		sqlite3_bind_int64(s, 3, q->hi);
		for (int k = 0; k < 4; k++)
			sqlite3_bind_int64(s, 4 + k, q->n[k]);
		sqlite3_bind_int64(s, 8, q->total);
		if (sqlite3_step(s) != SQLITE_DONE)
			return fail(db, s, cause);
	}
	sqlite3_finalize(s);
	if (sqlite3_prepare_v2(
	        db, "INSERT INTO temp.causes VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", -1, &s,
	        NULL) != SQLITE_OK)
		return fail(db, s, cause);
	for (size_t i = 0; i < a->ncauses; i++) {
		const struct cause *c = &a->causes[i];

		sqlite3_reset(s);
		sqlite3_bind_text(s, 1, status_names[c->status], -1, SQLITE_STATIC);
		if (c->enhanced != NULL)
			sqlite3_bind_text(s, 2, c->enhanced, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(s, 2);
		bind_opt_int(s, 3, c->has_reply, c->reply);
		sqlite3_bind_int64(s, 4, c->reason_key);
		sqlite3_bind_int64(s, 5, c->events);
		sqlite3_bind_int64(s, 6, c->example_id);
		sqlite3_bind_int64(s, 7, c->recipients);
		sqlite3_bind_int64(s, 8, c->domains);
		sqlite3_bind_int64(s, 9, c->clients);
		if (sqlite3_step(s) != SQLITE_DONE)
			return fail(db, s, cause);
	}
	sqlite3_finalize(s);
	if (sqlite3_prepare_v2(db, "INSERT INTO temp.domain_recipients VALUES (?1, ?2)", -1, &s,
	                       NULL) != SQLITE_OK)
		return fail(db, s, cause);
	for (size_t i = 0; i < a->ndomains; i++) {
		sqlite3_reset(s);
		sqlite3_bind_text(s, 1, a->domains[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, a->domains[i].recipients);
		if (sqlite3_step(s) != SQLITE_DONE)
			return fail(db, s, cause);
	}
	sqlite3_finalize(s);
	if (sqlite3_prepare_v2(db, "INSERT INTO temp.failure_totals VALUES (?1, ?2)", -1, &s,
	                       NULL) != SQLITE_OK)
		return fail(db, s, cause);
	sqlite3_bind_int64(s, 1, a->deferred);
	sqlite3_bind_int64(s, 2, a->rejected_4xx);
	if (sqlite3_step(s) != SQLITE_DONE)
		return fail(db, s, cause);
	sqlite3_finalize(s);
	return 0;
}

/* agg_init - empty, with its limit */
static void
agg_init(struct report_agg *a)
{
	const char *max = getenv("SMTPLOG_AGG_MAX_ENTRIES"); /* for the tests of the fallback */

	memset(a, 0, sizeof *a);
	a->max_entries = max != NULL ? (size_t)strtoul(max, NULL, 10) : AGG_MAX_ENTRIES;
}

struct report_agg *
report_agg_new(void)
{
	struct report_agg *a = xmalloc(sizeof *a);

	agg_init(a);
	return a;
}

void
report_agg_add(struct report_agg *a, const struct report_agg_row *f)
{
	if (f->status != STATUS_SENT)
		agg_add(a, f);
}

void
report_agg_free(struct report_agg *a)
{
	if (a == NULL)
		return;
	agg_free(a);
	free(a);
}

int
report_aggregate(sqlite3 *db, const struct report_scope *sc, char **cause)
{
	struct report_agg a;
	sqlite3_stmt *s = NULL;
	int rc;

	agg_init(&a);
	if (sqlite3_exec(db,
	                 "DROP TABLE IF EXISTS temp.sev;"
	                 "DROP TABLE IF EXISTS temp.causes;"
	                 "DROP TABLE IF EXISTS temp.class_subject;"
	                 "DROP TABLE IF EXISTS temp.quarters;"
	                 "DROP TABLE IF EXISTS temp.domain_recipients;"
	                 "DROP TABLE IF EXISTS temp.failure_totals;"
	                 "CREATE TEMP TABLE causes(status TEXT, enhanced_code TEXT,"
	                 " reply_code INTEGER, reason_key INTEGER, events INTEGER,"
	                 " example_id INTEGER, recipients INTEGER, domains INTEGER,"
	                 " clients INTEGER);"
	                 "CREATE TEMP TABLE class_subject(class INTEGER, subject INTEGER,"
	                 " events INTEGER);"
	                 "CREATE TEMP TABLE quarters(quarter INTEGER, lo INTEGER, hi INTEGER,"
	                 " deferred INTEGER, bounced INTEGER, expired INTEGER, rejected INTEGER,"
	                 " total INTEGER);"
	                 "CREATE TEMP TABLE domain_recipients(recipient_domain TEXT PRIMARY KEY,"
	                 " recipients INTEGER);"
	                 "CREATE TEMP TABLE failure_totals(deferred INTEGER, rejected_4xx INTEGER)",
	                 NULL, NULL, NULL) != SQLITE_OK)
		return fail(db, NULL, cause);
	/* counted as they were stored (a first load, the whole table in
	 * scope): nothing to read */
	if (sc->counted != NULL && !sc->counted->overflow)
		return agg_store(db, sc, sc->counted, cause);
	if (sqlite3_prepare_v2(db, SELECT_FAILURES, -1, &s, NULL) != SQLITE_OK)
		return fail(db, s, cause);
	report_bind_scope(s, sc);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		agg_row(&a, s);
		if (a.overflow) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		agg_free(&a);
		return fail(db, s, cause);
	}
	sqlite3_finalize(s);
	rc = agg_store(db, sc, &a, cause);
	agg_free(&a);
	return rc;
}
