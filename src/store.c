/*
 * store.c - the SQLite database: schema, sources, events.
 *
 * The schema lives in one place (schema_sql) with PRAGMA user_version as its
 * version.  Events are inserted inside a transaction that stays open until
 * store_checkpoint() writes the source's offset and commits, so the offset
 * and the rows it covers land together or not at all.  The database is in
 * WAL mode, except during a first load into an empty one
 * (store_bulk_begin .. store_bulk_end), written through a rollback journal
 * (a database this run creates starts in that mode, and skips the switch),
 * without the message index, which the first run that needs it builds
 * (store_message_index).  Such a load also keeps, as the writer stores
 * each event, its record for the analysis (msg_runs.c) and its failures
 * counted for the report (report_agg.c), handed over while they match the
 * table's rows (store_take_message_runs, store_take_counts).
 */
#include "config.h"

#include "store.h"

#include "diag.h"
#include "store_feed.h"
#include "codes.h"
#include "msg_runs.h"
#include "report_agg.h"
#include "envelope.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * Tallies are added up in memory and written at each checkpoint, in the
 * transaction of the events they count: one upsert per distinct key rather
 * than one per event.  The keys' text lives in a small arena; the table is
 * flushed early when either fills, so memory stays bounded.
 */
#define TALLY_SLOTS 4096 /* a power of two; flushed at three quarters */
#define TALLY_ARENA (256 * 1024)

struct tally {
	uint64_t hash;
	int64_t source_id, period, events;
	enum mta mta;
	enum status status;
	uint32_t domain, domain_len, relay, relay_len; /* in the arena */
	char first_ts[48], last_ts[48];                /* as envelope_format_ts writes them */
};

struct tally_cache {
	struct tally *slot; /* hash == 0: empty */
	size_t used;
	char *arena;
	size_t arena_used;
};

/*
 * The writing thread is the ingest's bottleneck on failure-heavy logs, so
 * it does not wait for the disk where another thread can, on a thread of
 * its own (the flusher):
 * - in WAL mode, checkpoints (copying the WAL back into the database file,
 *   and the fsyncs that go with it), through a second connection: a
 *   passive checkpoint neither blocks the writer nor waits for it.  The
 *   WAL hook wakes the flusher once the WAL holds CHECKPOINT_PAGES pages.
 * - during a bulk load (a rollback journal, store_bulk_begin), each commit
 *   syncs the database file, and that sync waits for all it grew by since
 *   the last one: on ext4 here 0.5-0.8 ms a MB even when the pages are
 *   already written (the blocks' allocation is committed with it), 50-60 ms
 *   a commit on 100 MB of bounce-heavy Exim.  The flusher syncs the file
 *   each time it grew by SYNC_BYTES, through SQLite's own descriptor of it
 *   (found by its device and inode: opening and closing another would drop
 *   SQLite's locks), so that a commit's own sync finds little left.
 */
#define CHECKPOINT_PAGES 1000
#define SYNC_BYTES       (4 * 1024 * 1024)

/* the page cache of the writing connection: 4 MiB.  The load appends, so
 * only the right edge of each B-tree is hot; 16 MiB only cost page faults
 * (about 10 us each in a VM: 100 MB of Postfix 0.412 -> 0.384 s) */
#define STORE_CACHE_SIZE "-4096"
struct flusher {
	bool running;
	sqlite3 *db; /* WAL mode: its own connection, checkpointing */
	int fd;      /* a bulk load: SQLite's descriptor of the database file */
	dev_t dev;   /* ... which must still be this file */
	ino_t ino;
	off_t synced;   /* the file's size when a sync was last asked for */
	unsigned syncs; /* made, and the seconds they took (SMTPLOG_TIMING) */
	double sync_seconds;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool pending, closing;
};

struct store {
	sqlite3 *db;
	char *path;
	bool in_tx;
	bool bulk; /* in rollback-journal mode for a bulk load: store_bulk_begin */
	struct flusher flusher;
	struct store_feed feed;      /* the batch insert_events reads */
	sqlite3_stmt *insert_events; /* INSERT INTO events ... SELECT FROM the feed */
	sqlite3_stmt *max_event_id;
	sqlite3_stmt *insert_greylisting, *insert_miscategorized; /* an event's text findings */
	sqlite3_stmt *tally_event;
	struct tally_cache tallies;
	sqlite3_stmt *update_source;
	/* a load into an empty table: its events for a first analysis
	 * (store_take_message_runs) and its failures counted for the report
	 * (store_take_counts), while they match the rows; the id the next row
	 * must get */
	struct msg_runs *runs;
	struct report_agg *counts;
	int64_t load_next_id;
};

/* The indexes on events.  The failures, a small share of the events, are
 * found without scanning the deliveries, with their message keys (a first
 * analysis reads which messages failed from this index alone).  It is
 * kept up to date as rows come: cheap, as its keys arrive in order (source,
 * then id: the id before the message key keeps the inserts appends). */
#define FAILURE_INDEX                                                                              \
	"CREATE INDEX IF NOT EXISTS events_failure_messages ON events(source_id, id, message_key)" \
	" WHERE status <> 'sent';\n"
/* A later analysis finds the events of the messages in play by message_key
 * (store_message_index).  The index is built when one first needs it, not
 * after a first load: a first analysis reads the table once without it, and
 * building it (a sort of every event's random 64-bit key) was the longest
 * task after a load, 0.83-0.87 s of 2.5 s on 1 GB of Postfix, with the
 * analysis and the report sharing the two cores beside it.  The next run
 * that brings events pays for it once (0.6 s of CPU per GB of log); runs
 * that bring nothing new never do. */
