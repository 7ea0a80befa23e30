/*
 * ingest.c - one input through the pipeline: read, envelope, extract, the
 * findings of each failure's own text (analyze_event_text), store.
 *
 * The loop allocates nothing per line: lines are spans into the input's
 * buffer, events are copied into one of a ring of preallocated batches,
 * and the store inserts a batch's events from their spans.
 * A checkpoint (the source's offset and counters, then COMMIT) is written
 * every CHECKPOINT_LINES lines (BULK_CHECKPOINT_LINES during a bulk load)
 * and at the end, so a kill at any moment leaves the database at a
 * checkpoint and the next run resumes from it.
 */
#include "config.h"

#include "ingest.h"

#include "analyze.h"
#include "classify.h"
#include "diag.h"
#include "envelope.h"
#include "extract.h"
#include "input.h"
#include "redact.h"

#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* In WAL mode a transaction's pages wait in the WAL until it commits, so
 * commits come often.  A bulk load writes through a rollback journal that
 * holds none of the new pages, and each commit costs the writer a sync of
 * what the background syncs have not covered yet (8-12 ms on this ext4):
 * three commits a 100 MB of Postfix took 4-5% of a first load's time
 * (1 GB 2.02 -> 1.95 s, bounce-heavy Exim 0.92 -> 0.88 s, median of 3-5
 * alternating runs); four times fewer was as fast as sixteen times fewer.
 * After a kill the next run reads at most that many lines again, a second
 * or so of work. */
#define CHECKPOINT_LINES      (256 * 1024)
#define BULK_CHECKPOINT_LINES (1024 * 1024)

static void
progress_print(struct input *in, time_t start, bool final)
{
	int64_t done = input_raw_offset(in), size = input_file_size(in);
	double secs = difftime(time(NULL), start);
	double mbs = secs > 0 ? (double)done / 1e6 / secs : 0;

	if (size > 0) {
		double eta = mbs > 0 ? (double)(size - done) / 1e6 / mbs : 0;

		fprintf(stderr, "\r%s: %.0f/%.0f MB, %.0f MB/s, ETA %.0f s   ", input_path(in),
		        (double)done / 1e6, (double)size / 1e6, mbs, eta);
	} else
		fprintf(stderr, "\r%s: %.0f MB, %.0f MB/s   ", input_path(in), (double)done / 1e6,
		        mbs);
	if (final)
		fputc('\n', stderr);
}

/*
 * The pipeline: this thread reads, parses and extracts into a batch; a
 * writer thread stores full batches in SQLite, in the order they were
 * filled.  A batch owns copies of its events' text (the line buffer moves
 * on), and may end with a checkpoint: the source's state to record after
 * its events, in the same transaction.  With one CPU the writer runs
 * inline; the code path is the same.
 *
 * PIPELINE_BATCHES batches go round a ring, so that the reader goes on
 * while the writer waits for the disk at a commit (SQLite syncs the
 * journal and the database file).  1 GB of Postfix: with two batches of
 * 4096 events the reader waited 0.28-0.32 s for the writer, reading took
 * 2.0-2.5 s; with eight of 2048, 0.02-0.03 s and 1.7 s, for 7 MiB more
 * peak memory (39 MiB).  Their events (760 bytes each, 12 MiB) lie in one
 * block of huge pages where the system has them (xalloc_pages): 2.5k page
 * faults fewer, 100 MB of Postfix 0.384 -> 0.357 s.
 */
#define PIPELINE_BATCHES 8
#define BATCH_EVENTS     2048
#define BATCH_ARENA      (2 * 1024 * 1024)
#define PIPELINE_EVENTS  (PIPELINE_BATCHES * BATCH_EVENTS)

struct batch {
	struct store_event *ev;
	size_t nev;
	char *arena;
	size_t used, size;
	bool checkpoint;
	bool texts; /* its events' texts are judged (batch_texts) */
	struct source_state src;
};

struct pipeline {
	struct store *st;
	struct patterns *pats;        /* this thread's */
	struct patterns *writer_pats; /* the writer's: the same, its own match data */
	bool threaded;
	pthread_t writer;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct batch batches[PIPELINE_BATCHES];
	struct store_event *events; /* the batches' events, one block */
	size_t head;                /* the next batch the writer stores */
	size_t queued;              /* batches handed to the writer, not yet stored */
	bool closing;
	bool failed;
	double waited;       /* seconds the reader waited for the writer */
	double writer_cpu;   /* the writer thread's CPU seconds */
	double reader_cpu;   /* this thread's CPU seconds at pipeline_init */
	size_t reader_texts; /* batches whose texts this thread judged */
	char *cause;
};

