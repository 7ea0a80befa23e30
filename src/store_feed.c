/*
 * store_feed.c - smtplog_event_feed, the virtual table one INSERT reads a
 * batch of events from (see store_feed.h for what it owns and why).
 *
 * An eponymous virtual table: it needs no CREATE VIRTUAL TABLE, leaves
 * nothing in the database file, and exists on the store's connection only.
 * Its one scan walks the batch in order; each column is the value that
 * store.c used to bind, taken straight from the event's spans (no copy).
 */
#include "config.h"

#include "store_feed.h"

#include "diag.h"
#include "envelope.h"

#include <stdlib.h>
#include <string.h>

/* the columns, in STORE_FEED_COLUMNS' order */
enum feed_column {
	FC_ID,
	FC_SOURCE_ID,
	FC_LINE_NO,
	FC_TS,
	FC_TS_EPOCH,
	FC_HOST,
	FC_MTA,
	FC_PROGRAM,
	FC_QUEUE_ID,
	FC_STATUS,
	FC_SENDER,
	FC_RECIPIENT,
	FC_RECIPIENT_DOMAIN,
	FC_ORIG_RECIPIENT,
	FC_RELAY,
	FC_CLIENT,
	FC_REPLY_CODE,
	FC_ENHANCED_CODE,
	FC_DSN,
	FC_CLASS,
	FC_SUBJECT,
	FC_DETAIL,
	FC_RESPONSE,
	FC_REASON,
	FC_RULE,
	FC_ENHANCED_SOURCE,
	FC_MESSAGE_KEY,
	FC_REASON_KEY,
};

struct feed_vtab {
	sqlite3_vtab base;
	struct store_feed *feed;
};

struct feed_cursor {
	sqlite3_vtab_cursor base;
	size_t i;
};

static int
feed_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **vtab,
             char **err)
{
	struct feed_vtab *v;
	int rc;

	(void)argc;
	(void)argv;
	(void)err;
	rc = sqlite3_declare_vtab(db, "CREATE TABLE x(" STORE_FEED_COLUMNS ")");
	if (rc != SQLITE_OK)
		return rc;
	/* not from a view or trigger: a database file cannot make us read it */
	sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
	v = sqlite3_malloc(sizeof *v);
	if (v == NULL)
		return SQLITE_NOMEM;
	memset(v, 0, sizeof *v);
	v->feed = aux;
	*vtab = &v->base;
	return SQLITE_OK;
}

static int
feed_disconnect(sqlite3_vtab *vtab)
{
	sqlite3_free(vtab);
	return SQLITE_OK;
}

static int
feed_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info)
{
	(void)vtab;
	info->estimatedCost = 1;
	return SQLITE_OK;
}

static int
feed_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **cursor)
{
	struct feed_cursor *c = sqlite3_malloc(sizeof *c);

	(void)vtab;
	if (c == NULL)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof *c);
	*cursor = &c->base;
	return SQLITE_OK;
}

static int
feed_close(sqlite3_vtab_cursor *cursor)
{
	sqlite3_free(cursor);
	return SQLITE_OK;
}

static int
feed_filter(sqlite3_vtab_cursor *cursor, int idx, const char *idx_str, int argc,
            sqlite3_value **argv)
{
	(void)idx;
	(void)idx_str;
	(void)argc;
	(void)argv;
	((struct feed_cursor *)cursor)->i = 0;
	return SQLITE_OK;
}

static int
feed_next(sqlite3_vtab_cursor *cursor)
{
	((struct feed_cursor *)cursor)->i++;
	return SQLITE_OK;
}

static int
feed_eof(sqlite3_vtab_cursor *cursor)
{
	struct feed_vtab *v = (struct feed_vtab *)cursor->pVtab;

	return ((struct feed_cursor *)cursor)->i >= v->feed->n;
}

static void
result_span(sqlite3_context *ctx, struct span s)
{
	if (s.p == NULL)
		sqlite3_result_null(ctx);
	else
		sqlite3_result_text(ctx, s.p, (int)s.n, SQLITE_STATIC);
}

static void
result_opt_text(sqlite3_context *ctx, const char *t, size_t n)
{
	if (n == 0)
		sqlite3_result_null(ctx);
	else
		sqlite3_result_text(ctx, t, (int)n, SQLITE_STATIC);
}

