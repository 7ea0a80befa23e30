/*
 * analyze.c - greylisting and miscategorized replies over the database.
 *
 * Two kinds of findings:
 *  1. text, judged on each failure as it is extracted (analyze_event_text)
 *     and stored with it: its response against the wording signatures of
 *     patterns/signatures.pat: greylisting by text (4xx only),
 *     class-mismatch (the remote's own reply and enhanced codes disagree),
 *     transient-text-under-5xx, permanent-text-under-4xx;
 *  2. messages, after ingestion, over the failures in play (new ones and
 *     their messages'): each message with a failure in play is read once,
 *     with all its events, and judged in C, one recipient at a time:
 *     - retries: chains of 4xx deferrals ending in one acceptance are
 *       greylisting by behaviour when the delay fits and no deferral of
 *       the chain names another cause;
 *     - outcomes: 4xx deferrals never delivered whose message later expired
 *       or bounced (4xx-until-expiry), 5xx failures later delivered
 *       (5xx-then-delivered).
 *     A first analysis of a load into an empty database reads the
 *     records its writer kept (pass_runs, msg_runs.c), or, without them,
 *     the messages in one pass over the table (pass_all_messages), without
 *     the message index; a later one finds them through the index
 *     (pass_messages_in_play), which analyze_prepare() builds first if the
 *     database lacks it.  The
 *     database is only read until the findings are written, from temp
 *     tables, in one transaction (flush_findings).
 */
#include "config.h"

#include "analyze.h"

#include "diag.h"
#include "msg_runs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* IN_PLAY_ONLY - SQL, whose WHERE is completed with the condition that a
 * finding's event is in play, unless every failure is (AFTER is 0) */
#define IN_PLAY_ONLY(after, sql)                                                                   \
	((after) == 0 ? sql : sql " AND event_id IN (SELECT id FROM temp.in_play)")

/* select_in_play - the failures in play: with AFTER 0 every one; else
 * temp.in_play, the new failures and the earlier failures of the same
 * messages.  Findings are about failures only; deliveries are what they
 * are compared with.  Only temp tables are written: the database is read
 * (the report reads beside it) until flush_findings. */
static int
select_in_play(sqlite3 *db, int64_t after, char **cause)
{
	/* clang-format off */
	return (after > 0 &&
	    (run(db, "DROP TABLE IF EXISTS temp.in_play", 0, cause) != 0 ||
	    run(db, "CREATE TEMP TABLE in_play(id INTEGER PRIMARY KEY, message_key INTEGER)", 0,
		cause) != 0 ||
	    run(db, "INSERT INTO temp.in_play SELECT e.id, e.message_key FROM events e"
		" WHERE e.status <> 'sent' AND e.id > ?1", after, cause) != 0 ||
		run(db,
		    "INSERT OR IGNORE INTO temp.in_play SELECT e.id, e.message_key FROM events e JOIN"
		    " (SELECT DISTINCT message_key FROM events WHERE id > ?1"
		    "  AND message_key IS NOT NULL) k"
		    " ON e.message_key = k.message_key WHERE e.id <= ?1 AND e.status <> 'sent'",
		    after, cause) != 0))
	    ? -1 : 0;
	/* clang-format on */
}

/* flush_findings - write what the passes found (temp.found_grey and
 * temp.found_mis) in place of what the messages' events told before */
static int
flush_findings(sqlite3 *db, int64_t after, char **cause)
{
	/* clang-format off */
	return
	    /* what the messages' events tell is judged again; what each
	     * event's own text tells was stored with it and stays.  Findings
	     * are about failures only: with every failure in play (after is
	     * 0), every finding is, and no lookup in in_play is needed. */
	    run(db, IN_PLAY_ONLY(after, "DELETE FROM greylisting WHERE "
		ANALYZE_MESSAGE_GREYLISTING), 0, cause) != 0 ||
	    run(db, IN_PLAY_ONLY(after, "UPDATE greylisting SET accepted_event_id = NULL,"
		" delay = NULL WHERE (accepted_event_id IS NOT NULL OR delay IS NOT NULL)"),
		0, cause) != 0 ||
	    run(db, IN_PLAY_ONLY(after, "DELETE FROM miscategorized WHERE "
		ANALYZE_MESSAGE_MISCATEGORIZED), 0, cause) != 0 ||
	    run(db, "UPDATE greylisting SET accepted_event_id = f.accepted_event_id,"
		" delay = f.delay FROM temp.found_grey f"
		" WHERE greylisting.event_id = f.event_id AND f.retry = 0", 0, cause) != 0 ||
	    run(db, "INSERT OR IGNORE INTO greylisting(event_id, basis, direction,"
		" accepted_event_id, delay) SELECT event_id, 'retry', 'outbound',"
		" accepted_event_id, delay FROM temp.found_grey WHERE retry = 1", 0, cause) != 0 ||
	    run(db, "INSERT OR IGNORE INTO miscategorized(event_id, rule, detail)"
		" SELECT event_id, rule, detail FROM temp.found_mis ORDER BY rowid", 0, cause) != 0 ||
	    run(db, "DROP TABLE temp.found_grey", 0, cause) != 0 ||
	    run(db, "DROP TABLE temp.found_mis", 0, cause) != 0
	    ? -1 : 0;
	/* clang-format on */
}