/* batch_texts - the reason signature of each event of B and what its
 * text tells (analyze_event_text), once, with PATS */
static void
batch_texts(struct batch *b, struct patterns *pats)
{
	if (b->texts)
		return;
	for (size_t i = 0; i < b->nev; i++) {
		classify_event_reason(&b->ev[i].ev);
		analyze_event_text(pats, &b->ev[i].ev);
	}
	b->texts = true;
}

/* batch_store - the writer's work on one batch: its texts judged with
 * PATS if the reader left them (pipeline_submit), then the store; false on
 * a database error (in pl->cause).  FAILED: an earlier batch failed, store
 * nothing more. */
static bool
batch_store(struct pipeline *pl, struct batch *b, struct patterns *pats, bool failed)
{
	bool ok;

	if (!failed)
		batch_texts(b, pats);
	ok = !failed && store_add_events(pl->st, &b->src, b->ev, b->nev, &pl->cause) == 0;

	if (ok && b->checkpoint && store_checkpoint(pl->st, &b->src, &pl->cause) != 0)
		ok = false;
	b->nev = 0;
	b->used = 0;
	b->checkpoint = false;
	b->texts = false;
	return ok;
}

/* thread_cpu - the calling thread's CPU seconds so far */
static double
thread_cpu(void)
{
	struct timespec t;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0)
		return 0;
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *
writer_main(void *arg)
{
	struct pipeline *pl = arg;

	diag_name_thread("smtplog-writer");
	pthread_mutex_lock(&pl->lock);
	for (;;) {
		struct batch *b;

		while (pl->queued == 0 && !pl->closing)
			pthread_cond_wait(&pl->changed, &pl->lock);
		if (pl->queued == 0)
			break;
		bool failed = pl->failed, ok;

		b = &pl->batches[pl->head];
		pthread_mutex_unlock(&pl->lock);
		ok = batch_store(pl, b, pl->writer_pats, failed);
		pthread_mutex_lock(&pl->lock);
		if (!ok)
			pl->failed = true;
		pl->head = (pl->head + 1) % PIPELINE_BATCHES;
		pl->queued--;
		pthread_cond_broadcast(&pl->changed);
	}
	pthread_mutex_unlock(&pl->lock);
	pl->writer_cpu = thread_cpu();
	return NULL;
}

static void
pipeline_init(struct pipeline *pl, struct store *st, struct patterns *pats)
{
	memset(pl, 0, sizeof *pl);
	pl->st = st;
	pl->pats = pats;
	pl->events = xalloc_pages(PIPELINE_EVENTS * sizeof *pl->events);
	for (int i = 0; i < PIPELINE_BATCHES; i++) {
		pl->batches[i].ev = pl->events + i * BATCH_EVENTS;
		pl->batches[i].size = BATCH_ARENA;
		pl->batches[i].arena = xmalloc(BATCH_ARENA);
	}
	pthread_mutex_init(&pl->lock, NULL);
	pthread_cond_init(&pl->changed, NULL);
	pl->reader_cpu = thread_cpu();
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1) {
		pl->writer_pats = patterns_for_thread(pats);
		pl->threaded = pthread_create(&pl->writer, NULL, writer_main, pl) == 0;
		if (!pl->threaded) {
			patterns_free(pl->writer_pats);
			pl->writer_pats = NULL;
		}
	}
}

/* pipeline_submit - hand B over; returns the batch to fill next */
static struct batch *
pipeline_submit(struct pipeline *pl, struct batch *b)
{
	struct batch *next;

	if (!pl->threaded) {
		if (!batch_store(pl, b, pl->pats, pl->failed))
			pl->failed = true;
		return b;
	}
	/* The events' texts (reason signatures and wording signatures, a
	 * fifth to a third of the parsing work) are judged on the thread with
	 * time to spare: the writer when no batch waits behind the one it is
	 * storing, else this one.  Reasons always on the writer, 1 GB of
	 * Postfix was read in 2.25 s instead of 2.58, but 100 MB of
	 * bounce-heavy Postfix in 0.45 s instead of 0.42 (the writer became
	 * the slower thread); shared this way, 1.74 s instead of 1.84, 0.417
	 * instead of 0.432, Exim 0.452 instead of 0.478 (read, min of 3). */
	pthread_mutex_lock(&pl->lock);
	bool writer_busy = pl->queued > 1;
	pthread_mutex_unlock(&pl->lock);
	if (writer_busy && !b->texts) {
		batch_texts(b, pl->pats);
		pl->reader_texts++;
	}
	pthread_mutex_lock(&pl->lock);
	/* B is the ring's slot after the queued ones: it joins them */
	pl->queued++;
	pthread_cond_broadcast(&pl->changed);
	if (pl->queued == PIPELINE_BATCHES) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (pl->queued == PIPELINE_BATCHES)
			pthread_cond_wait(&pl->changed, &pl->lock);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		pl->waited += diag_seconds(&t0, &t1);
	}
	next = &pl->batches[(pl->head + pl->queued) % PIPELINE_BATCHES];
	pthread_mutex_unlock(&pl->lock);
	return next;
}