static void
result_opt_int(sqlite3_context *ctx, int v, int none)
{
	if (v == none)
		sqlite3_result_null(ctx);
	else
		sqlite3_result_int(ctx, v);
}

static int
feed_column(sqlite3_vtab_cursor *cursor, sqlite3_context *ctx, int col)
{
	const struct store_feed *f = ((struct feed_vtab *)cursor->pVtab)->feed;
	size_t i = ((struct feed_cursor *)cursor)->i;
	const struct store_event *r = &f->rows[i];
	const struct event *ev = &r->ev;
	const struct feed_row *d = &f->derived[i];

	switch ((enum feed_column)col) {
	case FC_ID:
		/* NULL: SQLite appends the row after the table's last
		 * (cheaper than a given id, which it looks up first); the
		 * store checks which ids the rows got */
		sqlite3_result_null(ctx);
		break;
	case FC_SOURCE_ID:
		sqlite3_result_int64(ctx, f->source_id);
		break;
	case FC_LINE_NO:
		sqlite3_result_int64(ctx, (sqlite3_int64)r->line_no);
		break;
	case FC_TS:
		result_opt_text(ctx, d->ts, strlen(d->ts));
		break;
	case FC_TS_EPOCH:
		if (d->ts[0] == '\0')
			sqlite3_result_null(ctx);
		else
			sqlite3_result_int64(ctx, d->epoch);
		break;
	case FC_HOST:
		result_span(ctx, r->env.host);
		break;
	case FC_MTA:
		sqlite3_result_text(ctx, mta_name(ev->mta), -1, SQLITE_STATIC);
		break;
	case FC_PROGRAM:
		result_span(ctx, r->env.program);
		break;
	case FC_QUEUE_ID:
		result_span(ctx, ev->queue_id);
		break;
	case FC_STATUS:
		sqlite3_result_text(ctx, status_name(ev->status), -1, SQLITE_STATIC);
		break;
	case FC_SENDER:
		result_span(ctx, ev->sender);
		break;
	case FC_RECIPIENT:
		result_span(ctx, ev->recipient);
		break;
	case FC_RECIPIENT_DOMAIN:
		result_opt_text(ctx, d->domain, d->domain_len);
		break;
	case FC_ORIG_RECIPIENT:
		result_span(ctx, ev->orig_recipient);
		break;
	case FC_RELAY:
		result_span(ctx, ev->relay);
		break;
	case FC_CLIENT:
		result_span(ctx, ev->client);
		break;
	case FC_REPLY_CODE:
		result_opt_int(ctx, ev->reply_code, 0);
		break;
	case FC_ENHANCED_CODE:
		result_opt_text(ctx, ev->enhanced_code, strlen(ev->enhanced_code));
		break;
	case FC_DSN:
		result_opt_text(ctx, ev->dsn, strlen(ev->dsn));
		break;
	case FC_CLASS:
		result_opt_int(ctx, ev->class_code, -1);
		break;
	case FC_SUBJECT:
		result_opt_int(ctx, ev->subject, -1);
		break;
	case FC_DETAIL:
		result_opt_int(ctx, ev->detail, -1);
		break;
	case FC_RESPONSE:
		result_span(ctx, ev->response);
		break;
	case FC_REASON:
		result_opt_text(ctx, ev->reason, strlen(ev->reason));
		break;
	case FC_RULE:
		sqlite3_result_text(ctx, ev->rule, -1, SQLITE_STATIC);
		break;
	case FC_ENHANCED_SOURCE:
		if (ev->enhanced_code[0] == '\0')
			sqlite3_result_null(ctx);
		else
			sqlite3_result_text(ctx, ev->enhanced_from_dsn ? "dsn" : "reply", -1,
			                    SQLITE_STATIC);
		break;
	case FC_MESSAGE_KEY:
		if (span_is_set(ev->queue_id))
			sqlite3_result_int64(ctx, d->message_key);
		else
			sqlite3_result_null(ctx);
		break;
	case FC_REASON_KEY:
		if (ev->reason[0] != '\0')
			sqlite3_result_int64(ctx, d->reason_key);
		else
			sqlite3_result_null(ctx);
		break;
	default:
		sqlite3_result_null(ctx);
		break;
	}
	return SQLITE_OK;
}