void
analyze_event_text(struct patterns *pats, struct event *ev)
{
	const char *text = ev->response.p;
	size_t len = ev->response.n;

	ev->greylist_sig = ev->transient_sig = ev->permanent_sig = NULL;
	ev->class_mismatch = ev->other_cause = false;
	if (ev->status == STATUS_SENT || ev->status == STATUS_NONE ||
	    (ev->class_code != 4 && ev->class_code != 5))
		return;
	ev->class_mismatch = ev->reply_code != 0 && ev->enhanced_code[0] != '\0' &&
	                     !ev->enhanced_from_dsn &&
	                     ev->reply_code / 100 != ev->enhanced_code[0] - '0';
	if (text == NULL)
		return;
	if (ev->class_code == 4) {
		ev->greylist_sig = patterns_signature(pats, "greylist", text, len);
		ev->permanent_sig = patterns_signature(pats, "permanent", text, len);
		/* what a first analysis would ask of the stored response
		 * (smtplog_other_cause), asked here where it has the text */
		ev->other_cause = ev->status == STATUS_DEFERRED &&
		                  patterns_signature(pats, "other-cause", text, len) != NULL;
	} else
		ev->transient_sig = patterns_signature(pats, "transient", text, len);
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

/*
 * The passes over messages: each message with a failure in play is read
 * once, all its events, and judged here rather than by correlated queries
 * (one index lookup per message instead of several per failure).
 */
struct msg_event {
	int64_t id, ts; /* ts: 0 with has_ts false when the line had none */
	bool has_ts, in_play;
	bool chained; /* already judged in a chain of retries */
	/* of a 4xx deferral: its response names another cause than
	 * greylisting; it was greylisted by text */
	bool other_cause, text_grey;
	enum status status;
	int klass;
	const char *recipient; /* NULL when none; in the pass's arena */
	const char *queue;     /* mta, host and queue ID: the message, exactly */
	/* its message_key where the events come grouped by it (a first
	 * analysis), else 0: judge_message sorts each group apart */
	int64_t key;
};

struct msg_pass {
	sqlite3 *db;
	struct patterns *pats;
	sqlite3_stmt *upd, *ins, *mis;
	struct msg_event *ev; /* the events of one load of messages */
	size_t n, cap;
	char *arena; /* their texts, NUL-terminated; offsets until the message is whole */
	size_t used, size;
	struct chain_link *chain;
	size_t chain_cap;
	size_t *scratch; /* judge_recipient's indexes */
	size_t scratch_cap;
};

/* arena_put - append N bytes of T to the arena */
static void
arena_put(struct msg_pass *mp, const char *t, size_t n)
{
	if (mp->used + n > mp->size) {
		mp->size = (mp->used + n) * 2;
		mp->arena = xreallocarray(mp->arena, mp->size, 1);
	}
	memcpy(mp->arena + mp->used, t, n);
	mp->used += n;
}

/* arena_span - copy S into the arena, NUL-terminated; its offset, or
 * SIZE_MAX for none */
static size_t
arena_span(struct msg_pass *mp, struct span s)
{
	size_t off = mp->used;

	if (s.p == NULL)
		return SIZE_MAX;
	arena_put(mp, s.p, s.n);
	arena_put(mp, "", 1);
	return off;
}

/* arena_shared - S in the arena, as arena_span, or the copy at *LAST if
 * that holds the same text (a message's events repeat its identity and
 * their recipients: equal texts at one address compare at once); *LAST
 * becomes S's offset */
static size_t
arena_shared(struct msg_pass *mp, struct span s, size_t *last)
{
	if (s.p == NULL)
		return SIZE_MAX;
	if (*last != SIZE_MAX && *last + s.n < mp->used && mp->arena[*last + s.n] == '\0' &&
	    memcmp(mp->arena + *last, s.p, s.n) == 0)
		return *last;
	*last = arena_span(mp, s);
	return *last;
}

/* arena_add - copy column I of S into the arena, NUL-terminated; its
 * offset, or SIZE_MAX for NULL */
static size_t
arena_add(struct msg_pass *mp, sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);

	return arena_span(mp, (struct span){t, t != NULL ? (size_t)sqlite3_column_bytes(s, i) : 0});
}