/* pipeline_finish - wait for the writer; 0, or -1 with *cause */
static int
pipeline_finish(struct pipeline *pl, char **cause)
{
	if (pl->threaded) {
		pthread_mutex_lock(&pl->lock);
		pl->closing = true;
		pthread_cond_broadcast(&pl->changed);
		pthread_mutex_unlock(&pl->lock);
		pthread_join(pl->writer, NULL);
		patterns_free(pl->writer_pats);
	}
	diag_timing("waiting for the writer", pl->waited);
	{
		char name[64];

		/* and of how many batches it judged the texts (pipeline_submit) */
		snprintf(name, sizeof name, "the reader's CPU (%zu)", pl->reader_texts);
		diag_timing(name, thread_cpu() - pl->reader_cpu);
	}
	if (pl->threaded)
		diag_timing("the writer's CPU", pl->writer_cpu);
	pthread_mutex_destroy(&pl->lock);
	pthread_cond_destroy(&pl->changed);
	for (int i = 0; i < PIPELINE_BATCHES; i++)
		free(pl->batches[i].arena);
	free_pages(pl->events, PIPELINE_EVENTS * sizeof *pl->events);
	if (pl->failed) {
		set_cause(cause, "%s", pl->cause ? pl->cause : "database write failed");
		free(pl->cause);
		return -1;
	}
	free(pl->cause);
	return 0;
}

/* pipeline_failed - has the writer given up on a database error? */
static bool
pipeline_failed(struct pipeline *pl)
{
	bool f;

	pthread_mutex_lock(&pl->lock);
	f = pl->failed;
	pthread_mutex_unlock(&pl->lock);
	return f;
}

static size_t
span_bytes(struct span s)
{
	return s.p ? s.n : 0;
}

static void
copy_span(struct batch *b, struct span *s)
{
	if (s->p == NULL)
		return;
	memcpy(b->arena + b->used, s->p, s->n);
	s->p = b->arena + b->used;
	b->used += s->n;
}

/* batch_add - copy one event and its envelope into B; false if B must be
 * handed over first */
static bool
batch_add(struct batch *b, uint64_t line_no, const struct envelope *env, const struct event *ev)
{
	struct store_event *be;
	bool reply_inside = event_reply_in_response(ev);
	size_t need = span_bytes(env->host) + span_bytes(env->program) + span_bytes(ev->queue_id) +
	              span_bytes(ev->sender) + span_bytes(ev->recipient) +
	              span_bytes(ev->orig_recipient) + span_bytes(ev->relay) +
	              span_bytes(ev->client) + span_bytes(ev->response) +
	              (reply_inside ? 0 : span_bytes(ev->reply));

	if (b->nev == BATCH_EVENTS || b->used + need > b->size) {
		if (b->nev > 0)
			return false;
		/* one event larger than the arena: grow it while it is empty */
		b->size = need;
		b->arena = xreallocarray(b->arena, need, 1);
	}
	be = &b->ev[b->nev++];
	be->line_no = line_no;
	be->env = *env;
	be->ev = *ev;
	copy_span(b, &be->env.host);
	copy_span(b, &be->env.program);
	be->env.msg = SPAN_NONE;
	be->env.pid = SPAN_NONE;
	copy_span(b, &be->ev.queue_id);
	copy_span(b, &be->ev.sender);
	copy_span(b, &be->ev.recipient);
	copy_span(b, &be->ev.orig_recipient);
	copy_span(b, &be->ev.relay);
	copy_span(b, &be->ev.client);
	copy_span(b, &be->ev.response);
	/* the reason is signed from the reply later (batch_texts) */
	if (reply_inside)
		be->ev.reply.p = be->ev.response.p + (ev->reply.p - ev->response.p);
	else
		copy_span(b, &be->ev.reply);
	return true;
}