static int
feed_rowid(sqlite3_vtab_cursor *cursor, sqlite3_int64 *rowid)
{
	*rowid = (sqlite3_int64)((struct feed_cursor *)cursor)->i;
	return SQLITE_OK;
}

/* eponymous only: no xCreate, so no CREATE VIRTUAL TABLE can name it */
static const sqlite3_module feed_module = {
    .iVersion = 0,
    .xConnect = feed_connect,
    .xBestIndex = feed_best_index,
    .xDisconnect = feed_disconnect,
    .xOpen = feed_open,
    .xClose = feed_close,
    .xFilter = feed_filter,
    .xNext = feed_next,
    .xEof = feed_eof,
    .xColumn = feed_column,
    .xRowid = feed_rowid,
};

int
store_feed_register(sqlite3 *db, struct store_feed *feed)
{
	return sqlite3_create_module(db, "smtplog_event_feed", &feed_module, feed);
}

/* recipient_domain - the lower-case domain of EV's recipient into D (Exim
 * local deliveries log "user <user@domain>": then the original
 * recipient's) */
static void
recipient_domain(const struct event *ev, struct feed_row *d)
{
	struct span r = ev->recipient;
	const char *at = span_is_set(r) ? memrchr(r.p, '@', r.n) : NULL;

	d->domain_len = 0;
	if (at == NULL && span_is_set(ev->orig_recipient)) {
		r = ev->orig_recipient;
		at = memrchr(r.p, '@', r.n);
	}
	if (at == NULL)
		return;
	for (const char *c = at + 1, *e = r.p + r.n; c < e && d->domain_len < sizeof d->domain - 1;
	     c++)
		d->domain[d->domain_len++] = (*c >= 'A' && *c <= 'Z') ? (char)(*c + 32) : *c;
}

/* reason_key - store_text_key() of the reason P (N bytes), from the memo
 * when it holds P */
static int64_t
reason_key(struct store_feed *feed, const char *p, size_t n)
{
	uint64_t h = hash_words(0, p, n) | 1; /* 0 marks an empty slot */
	struct reason_memo *m;

	if (n > REASON_MAX)
		return store_text_key(p, n);
	if (feed->memo == NULL)
		feed->memo = xcalloc(REASON_MEMO_SLOTS, sizeof *feed->memo);
	/* the slot from the bits above the one set for emptiness */
	m = &feed->memo[(h >> 1) % REASON_MEMO_SLOTS];
	if (m->hash == h && m->len == n && memcmp(m->text, p, n) == 0)
		return m->key;
	m->hash = h;
	m->key = store_text_key(p, n);
	m->len = n;
	memcpy(m->text, p, n);
	return m->key;
}

void
store_feed_load(struct store_feed *feed, int64_t source_id, const struct store_event *rows,
                size_t n)
{
	if (n > feed->cap) {
		feed->cap = n;
		feed->derived = xreallocarray(feed->derived, n, sizeof *feed->derived);
	}
	feed->rows = rows;
	feed->n = n;
	feed->source_id = source_id;
	for (size_t i = 0; i < n; i++) {
		struct feed_row *d = &feed->derived[i];

		envelope_format_ts(&rows[i].env.ts, d->ts, sizeof d->ts);
		d->epoch = d->ts[0] != '\0' ? envelope_ts_epoch(&rows[i].env.ts) : 0;
		recipient_domain(&rows[i].ev, d);
		d->message_key = span_is_set(rows[i].ev.queue_id)
		                     ? store_message_key(mta_name(rows[i].ev.mta), rows[i].env.host,
		                                         rows[i].ev.queue_id)
		                     : 0;
		d->reason_key = rows[i].ev.reason[0] != '\0'
		                    ? reason_key(feed, rows[i].ev.reason, strlen(rows[i].ev.reason))
		                    : 0;
	}
}

void
store_feed_free(struct store_feed *feed)
{
	free(feed->derived);
	feed->derived = NULL;
	feed->cap = 0;
	free(feed->memo);
	feed->memo = NULL;
}