/* arena_add_identity - copy columns I to I + 2 of S (mta, host, queue ID)
 * into the arena as one NUL-terminated text, joined by unit separators (a
 * NULL host as a record separator): the message's exact identity; its
 * offset */
static size_t
arena_add_identity(struct msg_pass *mp, sqlite3_stmt *s, int i)
{
	size_t off = mp->used;

	for (int k = i; k < i + 3; k++) {
		const char *t = (const char *)sqlite3_column_text(s, k);

		if (k > i)
			arena_put(mp, "\x1f", 1);
		if (t == NULL)
			arena_put(mp, "\x1e", 1);
		else
			arena_put(mp, t, (size_t)sqlite3_column_bytes(s, k));
	}
	arena_put(mp, "", 1);
	return off;
}

/* same_text - are A and B the same text (at one address when a pass
 * shares its copy between events: arena_shared)? */
static bool
same_text(const char *a, const char *b)
{
	return a == b || strcmp(a, b) == 0;
}

/* msg_event_cmp - by message, recipient (none first), time (none first), id */
static int
msg_event_cmp(const void *pa, const void *pb)
{
	const struct msg_event *a = pa, *b = pb;
	int c;

	/* texts a pass shares between events (pass_runs) are equal by address */
	if (a->queue != b->queue && (c = strcmp(a->queue, b->queue)) != 0)
		return c;
	if ((a->recipient == NULL) != (b->recipient == NULL))
		return a->recipient == NULL ? -1 : 1;
	if (a->recipient != b->recipient && (c = strcmp(a->recipient, b->recipient)) != 0)
		return c;
	if (a->has_ts != b->has_ts)
		return a->has_ts ? 1 : -1;
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

#define NONE SIZE_MAX

/* index_next - for one recipient's N events EV sorted by time, NEXT[i] :=
 * the first event at or after EV[i]'s time (events of equal time before it
 * included: RUN[i] is the first of them) whose status is in WANT, or NONE;
 * one pass from the end, so a recipient with many events costs linear time */
static void
index_next(const struct msg_event *ev, size_t n, const size_t *run, unsigned want, size_t *next)
{
	size_t cand = NONE;

	for (size_t i = n; i-- > 0;) {
		if (ev[i].has_ts && (want & (1u << ev[i].status)))
			cand = i;
		next[i] = cand;
	}
	for (size_t i = 0; i < n; i++)
		next[i] = next[run[i]];
}

/* within - EV[J] if it is no later than T + WINDOW (WINDOW < 0: no bound) */
static const struct msg_event *
within(const struct msg_event *ev, size_t j, int64_t t, int64_t window)
{
	if (j == NONE || (window >= 0 && ev[j].ts > t + window))
		return NULL;
	return &ev[j];
}

#define WANT(s) (1u << (s))

/* judge_recipient - the findings of one recipient's N events EV of one
 * message, sorted by time; EXPIRIES: the message's expiries logged without
 * a recipient (NEXP of them), which end every recipient's deferrals too.
 * ANONYMOUS: events without a recipient, which match only those. */
static int
judge_recipient(struct msg_pass *mp, struct msg_event *ev, size_t n,
                const struct msg_event *expiries, size_t nexp, bool anonymous)
{
	size_t *run, *sent, *ended;

	if (n > mp->scratch_cap / 3) {
		mp->scratch_cap = 3 * n;
		mp->scratch = xreallocarray(mp->scratch, mp->scratch_cap, sizeof *mp->scratch);
	}
	run = mp->scratch;
	sent = run + n;
	ended = sent + n;
	for (size_t i = 0; i < n; i++)
		run[i] = i > 0 && ev[i].has_ts && ev[i - 1].has_ts && ev[i - 1].ts == ev[i].ts
		             ? run[i - 1]
		             : i;
	/* with no recipient, no other event is the same recipient's */
	index_next(ev, n, run, anonymous ? 0 : WANT(STATUS_SENT), sent);
	index_next(ev, n, run, anonymous ? 0 : WANT(STATUS_EXPIRED) | WANT(STATUS_BOUNCED), ended);
	for (size_t i = 0; i < n; i++) {
		struct msg_event *d = &ev[i];
		const struct msg_event *x, *s;

		if (!d->in_play || !d->has_ts)
			continue;
		/* 4xx-until-expiry: never delivered at or after it; expired or
		 * bounced within the message window */
		if (d->status == STATUS_DEFERRED && d->klass == 4 && sent[i] == NONE) {
			x = within(ev, ended[i], d->ts, MESSAGE_WINDOW);
			for (size_t k = 0; k < nexp; k++) {
				const struct msg_event *q = &expiries[k];

				if (q->has_ts && q->ts >= d->ts &&
				    q->ts <= d->ts + MESSAGE_WINDOW &&
				    (x == NULL || q->ts < x->ts ||
				     (q->ts == x->ts && q->id < x->id)))
					x = q;
			}
			if (x != NULL && store_insert_finding(mp->mis, d->id, "4xx-until-expiry",
			                                      status_name(x->status)) != 0)
				return -1;
		}
		/* 5xx-then-delivered */
		if ((d->status == STATUS_DEFERRED || d->status == STATUS_BOUNCED) &&
		    d->klass == 5 && within(ev, sent[i], d->ts, MESSAGE_WINDOW) != NULL &&
		    store_insert_finding(mp->mis, d->id, "5xx-then-delivered", NULL) != 0)
			return -1;
		/* greylisting by retry: the 4xx deferrals whose first acceptance
		 * within the window is the same form a chain, judged as a whole
		 * when its first deferral is met; they all lie between it and
		 * the acceptance (or share the acceptance's time) */
		if (d->status == STATUS_DEFERRED && d->klass == 4 && !d->chained &&
		    (s = within(ev, sent[i], d->ts, GREYLIST_MAX_DELAY)) != NULL) {
			size_t len = 0;

			for (size_t k = i; k < n && ev[k].ts <= s->ts; k++) {
				struct msg_event *c = &ev[k];

				if (!c->in_play || !c->has_ts || c->status != STATUS_DEFERRED ||
				    c->klass != 4 || c->chained ||
				    within(ev, sent[k], c->ts, GREYLIST_MAX_DELAY) != s)
					continue;
				c->chained = true;
				if (len == mp->chain_cap) {
					mp->chain_cap = mp->chain_cap ? mp->chain_cap * 2 : 16;
					mp->chain = xreallocarray(mp->chain, mp->chain_cap,
					                          sizeof *mp->chain);
				}
				mp->chain[len++] =
				    (struct chain_link){c->id, c->ts, c->other_cause, c->text_grey};
			}
			if (chain_finish(mp->upd, mp->ins, mp->chain, len, s->id, s->ts) != 0)
				return -1;
		}
	}
	return 0;
}

/* sort_events - the N events EV in msg_event_cmp's order: by insertion
 * when they are few (a message's, mostly in order already: qsort's own
 * setup cost more than the sorting), else qsort */
static void
sort_events(struct msg_event *ev, size_t n)
{
	if (n > 16) {
		qsort(ev, n, sizeof *ev, msg_event_cmp);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		struct msg_event e = ev[i];
		size_t j = i;

		while (j > 0 && msg_event_cmp(&ev[j - 1], &e) > 0) {
			ev[j] = ev[j - 1];
			j--;
		}
		ev[j] = e;
	}
}

/* judge_message - the findings of the failures in play of the messages
 * loaded (grouped here by their exact identity: mta, host, queue ID) */
static int
judge_message(struct msg_pass *mp)
{
	size_t a = 0;

	/* The events of one key are one message, or a few whose keys collide:
	 * sorting each group alone, not the whole load, compares a sixth as
	 * often (6.5 events a message against a load of 26,000). */
	for (size_t g = 0; g < mp->n;) {
		size_t h = g + 1;

		while (h < mp->n && mp->ev[h].key == mp->ev[g].key)
			h++;
		sort_events(mp->ev + g, h - g);
		g = h;
	}
	while (a < mp->n) {
		size_t q = a, nexp = 0, b;

		/* one message: [a, q); its recipient-less events come first */
		while (q < mp->n && same_text(mp->ev[q].queue, mp->ev[a].queue))
			q++;
		b = a;
		while (b < q && mp->ev[b].recipient == NULL) {
			b++;
		}
		/* the expiries without a recipient, in [a, b) */
		for (size_t k = a; k < b; k++)
			if (mp->ev[k].status == STATUS_EXPIRED)
				nexp++;
		{
			struct msg_event *exp = xcalloc(nexp ? nexp : 1, sizeof *exp);
			size_t e = 0;
			int rc = 0;

			for (size_t k = a; k < b; k++)
				if (mp->ev[k].status == STATUS_EXPIRED)
					exp[e++] = mp->ev[k];
			/* recipient-less deferrals: only the expiry can judge them */
			rc = judge_recipient(mp, mp->ev + a, b - a, exp, nexp, true);
			for (size_t r = b; rc == 0 && r < q;) {
				size_t end = r + 1;

				while (end < q &&
				       same_text(mp->ev[end].recipient, mp->ev[r].recipient))
					end++;
				rc = judge_recipient(mp, mp->ev + r, end - r, exp, nexp, false);
				r = end;
			}
			free(exp);
			if (rc != 0)
				return -1;
		}
		a = q;
	}
	return 0;
}

/* message_done - judge the messages loaded, and start the next load */
static int
message_done(struct msg_pass *mp)
{
	int rc;

	/* the arena may have moved while it grew: offsets become pointers */
	for (size_t i = 0; i < mp->n; i++) {
		struct msg_event *e = &mp->ev[i];

		e->queue = mp->arena + (size_t)(uintptr_t)e->queue;
		e->recipient = (uintptr_t)e->recipient == SIZE_MAX
		                   ? NULL
		                   : mp->arena + (size_t)(uintptr_t)e->recipient;
	}
	rc = judge_message(mp);
	mp->n = 0;
	mp->used = 0;
	return rc;
}

/* new_event - a new event at the end of the messages loaded, not yet
 * judged in a chain */
static struct msg_event *
new_event(struct msg_pass *mp)
{
	struct msg_event *e;

	if (mp->n == mp->cap) {
		mp->cap = mp->cap ? mp->cap * 2 : 64;
		mp->ev = xreallocarray(mp->ev, mp->cap, sizeof *mp->ev);
	}
	e = &mp->ev[mp->n++];
	e->chained = false;
	e->key = 0;
	return e;
}

/* load_event - append the event of row S (LOAD_COLUMNS) to the messages
 * loaded */
static void
load_event(struct msg_pass *mp, sqlite3_stmt *s)
{
	struct msg_event *e = new_event(mp);
	const char *st = (const char *)sqlite3_column_text(s, 2);

	e->id = sqlite3_column_int64(s, 0);
	e->has_ts = sqlite3_column_type(s, 1) != SQLITE_NULL;
	e->ts = sqlite3_column_int64(s, 1);
	e->status = status_parse(st, st != NULL ? strlen(st) : 0);
	e->klass = sqlite3_column_type(s, 3) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 3);
	/* offsets into the arena, made pointers by message_done() */
	e->recipient = (const char *)(uintptr_t)arena_add(mp, s, 4);
	e->queue = (const char *)(uintptr_t)arena_add_identity(mp, s, 5);
	/* Every message loaded has a failure in play, so it has an event newer
	 * than the last analysis (select_in_play), and all its failures are
	 * in play: in_play is status <> 'sent'. */
	e->in_play = e->status != STATUS_SENT;
	e->other_cause = sqlite3_column_int(s, 8) != 0;
	e->text_grey = sqlite3_column_int(s, 9) != 0;
}