#define MESSAGE_INDEX "CREATE INDEX IF NOT EXISTS events_message_key ON events(message_key)"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS sources(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  path TEXT NOT NULL,\n"
    "  fingerprint TEXT,\n" /* hash of the first fp_len bytes */
    "  fp_len INTEGER NOT NULL DEFAULT 0,\n"
    "  offset INTEGER NOT NULL DEFAULT 0,\n" /* uncompressed bytes stored */
    "  lines INTEGER NOT NULL DEFAULT 0,\n"
    "  matched INTEGER NOT NULL DEFAULT 0,\n"
    "  candidates INTEGER NOT NULL DEFAULT 0,\n"
    "  unparsed INTEGER NOT NULL DEFAULT 0,\n"
    "  events INTEGER NOT NULL DEFAULT 0,\n"
    "  first_read TEXT,\n"
    "  last_read TEXT\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS sources_fingerprint ON sources(fp_len, fingerprint);\n"
    "CREATE TABLE IF NOT EXISTS events(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  source_id INTEGER NOT NULL REFERENCES sources(id),\n"
    "  line_no INTEGER NOT NULL,\n"
    "  ts TEXT,\n"
    "  ts_epoch INTEGER,\n"
    "  host TEXT,\n"
    "  mta TEXT NOT NULL,\n"
    "  program TEXT,\n"
    "  queue_id TEXT,\n"
    "  status TEXT NOT NULL,\n"
    "  sender TEXT,\n"
    "  recipient TEXT,\n"
    "  recipient_domain TEXT,\n"
    "  orig_recipient TEXT,\n"
    "  relay TEXT,\n"
    "  client TEXT,\n"
    "  reply_code INTEGER,\n"
    "  enhanced_code TEXT,\n"
    "  dsn TEXT,\n"
    "  class INTEGER,\n"
    "  subject INTEGER,\n"
    "  detail INTEGER,\n"
    "  response TEXT,\n"
    "  reason TEXT,\n"
    "  rule TEXT,\n"
    "  enhanced_source TEXT,\n" /* 'reply' or 'dsn' */
    "  message_key INTEGER,\n"  /* hash of mta, host, queue_id: store_message_key() */
    "  reason_key INTEGER\n"    /* hash of reason: the report groups by it */
    ");\n"
    "DROP INDEX IF EXISTS events_source;\n"   /* the report reads tallies and failures */
    "DROP INDEX IF EXISTS events_failures;\n" /* events_failure_messages replaced it */
    "DROP INDEX IF EXISTS events_status;\n"   /* cost more to keep than it saved */
    FAILURE_INDEX "CREATE VIEW IF NOT EXISTS bounce_causes AS\n"
    "  SELECT enhanced_code, reply_code, reason, count(*) AS events,\n"
    "         count(DISTINCT recipient) AS recipients,\n"
    "         count(DISTINCT recipient_domain) AS domains, min(response) AS example\n"
    "  FROM events WHERE status = 'bounced'\n"
    "  GROUP BY enhanced_code, reply_code, reason ORDER BY events DESC;\n"
    "CREATE VIEW IF NOT EXISTS deferral_causes AS\n"
    "  SELECT enhanced_code, reply_code, reason, count(*) AS events,\n"
    "         count(DISTINCT recipient) AS recipients,\n"
    "         count(DISTINCT recipient_domain) AS domains, min(response) AS example\n"
    "  FROM events WHERE status = 'deferred'\n"
    "  GROUP BY enhanced_code, reply_code, reason ORDER BY events DESC;\n"
    "CREATE VIEW IF NOT EXISTS rejections AS\n"
    "  SELECT class, enhanced_code, reply_code, reason, count(*) AS events,\n"
    "         count(DISTINCT client) AS clients, min(response) AS example\n"
    "  FROM events WHERE status = 'rejected'\n"
    "  GROUP BY class, enhanced_code, reply_code, reason ORDER BY events DESC;\n"
    "CREATE TABLE IF NOT EXISTS codes(\n"
    "  code TEXT PRIMARY KEY,\n" /* '550', '5.1.1', '5.X.X', 'X.1.X' */
    "  kind TEXT NOT NULL,\n"    /* reply, enhanced, class, subject */
    "  class INTEGER, subject INTEGER, detail INTEGER,\n"
    "  title TEXT, meaning TEXT, retry TEXT, causes TEXT,\n"
    "  sender_fix TEXT, receiver_fix TEXT, providers TEXT,\n"
    "  hint TEXT\n" /* the first step of sender_fix */
    ");\n"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);\n"
    "CREATE TABLE IF NOT EXISTS greylisting(\n"
    "  event_id INTEGER PRIMARY KEY REFERENCES events(id),\n"
    "  basis TEXT NOT NULL,\n"       /* text | retry */
    "  signature TEXT,\n"            /* the signature that matched (text) */
    "  direction TEXT NOT NULL,\n"   /* outbound: a remote greylisted us; inbound: we did */
    "  accepted_event_id INTEGER,\n" /* the acceptance on a later retry */
    "  delay INTEGER\n"              /* seconds from the first deferral to acceptance */
    ");\n"
    "CREATE TABLE IF NOT EXISTS miscategorized(\n"
    "  event_id INTEGER NOT NULL REFERENCES events(id),\n"
    "  rule TEXT NOT NULL,\n"
    "  detail TEXT,\n"
    "  PRIMARY KEY(event_id, rule)\n"
    ");\n"
    /* events counted by source, quarter hour, MTA, status, domain and relay,
     * kept up to date as events are stored, so that the report's totals
     * never rescan the events */
    "CREATE TABLE IF NOT EXISTS tallies(\n"
    "  source_id INTEGER NOT NULL,\n"
    "  period INTEGER NOT NULL,\n" /* ts_epoch / 900; -1 without a time */
    "  mta TEXT NOT NULL,\n"
    "  status TEXT NOT NULL,\n"
    "  recipient_domain TEXT NOT NULL,\n" /* '' for none */
    "  relay TEXT NOT NULL,\n"            /* '' for none */
    "  events INTEGER NOT NULL,\n"
    "  first_ts TEXT,\n"
    "  last_ts TEXT,\n"
    "  PRIMARY KEY(source_id, period, mta, status, recipient_domain, relay)\n"
    ") WITHOUT ROWID;\n"
    "CREATE VIEW IF NOT EXISTS class_subject AS\n"
    "  SELECT class, subject, count(*) AS events FROM events\n"
    "  WHERE class IS NOT NULL GROUP BY class, subject ORDER BY class, subject;\n";

/* the tallies of period, per event; the same expression in C (tally_period) */
#define TALLY_PERIOD(ts) "CASE WHEN " ts " >= 0 THEN " ts " / 900 ELSE -1 END"

/* Version 1 had no tallies and indexed messages by their text columns:
 * what must change before the schema is applied, and what after. */
/* clang-format off */
static const char migrate_1_to_2_before[] =
    "ALTER TABLE events ADD COLUMN message_key INTEGER;"
    "ALTER TABLE events ADD COLUMN reason_key INTEGER;"
    "DROP INDEX IF EXISTS events_message;";
static const char migrate_1_to_2_after[] =
    "UPDATE events SET message_key = smtplog_message_key(mta, host, queue_id),"
    " reason_key = smtplog_text_key(reason);"
    "INSERT OR REPLACE INTO tallies SELECT source_id, " TALLY_PERIOD("ts_epoch") ", mta, status,"
    " coalesce(recipient_domain, ''), coalesce(relay, ''), count(*), min(ts), max(ts)"
    " FROM events GROUP BY 1, 2, 3, 4, 5, 6;";
/* clang-format on */

int64_t
store_text_key(const char *p, size_t n)
{
	return (int64_t)fnv1a64(FNV1A64_BASIS, p, n);
}

/* smtplog_text_key(text) in SQL, for the migration */
static void
sql_text_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *t = (const char *)sqlite3_value_text(argv[0]);

	(void)argc;
	if (t == NULL)
		sqlite3_result_null(ctx);
	else
		sqlite3_result_int64(ctx, store_text_key(t, (size_t)sqlite3_value_bytes(argv[0])));
}

int64_t
store_message_key(const char *mta, struct span host, struct span queue_id)
{
	uint64_t h = FNV1A64_BASIS;

	h = fnv1a64(h, mta, strlen(mta) + 1);
	if (host.p != NULL)
		h = fnv1a64(h, host.p, host.n);
	h = fnv1a64(h, "", 1);
	h = fnv1a64(h, queue_id.p, queue_id.n);
	return (int64_t)h;
}