int
ingest_file(struct store *st, struct patterns *pats, const char *path,
            const struct ingest_options *opt, struct ingest_result *res, char **cause)
{
	struct input *in;
	struct source_state src;
	struct envelope_year year;
	struct line line;
	struct envelope env;
	struct event *events;
	char head[STORE_FINGERPRINT_BYTES];
	ssize_t nhead;
	uint64_t since_checkpoint = 0, checkpoint_lines;
	time_t start = time(NULL), last_progress = start;
	bool show_progress;
	struct pipeline pl;
	struct batch *b;
	int rc = 0, got;

	memset(res, 0, sizeof *res);
	in = input_open(path, cause);
	if (in == NULL)
		return -1;
	events = xcalloc(EXTRACT_MAX_EVENTS, sizeof *events);
	nhead = input_peek(in, head, sizeof head, cause);
	if (nhead < 0) {
		input_close(in);
		free(events);
		return -1;
	}
	if (store_source_find(st, input_path(in), head, (size_t)nhead, input_is_stdin(in), &src,
	                      &res->resumed, cause) != 0) {
		input_close(in);
		free(events);
		return -1;
	}
	res->source_id = src.id;
	if (src.offset > 0) {
		int64_t size = input_file_size(in);

		if (!input_is_gzip(in) && size >= 0 && (uint64_t)size < src.offset) {
			/* same first bytes, yet shorter than what we stored: rewritten
			 * in place; its lines were counted once already */
			input_close(in);
			free(events);
			return store_checkpoint(st, &src, cause);
		}
		if (input_skip(in, src.offset, src.lines, cause) != 0) {
			input_close(in);
			free(events);
			return -1;
		}
		res->skipped_bytes = src.offset;
	}
	envelope_year_init(&year, input_mtime(in), opt->forced_year);
	show_progress =
	    opt->progress == 1 ||
	    (opt->progress == 2 && (input_file_size(in) < 0 || input_file_size(in) > 8000000));
	checkpoint_lines = store_in_bulk(st) ? BULK_CHECKPOINT_LINES : CHECKPOINT_LINES;
	{
		/* for the tests of a kill between checkpoints (kill.sh): a
		 * multiple of CHECKPOINT_LINES */
		const char *every = getenv("SMTPLOG_CHECKPOINT_LINES");
		uint64_t n = every != NULL ? strtoull(every, NULL, 10) : 0;

		if (n > 0)
			checkpoint_lines = n;
	}
	pipeline_init(&pl, st, pats);
	b = &pl.batches[0];
	b->src = src;
	while ((got = input_next_line(in, &line, cause)) == 1) {
		size_t n = 0;
		enum extract_result r;

		src.lines = line.line_no;
		src.offset = line.end_offset;
		res->new_lines++;
		if (line.truncated)
			res->too_long++;
		if (!envelope_parse(line.p, line.n, &year, &env)) {
			src.unparsed++;
		} else {
			r = extract_line(pats, &env, events, EXTRACT_MAX_EVENTS, &n);
			if (r == EXTRACT_EVENTS) {
				src.matched++;
				for (size_t i = 0; i < n; i++) {
					if (opt->redact != NULL)
						redact_event(opt->redact, &events[i]);
					if (!batch_add(b, line.line_no, &env, &events[i])) {
						b = pipeline_submit(&pl, b);
						b->src = src;
						batch_add(b, line.line_no, &env, &events[i]);
					}
				}
				src.events += n;
				res->new_events += n;
			} else if (r == EXTRACT_CANDIDATE) {
				src.candidates++;
				if (opt->unmatched != NULL) {
					struct span s = {line.p, line.n};

					if (opt->redact != NULL)
						s = redact_text(opt->redact, 3, s);
					fwrite(s.p, 1, s.n, opt->unmatched);
					fputc('\n', opt->unmatched);
				}
			}
		}
		if (++since_checkpoint % CHECKPOINT_LINES == 0) {
			if (since_checkpoint >= checkpoint_lines) {
				since_checkpoint = 0;
				b->checkpoint = true;
				b->src = src;
				b = pipeline_submit(&pl, b);
				b->src = src;
			}
			if (pipeline_failed(&pl))
				break;
			if (show_progress) {
				time_t now = time(NULL);

				if (now != last_progress) {
					last_progress = now;
					progress_print(in, start, false);
				}
			}
		}
	}
	if (got < 0)
		rc = -1; /* keep what was read before the error */
	/* the last batch, with the final checkpoint */
	b->checkpoint = true;
	b->src = src;
	pipeline_submit(&pl, b);
	{
		char *cause2 = NULL;

		if (pipeline_finish(&pl, rc == 0 ? cause : &cause2) != 0) {
			/* the events after the last checkpoint must not be
			 * committed without it: the next run reads them again */
			store_rollback(st);
			rc = -1;
		}
		free(cause2);
	}
	if (show_progress && last_progress != start)
		progress_print(in, start, true);
	input_close(in);
	free(events);
	return rc;
}