/* An event's columns as the passes read them; what a 4xx deferral's
 * response and greylisting by text tell is read with it (a chain of retries
 * needs them), not looked up by id later, away from the pages being read. */
#define DEFERRAL_4XX "e.status = 'deferred' AND e.class = 4"
#define LOAD_COLUMNS                                                                               \
	"e.id, e.ts_epoch, e.status, e.class, e.recipient, e.mta, e.host, e.queue_id,"             \
	" CASE WHEN " DEFERRAL_4XX " THEN smtplog_other_cause(e.response) END,"                    \
	" CASE WHEN " DEFERRAL_4XX " THEN EXISTS (SELECT 1 FROM greylisting g"                     \
	" WHERE g.event_id = e.id AND g.basis = 'text') END"

/* Messages are judged MESSAGES_PER_LOAD at a time. */
#define MESSAGES_PER_LOAD 4096

/*
 * A first analysis (every failure in play) reads the table once, in order,
 * for the events of the messages that may have failed, and sorts them by
 * message: no message index is needed (a first load builds none:
 * store_message_index).  Which messages may have failed is a Bloom
 * filter over their keys, from events_failure_messages: two bits in one
 * 64-bit word per key, 8 bits per failure, up to 2 MiB.  It is small enough
 * to stay in the processor's cache (one bit per key in a bitmap four times
 * larger cost 0.1 s more on 1 GB of Postfix, in cache misses).  A message
 * that did not fail but passes is read and judged, and finds nothing: it
 * has no failure.
 */