/* smtplog_message_key(mta, host, queue_id) in SQL, for the migration */
static void
sql_message_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *mta = (const char *)sqlite3_value_text(argv[0]);
	struct span host = {(const char *)sqlite3_value_text(argv[1]),
	                    (size_t)sqlite3_value_bytes(argv[1])};
	struct span qid = {(const char *)sqlite3_value_text(argv[2]),
	                   (size_t)sqlite3_value_bytes(argv[2])};

	(void)argc;
	if (mta == NULL || qid.p == NULL)
		sqlite3_result_null(ctx);
	else
		sqlite3_result_int64(ctx, store_message_key(mta, host, qid));
}

static int
exec(struct store *st, const char *sql, char **cause)
{
	char *err = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		set_cause(cause, "%s: %s", st->path, err ? err : sqlite3_errmsg(st->db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static int
prepare(struct store *st, const char *sql, sqlite3_stmt **stmt, char **cause)
{
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL) !=
	    SQLITE_OK) {
		set_cause(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
		return -1;
	}
	return 0;
}

static int
user_version(struct store *st, int *v, char **cause)
{
	sqlite3_stmt *s;
	int rc;

	if (prepare(st, "PRAGMA user_version", &s, cause) != 0)
		return -1;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		set_cause(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
		sqlite3_finalize(s);
		return -1;
	}
	*v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return 0;
}

/* create_private - create PATH with mode 0600 before SQLite opens it */
static int
create_private(const char *path, char **cause)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		set_cause(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/* sync_database_file - F's sync of the database file, if F->fd is still
 * that file */
static void
sync_database_file(struct flusher *f)
{
	struct stat sb;
	struct timespec t0, t1;

	if (fstat(f->fd, &sb) != 0 || sb.st_dev != f->dev || sb.st_ino != f->ino)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
#ifdef HAVE_FDATASYNC
	(void)fdatasync(f->fd);
#else
	(void)fsync(f->fd);
#endif
	clock_gettime(CLOCK_MONOTONIC, &t1);
	f->syncs++;
	f->sync_seconds += diag_seconds(&t0, &t1);
}

static void *
flusher_main(void *arg)
{
	struct flusher *f = arg;

	diag_name_thread(f->db != NULL ? "smtplog-ckpt" : "smtplog-sync");
	pthread_mutex_lock(&f->lock);
	for (;;) {
		while (!f->pending && !f->closing)
			pthread_cond_wait(&f->wake, &f->lock);
		if (!f->pending)
			break;
		f->pending = false;
		pthread_mutex_unlock(&f->lock);
		if (f->db != NULL) {
			/* passive: copies what no reader still needs; a busy
			 * database is simply checkpointed next time */
			(void)sqlite3_wal_checkpoint_v2(f->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
			                                NULL, NULL);
		} else
			sync_database_file(f);
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* flusher_wake - have F do its work once more (at once, or after the
 * round under way) */
static void
flusher_wake(struct flusher *f)
{
	pthread_mutex_lock(&f->lock);
	f->pending = true;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
}

/* wal_grown - SQLite's WAL hook, after each commit: N pages in the WAL */
static int
wal_grown(void *arg, sqlite3 *db, const char *name, int n)
{
	(void)db;
	(void)name;
	if (n >= CHECKPOINT_PAGES)
		flusher_wake(arg);
	return SQLITE_OK;
}

/* spare_cpu - is there a CPU for the flusher beside the writer? */
static bool
spare_cpu(void)
{
	return sysconf(_SC_NPROCESSORS_ONLN) >= 2;
}

/* flusher_run - start F's thread (F->db or F->fd set); false if it could
 * not be had */
static bool
flusher_run(struct flusher *f)
{
	f->pending = f->closing = false;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->wake, NULL);
	if (pthread_create(&f->thread, NULL, flusher_main, f) != 0) {
		pthread_mutex_destroy(&f->lock);
		pthread_cond_destroy(&f->wake);
		return false;
	}
	f->running = true;
	return true;
}

/* checkpointer_start - checkpoint ST's WAL on the flusher; where that
 * cannot be had (one CPU, no second connection), SQLite's own
 * auto-checkpoint stays */
static void
checkpointer_start(struct store *st)
{
	struct flusher *f = &st->flusher;

	if (!spare_cpu())
		return;
	if (sqlite3_open_v2(st->path, &f->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(f->db, 10000);
	/* a connection learns that the database is in WAL mode when it first
	 * reads it; until then a checkpoint does nothing */
	if (sqlite3_exec(f->db, "PRAGMA schema_version", NULL, NULL, NULL) != SQLITE_OK ||
	    !flusher_run(f))
		goto fail;
	/* replaces the auto-checkpoint, which is itself a WAL hook */
	sqlite3_wal_hook(st->db, wal_grown, f);
	return;
fail:
	sqlite3_close(f->db);
	f->db = NULL;
}

/* syncer_start - sync the database file on the flusher as a bulk load
 * grows it (bulk_grown); nothing if SQLite's descriptor of it is not
 * found */
static void
syncer_start(struct store *st)
{
	struct flusher *f = &st->flusher;
	struct stat want, sb;

	if (!spare_cpu() || stat(st->path, &want) != 0)
		return;
	/* SQLite's first descriptor of the file is this connection's, the
	 * lowest: opened first, closed last */
	for (int fd = 0; fd < 1024; fd++) {
		if (fstat(fd, &sb) == 0 && sb.st_dev == want.st_dev && sb.st_ino == want.st_ino) {
			f->fd = fd;
			f->dev = sb.st_dev;
			f->ino = sb.st_ino;
			f->synced = sb.st_size;
			f->syncs = 0;
			f->sync_seconds = 0;
			if (!flusher_run(f))
				f->fd = -1;
			return;
		}
	}
}

/* bulk_grown - after a batch of a bulk load: wake the flusher if the
 * database file grew by SYNC_BYTES since it was last woken */
static void
bulk_grown(struct store *st)
{
	struct flusher *f = &st->flusher;
	struct stat sb;

	if (!f->running || f->fd < 0 || fstat(f->fd, &sb) != 0 ||
	    sb.st_size < f->synced + SYNC_BYTES)
		return;
	f->synced = sb.st_size;
	flusher_wake(f);
}

/* flusher_stop - let a checkpoint or sync under way finish, then close */
static void
flusher_stop(struct store *st)
{
	struct flusher *f = &st->flusher;

	if (f->db != NULL)
		sqlite3_wal_hook(st->db, NULL, NULL);
	if (f->running) {
		pthread_mutex_lock(&f->lock);
		f->closing = true;
		f->pending = false;
		pthread_cond_signal(&f->wake);
		pthread_mutex_unlock(&f->lock);
		pthread_join(f->thread, NULL);
		pthread_mutex_destroy(&f->lock);
		pthread_cond_destroy(&f->wake);
		f->running = false;
		if (f->db == NULL) {
			char name[48];

			snprintf(name, sizeof name, "syncs beside the load: %u", f->syncs);
			diag_timing(name, f->sync_seconds);
		}
	}
	sqlite3_close(f->db);
	f->db = NULL;
	f->fd = -1;
}

struct store *
store_open(const char *path, char **cause)
{
	struct store *st;
	bool memory = strcmp(path, ":memory:") == 0, fresh;
	struct stat sb;
	int version;

	/* no memory statistics: they take a global mutex on every allocation
	 * (only possible before SQLite is first used; harmless after) */
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (!memory && access(path, F_OK) != 0 && create_private(path, cause) != 0)
		return NULL;
	fresh = !memory && stat(path, &sb) == 0 && sb.st_size == 0;
	st = xcalloc(1, sizeof *st);
	st->flusher.fd = -1;
	st->tallies.slot = xcalloc(TALLY_SLOTS, sizeof *st->tallies.slot);
	st->tallies.arena = xmalloc(TALLY_ARENA);
	st->path = xstrdup(path);
	/* one connection, used by one thread: no mutexes */
	if (sqlite3_open_v2(path, &st->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		set_cause(cause, "%s: %s", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
		store_close(st);
		return NULL;
	}
	/* wait for another writer (a cron run) rather than fail at once */
	sqlite3_busy_timeout(st->db, 10000);
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_create_function(st->db, "smtplog_text_key", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
	                        NULL, sql_text_key, NULL, NULL);
	sqlite3_create_function(st->db, "smtplog_message_key", 3,
	                        SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_message_key, NULL,
	                        NULL);
	/* 16 KiB pages (for a new database; an existing one keeps its own):
	 * 20% faster to fill and to scan than the default 4 KiB */
	if (exec(st, "PRAGMA page_size=16384", cause) != 0 ||
	    exec(st,
	         memory  ? "PRAGMA journal_mode=OFF"
	         : fresh ? "PRAGMA journal_mode=DELETE"
	                 : "PRAGMA journal_mode=WAL",
	         cause) != 0 ||
	    /* temporary tables (the report's copy of the events in scope) go to
	     * a file, so memory stays bounded whatever the input's size.
	     * Debian's SQLite zeroes the space of every cell it frees
	     * (SECURE_DELETE), moved cells included: the tallies' updates and
	     * the B-trees' rebalancing.  Off, the writer runs 3% fewer
	     * instructions; store_prune turns it on for what it deletes. */
	    exec(st,
	         "PRAGMA synchronous=NORMAL; PRAGMA temp_store=FILE; PRAGMA secure_delete=OFF;"
	         "PRAGMA cache_size=" STORE_CACHE_SIZE "; PRAGMA foreign_keys=OFF",
	         cause) != 0 ||
	    user_version(st, &version, cause) != 0)
		goto fail;
	if (version > STORE_SCHEMA_VERSION) {
		set_cause(cause,
		          "%s: database schema version %d is newer than this program's (%d): "
		          "upgrade smtplog-report or use another --db",
		          path, version, STORE_SCHEMA_VERSION);
		goto fail;
	}
	{
		/* every statement is IF NOT EXISTS: running it each time adds what
		 * an older database of this version lacks.  A new file's schema
		 * is committed with its knowledge base (store_sync_codes, then
		 * store_commit: one commit's three syncs fewer, 2-3 ms); if that
		 * fails, the file is left empty, new again for the next run. */
		bool with_codes = fresh && !memory;
		char *sql = xasprintf("BEGIN IMMEDIATE; %s %s %s PRAGMA user_version=%d; %s",
		                      version == 1 ? migrate_1_to_2_before : "", schema_sql,
		                      version == 1 ? migrate_1_to_2_after : "",
		                      STORE_SCHEMA_VERSION, with_codes ? "" : "COMMIT;");
		int rc = exec(st, sql, cause);

		free(sql);
		if (rc != 0) {
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			goto fail;
		}
		st->in_tx = with_codes;
	}
	if (!memory) {
		(void)chmod(path, 0600);
		if (fresh)
			st->bulk = true;
		else
			checkpointer_start(st);
	}
	if (store_feed_register(st->db, &st->feed) != SQLITE_OK) {
		set_cause(cause, "%s: %s", path, sqlite3_errmsg(st->db));
		goto fail;
	}
	if (prepare(st,
	            "INSERT INTO events(" STORE_FEED_COLUMNS ") SELECT " STORE_FEED_COLUMNS
	            " FROM smtplog_event_feed",
	            &st->insert_events, cause) != 0 ||
	    prepare(st, "SELECT max(id) FROM events", &st->max_event_id, cause) != 0 ||
	    prepare(st,
	            "INSERT OR REPLACE INTO greylisting(event_id, basis, signature, direction)"
	            " VALUES (?1, 'text', ?2, ?3)",
	            &st->insert_greylisting, cause) != 0 ||
	    prepare(st,
	            "INSERT OR IGNORE INTO miscategorized(event_id, rule, detail)"
	            " VALUES (?1, ?2, ?3)",
	            &st->insert_miscategorized, cause) != 0 ||
	    prepare(st,
	            "INSERT INTO tallies VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
	            " ON CONFLICT DO UPDATE SET events = events + excluded.events,"
	            " first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, "
	            "excluded.last_ts)",
	            &st->tally_event, cause) != 0 ||
	    prepare(
	        st,
	        "UPDATE sources SET offset=?2, lines=?3, matched=?4, candidates=?5, unparsed=?6,"
	        " events=?7, last_read=strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id=?1",
	        &st->update_source, cause) != 0)
		goto fail;
	return st;
fail:
	store_close(st);
	return NULL;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->in_tx)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	flusher_stop(st);
	sqlite3_finalize(st->insert_events);
	sqlite3_finalize(st->max_event_id);
	store_feed_free(&st->feed);
	msg_runs_free(st->runs);
	report_agg_free(st->counts);
	sqlite3_finalize(st->insert_greylisting);
	sqlite3_finalize(st->insert_miscategorized);
	sqlite3_finalize(st->tally_event);
	sqlite3_finalize(st->update_source);
	sqlite3_close(st->db);
	free(st->path);
	free(st->tallies.slot);
	free(st->tallies.arena);
	free(st);
}

sqlite3 *
store_db(struct store *st)
{
	return st->db;
}

const char *
store_path(const struct store *st)
{
	return st->path;
}

/* fingerprint - FNV-1a 64 of the first bytes, as hex */
static void
fingerprint(const char *p, size_t n, char out[17])
{
	snprintf(out, 17, "%016llx", (unsigned long long)fnv1a64(FNV1A64_BASIS, p, n));
}

static int
begin(struct store *st, char **cause)
{
	if (st->in_tx)
		return 0;
	if (exec(st, "BEGIN IMMEDIATE", cause) != 0)
		return -1;
	st->in_tx = true;
	return 0;
}

int
store_source_find(struct store *st, const char *path, const char *head, size_t n, bool is_stdin,
                  struct source_state *src, bool *resumed, char **cause)
{
	sqlite3_stmt *lens = NULL, *find = NULL, *ins = NULL;
	char fp[17];
	int rc = -1;

	memset(src, 0, sizeof *src);
	*resumed = false;
	if (begin(st, cause) != 0)
		return -1;
	/* Each source was fingerprinted over min(its size, 4 KiB) bytes: try
	 * every length in use that this input is long enough for. */
	if (!is_stdin && n > 0) {
		if (prepare(st,
		            "SELECT DISTINCT fp_len FROM sources WHERE fp_len > 0 AND fp_len <= ?1"
		            " ORDER BY fp_len DESC",
		            &lens, cause) != 0 ||
		    prepare(st,
		            "SELECT id, offset, lines, matched, candidates, unparsed, events"
		            " FROM sources WHERE fp_len = ?1 AND fingerprint = ?2"
		            " ORDER BY offset DESC LIMIT 1",
		            &find, cause) != 0)
			goto out;
		sqlite3_bind_int64(lens, 1, (sqlite3_int64)n);
		while (!*resumed && sqlite3_step(lens) == SQLITE_ROW) {
			size_t len = (size_t)sqlite3_column_int64(lens, 0);

			fingerprint(head, len, fp);
			sqlite3_reset(find);
			sqlite3_bind_int64(find, 1, (sqlite3_int64)len);
			sqlite3_bind_text(find, 2, fp, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(find) == SQLITE_ROW) {
				src->id = sqlite3_column_int64(find, 0);
				src->offset = (uint64_t)sqlite3_column_int64(find, 1);
				src->lines = (uint64_t)sqlite3_column_int64(find, 2);
				src->matched = (uint64_t)sqlite3_column_int64(find, 3);
				src->candidates = (uint64_t)sqlite3_column_int64(find, 4);
				src->unparsed = (uint64_t)sqlite3_column_int64(find, 5);
				src->events = (uint64_t)sqlite3_column_int64(find, 6);
				*resumed = true;
			}
		}
	}
	if (*resumed) {
		sqlite3_stmt *up;

		if (prepare(st, "UPDATE sources SET path = ?2 WHERE id = ?1", &up, cause) != 0)
			goto out;
		sqlite3_bind_int64(up, 1, src->id);
		sqlite3_bind_text(up, 2, path, -1, SQLITE_STATIC);
		sqlite3_step(up);
		sqlite3_finalize(up);
		rc = 0;
		goto out;
	}
	if (n > STORE_FINGERPRINT_BYTES)
		n = STORE_FINGERPRINT_BYTES;
	fingerprint(head, n, fp);
	if (prepare(st,
	            "INSERT INTO sources(path, fingerprint, fp_len, first_read, last_read)"
	            " VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%SZ','now'),"
	            " strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
	            &ins, cause) != 0)
		goto out;
	sqlite3_bind_text(ins, 1, path, -1, SQLITE_STATIC);
	if (is_stdin || n == 0)
		sqlite3_bind_null(ins, 2); /* never matched again */
	else
		sqlite3_bind_text(ins, 2, fp, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 3, is_stdin ? 0 : (sqlite3_int64)n);
	if (sqlite3_step(ins) != SQLITE_DONE) {
		set_cause(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
		goto out;
	}
	src->id = sqlite3_last_insert_rowid(st->db);
	rc = 0;
out:
	sqlite3_finalize(lens);
	sqlite3_finalize(find);
	sqlite3_finalize(ins);
	return rc;
}

void
store_source_restart(struct source_state *src)
{
	src->offset = 0;
	src->lines = 0;
}

static void
bind_opt_int(sqlite3_stmt *s, int i, int v, int none)
{
	if (v == none)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_int(s, i, v);
}

static void
bind_opt_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v[0] == '\0')
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

static int64_t
tally_period(int64_t ts_epoch)
{
	return ts_epoch >= 0 ? ts_epoch / TALLY_SECONDS : -1;
}

/* tallies_flush - upsert the tallies added up since the last flush */
static int
tallies_flush(struct store *st, char **cause)
{
	struct tally_cache *tc = &st->tallies;
	sqlite3_stmt *s = st->tally_event;

	for (size_t i = 0; i < TALLY_SLOTS && tc->used > 0; i++) {
		struct tally *t = &tc->slot[i];

		if (t->hash == 0)
			continue;
		sqlite3_bind_int64(s, 1, t->source_id);
		sqlite3_bind_int64(s, 2, t->period);
		sqlite3_bind_text(s, 3, mta_name(t->mta), -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, status_name(t->status), -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, tc->arena + t->domain, (int)t->domain_len, SQLITE_STATIC);
		sqlite3_bind_text(s, 6, tc->arena + t->relay, (int)t->relay_len, SQLITE_STATIC);
		sqlite3_bind_int64(s, 7, t->events);
		bind_opt_text(s, 8, t->first_ts);
		bind_opt_text(s, 9, t->last_ts);
		if (sqlite3_step(s) != SQLITE_DONE) {
			set_cause(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
			sqlite3_reset(s);
			return -1;
		}
		sqlite3_reset(s);
		t->hash = 0;
		tc->used--;
	}
	tc->used = 0;
	tc->arena_used = 0;
	return 0;
}

/* tallies_add - count one event under its key */
static int
tallies_add(struct store *st, int64_t source_id, int64_t period, enum mta mta, enum status status,
            struct span domain, struct span relay, const char *ts, char **cause)
{
	struct tally_cache *tc = &st->tallies;
	struct tally *t;
	int64_t key[3] = {source_id, period, (int64_t)mta << 8 | (int64_t)status};
	uint64_t h = hash_words(hash_words(hash_words(0, key, sizeof key), domain.p, domain.n),
	                        relay.p, relay.n);
	size_t i;

	h |= 1; /* 0 marks an empty slot; the first slot tried from the bits above */
	for (i = (h >> 1) & (TALLY_SLOTS - 1);; i = (i + 1) & (TALLY_SLOTS - 1)) {
		t = &tc->slot[i];
		if (t->hash == 0)
			break;
		if (t->hash == h && t->source_id == source_id && t->period == period &&
		    t->mta == mta && t->status == status && t->domain_len == domain.n &&
		    t->relay_len == relay.n &&
		    memcmp(tc->arena + t->domain, domain.p, domain.n) == 0 &&
		    memcmp(tc->arena + t->relay, relay.p, relay.n) == 0) {
			t->events++;
			if (strcmp(ts, t->first_ts) < 0)
				memcpy(t->first_ts, ts, strlen(ts) + 1);
			if (strcmp(ts, t->last_ts) > 0)
				memcpy(t->last_ts, ts, strlen(ts) + 1);
			return 0;
		}
	}
	if (tc->used + 1 > TALLY_SLOTS / 4 * 3 ||
	    tc->arena_used + domain.n + relay.n > TALLY_ARENA) {
		if (tallies_flush(st, cause) != 0)
			return -1;
		if (domain.n + relay.n > TALLY_ARENA) {
			/* a key longer than the arena (a relay of megabytes): cut it */
			relay.n = TALLY_ARENA - domain.n;
		}
		return tallies_add(st, source_id, period, mta, status, domain, relay, ts, cause);
	}
	t->hash = h;
	t->source_id = source_id;
	t->period = period;
	t->mta = mta;
	t->status = status;
	t->events = 1;
	t->domain = (uint32_t)tc->arena_used;
	t->domain_len = (uint32_t)domain.n;
	memcpy(tc->arena + tc->arena_used, domain.p, domain.n);
	tc->arena_used += domain.n;
	t->relay = (uint32_t)tc->arena_used;
	t->relay_len = (uint32_t)relay.n;
	memcpy(tc->arena + tc->arena_used, relay.p, relay.n);
	tc->arena_used += relay.n;
	memcpy(t->first_ts, ts, strlen(ts) + 1);
	memcpy(t->last_ts, ts, strlen(ts) + 1);
	tc->used++;
	return 0;
}

int
store_insert_finding(sqlite3_stmt *s, int64_t id, const char *text, const char *detail)
{
	int rc;

	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
	if (detail != NULL)
		sqlite3_bind_text(s, 3, detail, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 3);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* step_finding - store_insert_finding(), with *cause on failure */
static int
step_finding(struct store *st, sqlite3_stmt *s, int64_t id, const char *text, const char *detail,
             char **cause)
{
	if (store_insert_finding(s, id, text, detail) != 0) {
		set_cause(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
		return -1;
	}
	return 0;
}

/* add_text_findings - the findings of event ID's own text, as
 * analyze_event_text() judged them */
static int
add_text_findings(struct store *st, int64_t id, const struct event *ev, char **cause)
{
	if (ev->greylist_sig != NULL &&
	    step_finding(st, st->insert_greylisting, id, ev->greylist_sig,
	                 ev->status == STATUS_REJECTED ? "inbound" : "outbound", cause) != 0)
		return -1;
	if (ev->class_mismatch) {
		char detail[32];

		snprintf(detail, sizeof detail, "%d %s", ev->reply_code, ev->enhanced_code);
		if (step_finding(st, st->insert_miscategorized, id, "class-mismatch", detail,
		                 cause) != 0)
			return -1;
	}
	if (ev->transient_sig != NULL &&
	    step_finding(st, st->insert_miscategorized, id, "transient-text-under-5xx",
	                 ev->transient_sig, cause) != 0)
		return -1;
	if (ev->permanent_sig != NULL &&
	    step_finding(st, st->insert_miscategorized, id, "permanent-text-under-4xx",
	                 ev->permanent_sig, cause) != 0)
		return -1;
	return 0;
}

/* drop_load - the load's records and counts no longer match the table:
 * its analysis and report read the table instead */
static void
drop_load(struct store *st)
{
	msg_runs_free(st->runs);
	st->runs = NULL;
	report_agg_free(st->counts);
	st->counts = NULL;
}

/* count_failure - failure ID (row R, derived values D) for the report */
static void
count_failure(struct store *st, int64_t id, const struct store_event *r, const struct feed_row *d)
{
	const struct event *ev = &r->ev;
	struct report_agg_row f = {
	    .id = id,
	    .has_ts = d->ts[0] != '\0',
	    .ts = d->epoch,
	    .status = ev->status,
	    .recipient = ev->recipient,
	    .domain = d->domain_len > 0 ? (struct span){d->domain, d->domain_len} : SPAN_NONE,
	    .client = ev->client,
	    .enhanced = ev->enhanced_code[0] != '\0'
	                    ? (struct span){ev->enhanced_code, strlen(ev->enhanced_code)}
	                    : SPAN_NONE,
	    .has_reply = ev->reply_code != 0,
	    .reply = ev->reply_code,
	    .has_class = ev->class_code != -1,
	    .klass = ev->class_code,
	    .has_subject = ev->subject != -1,
	    .subject = ev->subject,
	    .reason_key = d->reason_key,
	};

	report_agg_add(st->counts, &f);
}

/* record_run - event ID (row R, derived values D) for a first analysis: what
 * the message pass reads of it (analyze.c's LOAD_COLUMNS) */
static void
record_run(struct store *st, int64_t id, const struct store_event *r, const struct feed_row *d)
{
	const struct event *ev = &r->ev;
	bool deferral_4xx = ev->status == STATUS_DEFERRED && ev->class_code == 4;
	struct msg_rec rec = {
	    .key = d->message_key,
	    .id = id,
	    .ts = d->epoch,
	    .has_ts = d->ts[0] != '\0',
	    .other_cause = deferral_4xx && ev->other_cause,
	    .text_grey = deferral_4xx && ev->greylist_sig != NULL,
	    .status = ev->status,
	    .klass = ev->class_code,
	    .recipient = ev->recipient,
	};

	if (!msg_runs_add(st->runs, &rec, mta_name(ev->mta), r->env.host, ev->queue_id)) {
		/* the temporary file failed: the analysis reads the table */
		msg_runs_free(st->runs);
		st->runs = NULL;
	}
}

int
store_add_events(struct store *st, const struct source_state *src, const struct store_event *rows,
                 size_t n, char **cause)
{
	int64_t first;

	if (n == 0)
		return 0;
	if (begin(st, cause) != 0) {
		drop_load(st);
		return -1;
	}
	/* SQLite gives each appended row the table's largest id plus one, and
	 * this connection holds the write lock: the rows get first, first + 1,
	 * ... as the findings below need (checked, not assumed) */
	first = store_max_event_id(st) + 1;
	store_feed_load(&st->feed, src->id, rows, n);
	if (sqlite3_step(st->insert_events) != SQLITE_DONE) {
		set_cause(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
		sqlite3_reset(st->insert_events);
		drop_load(st);
		return -1;
	}
	sqlite3_reset(st->insert_events);
	if (sqlite3_last_insert_rowid(st->db) != first + (int64_t)n - 1) {
		set_cause(cause, "%s: events were not given consecutive ids", st->path);
		drop_load(st);
		return -1;
	}
	if ((st->runs != NULL || st->counts != NULL) && first != st->load_next_id)
		drop_load(st);
	for (size_t i = 0; i < n; i++) {
		const struct event *ev = &rows[i].ev;
		const struct feed_row *d = &st->feed.derived[i];

		if ((ev->greylist_sig != NULL || ev->transient_sig != NULL ||
		     ev->permanent_sig != NULL || ev->class_mismatch) &&
		    add_text_findings(st, first + (int64_t)i, ev, cause) != 0) {
			drop_load(st);
			return -1;
		}
		if (tallies_add(st, src->id, d->ts[0] == '\0' ? -1 : tally_period(d->epoch),
		                ev->mta, ev->status, (struct span){d->domain, d->domain_len},
		                span_is_set(ev->relay) ? ev->relay : (struct span){"", 0}, d->ts,
		                cause) != 0) {
			drop_load(st);
			return -1;
		}
		if (st->runs != NULL && span_is_set(ev->queue_id))
			record_run(st, first + (int64_t)i, &rows[i], d);
		if (st->counts != NULL && ev->status != STATUS_SENT)
			count_failure(st, first + (int64_t)i, &rows[i], d);
	}
	if (st->runs != NULL || st->counts != NULL)
		st->load_next_id = first + (int64_t)n;
	if (st->bulk)
		bulk_grown(st);
	return 0;
}

/* load_matches - were every row of the table, and no other, recorded?  The
 * ids from 1 on were checked as they came; a failure or a rollback dropped
 * the records. */
static bool
load_matches(struct store *st)
{
	if (st->load_next_id - 1 == store_max_event_id(st))
		return true;
	drop_load(st);
	return false;
}

struct msg_runs *
store_take_message_runs(struct store *st)
{
	struct msg_runs *mr = NULL;

	if (st->runs != NULL && load_matches(st)) {
		mr = st->runs;
		st->runs = NULL;
	}
	return mr;
}

struct report_agg *
store_take_counts(struct store *st)
{
	struct report_agg *a = NULL;

	if (st->counts != NULL && load_matches(st)) {
		a = st->counts;
		st->counts = NULL;
	}
	return a;
}

int
store_checkpoint(struct store *st, const struct source_state *src, char **cause)
{
	sqlite3_stmt *s = st->update_source;

	if (begin(st, cause) != 0 || tallies_flush(st, cause) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, src->id);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)src->offset);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)src->lines);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)src->matched);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)src->candidates);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)src->unparsed);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)src->events);
	if (sqlite3_step(s) != SQLITE_DONE) {
		set_cause(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	if (exec(st, "COMMIT", cause) != 0)
		return -1;
	st->in_tx = false;
	return 0;
}

int64_t
store_max_event_id(struct store *st)
{
	sqlite3_stmt *s = st->max_event_id;
	int64_t id = 0;

	if (sqlite3_step(s) == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return id;
}

/* journal_mode - set ST's journal mode to MODE; true when it took (SQLite
 * keeps the old one when another connection holds the database open) */
static bool
journal_mode(struct store *st, const char *mode)
{
	char *sql = xasprintf("PRAGMA journal_mode=%s", mode);
	sqlite3_stmt *s;
	bool ok = false;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
			ok = strcasecmp((const char *)sqlite3_column_text(s, 0), mode) == 0;
		sqlite3_finalize(s);
	}
	free(sql);
	return ok;
}

int
store_bulk_begin(struct store *st, char **cause)
{
	/* Only for an empty events table.  The message index is built when a
	 * later analysis needs it (MESSAGE_INDEX): once, after a load, is
	 * cheaper than row by row; on a large database, dropping it would
	 * cost more than it saves. */
	if (store_max_event_id(st) != 0)
		return 0;
	if (exec(st, "DROP INDEX IF EXISTS events_message_key", cause) != 0)
		return -1;
	msg_runs_free(st->runs);
	report_agg_free(st->counts);
	st->runs = msg_runs_new(0, 0);
	st->counts = report_agg_new();
	st->load_next_id = 1;
	/* Into an empty database, a rollback journal writes each page once
	 * (pages past the file's old end need no journal) where the WAL
	 * writes it twice, and costs the writing thread 30% less CPU per row.
	 * A kill mid-load leaves a hot journal, rolled back at the next open,
	 * as a WAL would be.  Leaving WAL mode needs the only connection:
	 * the checkpointer's is closed first.  A database created by this
	 * run is in that mode already (store_open): creating the WAL, then
	 * checkpointing and removing it, cost 3-5 ms of a new database's
	 * start. */
	if (strcmp(st->path, ":memory:") == 0 || st->in_tx)
		return 0;
	if (!st->bulk) {
		flusher_stop(st);
		st->bulk = journal_mode(st, "delete");
		if (!st->bulk) {
			checkpointer_start(st);
			return 0;
		}
	}
	syncer_start(st);
	return 0;
}

bool
store_in_bulk(const struct store *st)
{
	return st->bulk || strcmp(st->path, ":memory:") == 0;
}

int
store_bulk_end(struct store *st, char **cause)
{
	if (store_commit(st, cause) != 0)
		return -1;
	if (!st->bulk) {
		/* an incremental load: its pages are copied beside the analysis */
		store_checkpoint_beside(st);
		return 0;
	}
	flusher_stop(st);
	/* back to WAL: the report's connection reads while this one writes */
	if (!journal_mode(st, "wal")) {
		/* the events are committed: the next run analyses them */
		set_cause(cause,
		          "%s: cannot return to WAL mode (another program has the database "
		          "open?); the events are stored, the next run analyses them",
		          st->path);
		return -1;
	}
	st->bulk = false;
	checkpointer_start(st);
	return 0;
}

int
store_message_index(struct store *st, char **cause)
{
	sqlite3_stmt *s;
	bool present = false;
	int rc;

	if (prepare(st,
	            "SELECT 1 FROM sqlite_master WHERE type = 'index'"
	            " AND name = 'events_message_key'",
	            &s, cause) != 0)
		return -1;
	present = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	if (present)
		return 0;
	if (store_commit(st, cause) != 0)
		return -1;
	/* SQLite's sorter keeps runs of cache_size bytes in memory (4 MiB at
	 * least with 16 KiB pages) and merges them: runs of 4 MiB sort within
	 * the processor's caches, runs of 16 MiB do not.  The index of 1 GB of
	 * Postfix (1.06 M rows): 0.79-0.88 s with 16 MiB, 0.59-0.60 s with
	 * 2 MiB, and 11 MiB less peak memory. */
	(void)sqlite3_exec(st->db, "PRAGMA cache_size=-2048", NULL, NULL, NULL);
	rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE; " MESSAGE_INDEX "; COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		set_cause(cause, "%s: building the message index: %s", st->path,
		          sqlite3_errmsg(st->db));
		if (sqlite3_get_autocommit(st->db) == 0)
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	}
	(void)sqlite3_exec(st->db, "PRAGMA cache_size=" STORE_CACHE_SIZE, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : -1;
}

int
store_read_begin(struct store *st, char **cause)
{
	if (store_commit(st, cause) != 0)
		return -1;
	return exec(st, "BEGIN", cause);
}

int
store_read_end(struct store *st, char **cause)
{
	return exec(st, "COMMIT", cause);
}

int
store_begin(struct store *st, char **cause)
{
	return begin(st, cause);
}

void
store_release_memory(struct store *st)
{
	sqlite3_db_release_memory(st->db);
	(void)sqlite3_exec(st->db, "PRAGMA cache_size=-8192", NULL, NULL, NULL);
}

void
store_rollback(struct store *st)
{
	if (st->in_tx)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	st->in_tx = false;
	drop_load(st);
	memset(st->tallies.slot, 0, TALLY_SLOTS * sizeof *st->tallies.slot);
	st->tallies.used = 0;
	st->tallies.arena_used = 0;
}

void
store_checkpoint_beside(struct store *st)
{
	if (st->flusher.running && st->flusher.db != NULL)
		flusher_wake(&st->flusher);
}

int
store_commit(struct store *st, char **cause)
{
	if (!st->in_tx)
		return 0;
	if (tallies_flush(st, cause) != 0 || exec(st, "COMMIT", cause) != 0)
		return -1;
	st->in_tx = false;
	return 0;
}

int64_t
store_prune(struct store *st, int64_t epoch, char **cause)
{
	static const char *const sql[] = {
	    "DELETE FROM events WHERE ts_epoch < ?1",
	    ("DELETE FROM tallies WHERE period >= 0 AND period < ?1 / " TALLY_SECONDS_SQL),
	    "DELETE FROM greylisting WHERE event_id NOT IN (SELECT id FROM events)",
	    "DELETE FROM miscategorized WHERE event_id NOT IN (SELECT id FROM events)",
	};
	int64_t n = 0;

	/* whole quarter hours, so that the tallies still count the events */
	epoch -= epoch % TALLY_SECONDS;
	if (begin(st, cause) != 0)
		return -1;
	/* what --keep-days deletes is overwritten, not left in free space:
	 * secure_delete is off only for the loads (store_open) */
	(void)sqlite3_exec(st->db, "PRAGMA secure_delete=ON", NULL, NULL, NULL);
	for (size_t i = 0; i < sizeof sql / sizeof sql[0] && n >= 0; i++) {
		sqlite3_stmt *s;

		if (prepare(st, sql[i], &s, cause) != 0) {
			n = -1;
			break;
		}
		if (sqlite3_bind_parameter_count(s) > 0)
			sqlite3_bind_int64(s, 1, epoch);
		if (sqlite3_step(s) != SQLITE_DONE) {
			set_cause(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
			n = -1;
		} else if (i == 0)
			n = sqlite3_changes64(st->db);
		sqlite3_finalize(s);
	}
	(void)sqlite3_exec(st->db, "PRAGMA secure_delete=OFF", NULL, NULL, NULL);
	return n;
}

/* codes_row_insert - one knowledge-base row under CODE (a concrete code) */
static int
codes_row_insert(struct store *st, sqlite3_stmt *ins, const char *code, const char *kind,
                 const struct code_entry *e, char **cause)
{
	int klass = -1, subject = -1, detail = -1;
	const char *bar = strstr(e->sender_fix, " | ");

	if (strcmp(kind, "reply") == 0)
		klass = code[0] - '0';
	else {
		if (code[0] != 'X')
			klass = code[0] - '0';
		if (code[2] != 'X')
			subject = atoi(code + 2);
		if (strcmp(kind, "enhanced") == 0)
			detail = atoi(strchr(code + 2, '.') + 1);
	}
	sqlite3_reset(ins);
	sqlite3_bind_text(ins, 1, code, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(ins, 2, kind, -1, SQLITE_STATIC);
	bind_opt_int(ins, 3, klass, -1);
	bind_opt_int(ins, 4, subject, -1);
	bind_opt_int(ins, 5, detail, -1);
	sqlite3_bind_text(ins, 6, e->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 7, e->meaning, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 8, e->retry, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 9, e->causes, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 10, e->sender_fix, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 11, e->receiver_fix, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 12, e->providers, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 13, e->sender_fix, bar ? (int)(bar - e->sender_fix) : -1,
	                  SQLITE_STATIC);
	if (sqlite3_step(ins) != SQLITE_DONE) {
		set_cause(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
		return -1;
	}
	return 0;
}

/* codes_digest - the codes table's mark in meta: FILE_DIGEST (the
 * knowledge base file's, codes_file_digest) with how its entries become
 * rows (bump the salt when codes_row_insert or store_sync_codes' passes
 * change), as hex into BUF */
static void
codes_digest(uint64_t file_digest, char *buf, size_t size)
{
	uint64_t h = fnv1a64(FNV1A64_BASIS, "codes file 1", 12);

	h = fnv1a64(h, &file_digest, sizeof file_digest);
	snprintf(buf, size, "%016llx", (unsigned long long)h);
}

bool
store_codes_current(struct store *st, uint64_t file_digest)
{
	sqlite3_stmt *s = NULL;
	char digest[24];
	bool current;

	/* The knowledge base is written again only when it changed: its
	 * digest, with the row count, is kept in meta.  Rewriting it cost each
	 * run 4 ms and a few hundred kilobytes of the WAL, and parsing the
	 * file 1-2 ms. */
	codes_digest(file_digest, digest, sizeof digest);
	if (sqlite3_prepare_v2(st->db,
	                       "SELECT 1 FROM meta WHERE key = 'codes'"
	                       " AND value = ?1 || ' ' || (SELECT count(*) FROM codes)",
	                       -1, &s, NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		return false;
	}
	sqlite3_bind_text(s, 1, digest, -1, SQLITE_STATIC);
	current = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return current;
}

int
store_sync_codes(struct store *st, const struct codes *codes, uint64_t file_digest, char **cause)
{
	sqlite3_stmt *ins = NULL, *s = NULL;
	char digest[24];
	int rc = -1;

	codes_digest(file_digest, digest, sizeof digest);
	if (begin(st, cause) != 0)
		return -1;
	if (exec(st, "DELETE FROM codes", cause) != 0 ||
	    prepare(st,
	            "INSERT OR IGNORE INTO codes(code, kind, class, subject, detail, title,"
	            " meaning, retry, causes, sender_fix, receiver_fix, providers, hint)"
	            " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
	            &ins, cause) != 0)
		goto out;
	/* class-specific rows first: INSERT OR IGNORE keeps them over X rows */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < codes_count(codes); i++) {
			const struct code_entry *e = codes_entry(codes, i);
			const char *c = e->code;
			size_t n = strlen(c);
			bool generic = c[0] == 'X';

			if (n == 3) {
				if (pass == 0 &&
				    codes_row_insert(st, ins, c, "reply", e, cause) != 0)
					goto out;
			} else if (n >= 5 && (c[2] == 'X' || c[4] == 'X')) {
				if (pass == 0 &&
				    codes_row_insert(st, ins, c, c[2] == 'X' ? "class" : "subject",
				                     e, cause) != 0)
					goto out;
			} else if (!generic) {
				if (pass == 0 &&
				    codes_row_insert(st, ins, c, "enhanced", e, cause) != 0)
					goto out;
			} else if (pass == 1) {
				static const int classes[] = {2, 4, 5};

				for (int k = 0; k < 3; k++) {
					char concrete[CODE_MAX + 2];

					codes_concrete(c, classes[k], concrete, sizeof concrete);
					if (codes_row_insert(st, ins, concrete, "enhanced", e,
					                     cause) != 0)
						goto out;
				}
			}
		}
	}
	if (prepare(st,
	            "INSERT OR REPLACE INTO meta(key, value)"
	            " SELECT 'codes', ?1 || ' ' || count(*) FROM codes",
	            &s, cause) != 0)
		goto out;
	sqlite3_bind_text(s, 1, digest, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE) {
		set_cause(cause, "%s: %s", st->path, sqlite3_errmsg(st->db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(s);
	sqlite3_finalize(ins);
	return rc;
}