struct key_filter {
	uint64_t *w;
	unsigned shift; /* 64 - log2(words) */
};

/* key_mask - the two bits of KEY in its word, whose index is *WORD */
static uint64_t
key_mask(const struct key_filter *kf, int64_t key, size_t *word)
{
	uint64_t h = (uint64_t)key * 0x9e3779b97f4a7c15ULL;

	*word = (size_t)(h >> kf->shift);
	return (UINT64_C(1) << (h & 63)) | (UINT64_C(1) << ((h >> 6) & 63));
}

/* smtplog_may_fail(message_key): whether the key passes the filter */
static void
sql_may_fail(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct key_filter *kf = sqlite3_user_data(ctx);
	uint64_t m;
	size_t w;

	(void)argc;
	if (sqlite3_value_type(argv[0]) != SQLITE_INTEGER) {
		sqlite3_result_int(ctx, 0);
		return;
	}
	m = key_mask(kf, sqlite3_value_int64(argv[0]), &w);
	sqlite3_result_int(ctx, (kf->w[w] & m) == m);
}

/* the filter's largest size: 2^18 words (2 MiB) */
#define KEY_WORDS_MAX_LOG2 18

/* cache_size - set DB's page cache to SIZE (PRAGMA cache_size); the size
 * it had, or 0 when it cannot be read */
static int64_t
cache_size(sqlite3 *db, int64_t size)
{
	sqlite3_stmt *s;
	int64_t old = 0;
	char sql[48];

	if (sqlite3_prepare_v2(db, "PRAGMA cache_size", -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			old = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	}
	snprintf(sql, sizeof sql, "PRAGMA cache_size=%lld", (long long)size);
	(void)sqlite3_exec(db, sql, NULL, NULL, NULL);
	return old;
}

/* pass_all_messages - a first analysis: each message with a failure, read
 * in one pass over the table, judged MESSAGES_PER_LOAD messages at a time */
static int
pass_all_messages(struct msg_pass *mp, char **cause)
{
	sqlite3 *db = mp->db;
	struct key_filter kf = {NULL, 0};
	sqlite3_stmt *count = NULL, *keys = NULL, *scan = NULL;
	int64_t nfail = 0, key = 0, cache = 0;
	size_t nmsg = 0;
	unsigned log2 = 1;
	int rc = -1, step;

	if (sqlite3_prepare_v2(db,
	                       "SELECT count(*) FROM events INDEXED BY events_failure_messages"
	                       " WHERE status <> 'sent'",
	                       -1, &count, NULL) != SQLITE_OK ||
	    sqlite3_step(count) != SQLITE_ROW)
		goto out;
	nfail = sqlite3_column_int64(count, 0);
	/* 8 bits per failure: 16 to 24 per message where most messages that
	 * fail fail more than once (a deferral and its bounce, retries); 5%
	 * pass where each fails once */
	while (log2 < KEY_WORDS_MAX_LOG2 && (UINT64_C(1) << log2) * 8 < (uint64_t)nfail)
		log2++;
	kf.shift = 64 - log2;
	kf.w = xcalloc((size_t)1 << log2, sizeof *kf.w);
	if (sqlite3_prepare_v2(db,
	                       "SELECT message_key FROM events INDEXED BY events_failure_messages"
	                       " WHERE status <> 'sent' AND message_key IS NOT NULL",
	                       -1, &keys, NULL) != SQLITE_OK)
		goto out;
	while ((step = sqlite3_step(keys)) == SQLITE_ROW) {
		size_t w;
		uint64_t m = key_mask(&kf, sqlite3_column_int64(keys, 0), &w);

		kf.w[w] |= m;
	}
	/* by message key alone: judge_message puts each message's events in
	 * order (by id last), so the sorter compares one integer, not two
	 * (Sendmail bounce-heavy, 100 MB: analysis 0.358 -> 0.343 s) */
	if (step != SQLITE_DONE ||
	    sqlite3_create_function(db, "smtplog_may_fail", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, &kf,
	                            sql_may_fail, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	                       "SELECT " LOAD_COLUMNS ", e.message_key FROM events e NOT INDEXED"
	                       " WHERE smtplog_may_fail(e.message_key)"
	                       " ORDER BY e.message_key",
	                       -1, &scan, NULL) != SQLITE_OK)
		goto out;
	/* SQLite's sorter keeps runs of cache_size bytes in memory: 2 MiB
	 * runs sort as fast (the scan needs no cache), and the peak memory of
	 * 1 GB of Postfix is 38 MiB instead of 50 */
	cache = cache_size(db, -2048);
	while ((step = sqlite3_step(scan)) == SQLITE_ROW) {
		int64_t k = sqlite3_column_int64(scan, 10);

		/* a load ends between two messages */
		if (mp->n == 0 || k != key) {
			if (nmsg == MESSAGES_PER_LOAD) {
				if (message_done(mp) != 0)
					goto out;
				nmsg = 0;
			}
			key = k;
			nmsg++;
		}
		load_event(mp, scan);
		mp->ev[mp->n - 1].key = k;
	}
	if (step == SQLITE_DONE && (mp->n == 0 || message_done(mp) == 0))
		rc = 0;
out:
	if (rc != 0)
		set_cause(cause, "analysis: %s", sqlite3_errmsg(db));
	sqlite3_finalize(count);
	sqlite3_finalize(keys);
	sqlite3_finalize(scan);
	if (cache != 0)
		(void)cache_size(db, cache);
	/* the function points at kf: gone with it */
	sqlite3_create_function(db, "smtplog_may_fail", 1, SQLITE_UTF8, NULL, NULL, NULL, NULL);
	free(kf.w);
	return rc;
}

/* pass_runs - a first analysis of a load into an empty table: the load's
 * own records (store_take_message_runs), merged in message key order, the
 * same events in the same order as pass_all_messages reads them, without
 * reading the table back or sorting it.  A key none of whose events failed
 * is left out (pass_all_messages' filter lets a few through, to find
 * nothing).  1 when the records could not be read (the temporary file
 * failed): nothing found is kept, and the table is to be read instead. */
static int
pass_runs(struct msg_pass *mp, struct msg_runs *runs, char **cause)
{
	struct msg_rec r;
	int64_t key = 0;
	size_t nmsg = 0, group = 0, group_used = 0;
	size_t last_recipient = SIZE_MAX, last_identity = SIZE_MAX; /* arena_shared */
	bool group_failed = false, any = false;
	int got;

	if (!msg_runs_start(runs))
		return 1;
	while ((got = msg_runs_next(runs, &r)) == 1) {
		struct msg_event *e;

		if (!any || r.key != key) {
			/* the message before ends: kept if it failed */
			if (any && !group_failed) {
				mp->n = group;
				mp->used = group_used;
				nmsg--;
			}
			if (nmsg == MESSAGES_PER_LOAD) {
				if (message_done(mp) != 0)
					return -1;
				nmsg = 0;
			}
			key = r.key;
			any = true;
			group = mp->n;
			group_used = mp->used;
			group_failed = false;
			last_recipient = last_identity = SIZE_MAX;
			nmsg++;
		}
		e = new_event(mp);
		e->id = r.id;
		e->has_ts = r.has_ts;
		e->ts = r.has_ts ? r.ts : 0;
		e->status = r.status;
		e->klass = r.klass;
		e->recipient =
		    (const char *)(uintptr_t)arena_shared(mp, r.recipient, &last_recipient);
		e->queue = (const char *)(uintptr_t)arena_shared(mp, r.identity, &last_identity);
		e->in_play = e->status != STATUS_SENT;
		e->other_cause = r.other_cause;
		e->text_grey = r.text_grey;
		e->key = r.key;
		group_failed |= e->in_play;
	}
	if (got < 0) {
		/* what was judged is forgotten: the table is read instead */
		mp->n = mp->used = 0;
		return run(mp->db, "DELETE FROM temp.found_grey", 0, cause) != 0 ||
		               run(mp->db, "DELETE FROM temp.found_mis", 0, cause) != 0
		           ? -1
		           : 1;
	}
	if (any && !group_failed) {
		mp->n = group;
		mp->used = group_used;
	}
	return mp->n == 0 || message_done(mp) == 0 ? 0 : -1;
}

/* pass_messages_in_play - a later analysis: the messages of temp.in_play's
 * failures, found through the message index, MESSAGES_PER_LOAD at a time:
 * their events' ids from the index, then the rows in id order, so that each
 * page of the table is read once per load rather than once per message (the
 * events of messages whose first failures are near are near each other) */
static int
pass_messages_in_play(struct msg_pass *mp, char **cause)
{
	sqlite3 *db = mp->db;
	sqlite3_stmt *count = NULL, *load = NULL;
	int64_t nkeys = 0;
	int rc = -1, step;

	/* clang-format off */
	if (run(db, "DROP TABLE IF EXISTS temp.msg_keys", 0, cause) != 0 ||
	    run(db, "CREATE TEMP TABLE msg_keys(n INTEGER PRIMARY KEY, key INTEGER)", 0,
	        cause) != 0 ||
	    run(db, "INSERT INTO temp.msg_keys(key) SELECT message_key FROM temp.in_play"
	        " WHERE message_key IS NOT NULL GROUP BY message_key ORDER BY min(id)",
	        0, cause) != 0)
		return -1;
	if (sqlite3_prepare_v2(db, "SELECT max(n) FROM temp.msg_keys", -1, &count, NULL) !=
	        SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	    "SELECT " LOAD_COLUMNS " FROM events e"
	    " WHERE e.id IN (SELECT d.id FROM temp.msg_keys k CROSS JOIN events d"
	    "   ON d.message_key = k.key WHERE k.n BETWEEN ?1 AND ?2)"
	    " ORDER BY e.id",
	    -1, &load, NULL) != SQLITE_OK)
		goto out;
	/* clang-format on */
	if (sqlite3_step(count) == SQLITE_ROW)
		nkeys = sqlite3_column_int64(count, 0);
	for (int64_t first = 1; first <= nkeys; first += MESSAGES_PER_LOAD) {
		sqlite3_reset(load);
		sqlite3_bind_int64(load, 1, first);
		sqlite3_bind_int64(load, 2, first + MESSAGES_PER_LOAD - 1);
		while ((step = sqlite3_step(load)) == SQLITE_ROW)
			load_event(mp, load);
		sqlite3_reset(load);
		if (step != SQLITE_DONE || (mp->n > 0 && message_done(mp) != 0))
			goto out;
	}
	rc = 0;
out:
	if (rc != 0 && cause != NULL && *cause == NULL)
		set_cause(cause, "analysis: %s", sqlite3_errmsg(db));
	sqlite3_finalize(count);
	sqlite3_finalize(load);
	return rc;
}

/* smtplog_other_cause(response): whether a deferral's response names
 * another cause than greylisting (patterns/signatures.pat) */
static void
sql_other_cause(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *text = (const char *)sqlite3_value_text(argv[0]);

	(void)argc;
	sqlite3_result_int(
	    ctx, text != NULL && patterns_signature(sqlite3_user_data(ctx), "other-cause", text,
	                                            (size_t)sqlite3_value_bytes(argv[0])) != NULL);
}

/* pass_messages - judge each message with a failure in play, with all its
 * events, into temp.found_grey and temp.found_mis (flush_findings writes
 * them to the database) */
static int
pass_messages(sqlite3 *db, struct patterns *pats, int64_t after, struct msg_runs *runs,
              char **cause)
{
	struct msg_pass mp = {.db = db, .pats = pats};
	int rc = -1;

	/* clang-format off */
	if (run(db, "DROP TABLE IF EXISTS temp.found_grey", 0, cause) != 0 ||
	    run(db, "DROP TABLE IF EXISTS temp.found_mis", 0, cause) != 0 ||
	    /* retry: 1 for a greylisting by retry, 0 for what the retry adds
	     * to a greylisting by text */
	    run(db, "CREATE TEMP TABLE found_grey(event_id INTEGER PRIMARY KEY,"
	        " retry INTEGER, accepted_event_id INTEGER, delay INTEGER)", 0, cause) != 0 ||
	    run(db, "CREATE TEMP TABLE found_mis(event_id INTEGER, rule TEXT, detail TEXT)",
	        0, cause) != 0)
		return -1;
	if (sqlite3_create_function(db, "smtplog_other_cause", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY,
	    pats, sql_other_cause, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	    "INSERT OR REPLACE INTO temp.found_grey VALUES (?1, 0, ?2, ?3)",
	    -1, &mp.upd, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	    "INSERT OR IGNORE INTO temp.found_grey VALUES (?1, 1, ?2, ?3)",
	    -1, &mp.ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	    "INSERT INTO temp.found_mis VALUES (?1, ?2, ?3)",
	    -1, &mp.mis, NULL) != SQLITE_OK)
		goto db_error;
	/* clang-format on */
	if (after > 0)
		rc = pass_messages_in_play(&mp, cause);
	else if (runs == NULL || (rc = pass_runs(&mp, runs, cause)) == 1)
		rc = pass_all_messages(&mp, cause);
	goto out;
db_error:
	set_cause(cause, "analysis: %s", sqlite3_errmsg(db));
out:
	free(mp.ev);
	free(mp.arena);
	free(mp.chain);
	free(mp.scratch);
	sqlite3_create_function(db, "smtplog_other_cause", 1, SQLITE_UTF8, NULL, NULL, NULL, NULL);
	sqlite3_finalize(mp.upd);
	sqlite3_finalize(mp.ins);
	sqlite3_finalize(mp.mis);
	return rc;
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
analyze_prepare(struct store *st, char **cause)
{
	int64_t after_id = analyzed_through(store_db(st));

	/* a first analysis (after_id 0) reads the table without the index */
	if (after_id == 0 || store_max_event_id(st) <= after_id)
		return 0;
	return store_message_index(st, cause);
}

int
analyze_events(struct store *st, struct patterns *pats, char **cause)
{
	sqlite3 *db = store_db(st);
	int64_t after_id = analyzed_through(db), last_id = store_max_event_id(st);
	struct timespec t[4];
	struct msg_runs *runs;
	int passed;

	if (last_id <= after_id)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t[0]);
	/* read one snapshot (the report reads beside it), writing the
	 * findings to temp tables; then write them in one transaction, with
	 * the mark */
	if (store_read_begin(st, cause) != 0)
		return -1;
	if (select_in_play(db, after_id, cause) != 0)
		goto read_error;
	clock_gettime(CLOCK_MONOTONIC, &t[1]);
	runs = after_id == 0 && !diag_env_set("SMTPLOG_READ_BACK") ? store_take_message_runs(st)
	                                                           : NULL;
	passed = pass_messages(db, pats, after_id, runs, cause);
	msg_runs_free(runs);
	if (passed != 0)
		goto read_error;
	if (store_read_end(st, cause) != 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t[2]);
	if (store_begin(st, cause) != 0 || flush_findings(db, after_id, cause) != 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t[3]);
	{
		static const char *const names[] = {"in play", "messages", "findings"};

		for (int i = 0; i < 3; i++)
			diag_timing(names[i], diag_seconds(&t[i], &t[i + 1]));
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
read_error:
	(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
