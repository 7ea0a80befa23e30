/*
 * msg_runs.h - the events of a first load, kept for a first analysis as
 * compact records sorted by message key (an external sort).
 *
 * Owns: the records (message key, id, time, status, class, the two flags a
 * 4xx deferral carries into a chain of retries, recipient and the message's
 * exact identity), runs of them sorted in memory, the runs past the last
 * written to one unlinked temporary file, and their merge in (key, id)
 * order.
 * Does not own: which events are recorded and whether the records cover
 * the table (store.c), the judging (analyze.c).
 *
 * Why: a first analysis otherwise reads every event of the messages that
 * failed back from the table and has SQLite sort them by message key
 * (Exim's bounce-heavy 100 MB: 0.34 s, a third of the run, 0.13 s of it
 * the sort); the writer has each event at hand as it stores it.
 */
#ifndef SMTPLOG_MSG_RUNS_H
#define SMTPLOG_MSG_RUNS_H

#include "event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One event as the analysis of its message reads it. */
struct msg_rec {
	int64_t key; /* events.message_key */
	int64_t id;
	int64_t ts; /* epoch seconds, when has_ts */
	bool has_ts;
	bool other_cause; /* a 4xx deferral whose words name another cause than greylisting */
	bool text_grey;   /* a 4xx deferral greylisted by its words */
	enum status status;
	int klass;             /* -1: none */
	struct span recipient; /* p NULL: none */
	/* mta, host and queue ID joined by 0x1f (a missing host: 0x1e), as
	 * analyze.c compares messages; filled by msg_runs_next */
	struct span identity;
};

struct msg_runs;

/* msg_runs_new - empty, with runs of RUN_BYTES (0: 4 MiB) and merge
 * buffers of MERGE_BYTES in all (0: 4 MiB) */
struct msg_runs *msg_runs_new(size_t run_bytes, size_t merge_bytes);
void msg_runs_free(struct msg_runs *mr);

/* msg_runs_add - record R (its identity from MTA, HOST and QUEUE_ID; R's
 * own identity is not read); records come in id order.  false once a run
 * could not be written: then nothing more is kept. */
bool msg_runs_add(struct msg_runs *mr, const struct msg_rec *r, const char *mta, struct span host,
                  struct span queue_id);

/* msg_runs_count - the records added */
uint64_t msg_runs_count(const struct msg_runs *mr);

/* msg_runs_start - end the adding and start the merge; false if a run
 * could not be written or read */
bool msg_runs_start(struct msg_runs *mr);

/* msg_runs_next - the next record in (key, id) order into *R, its texts
 * valid until the next call: 1, 0 at the end, -1 on a read error */
int msg_runs_next(struct msg_runs *mr, struct msg_rec *r);

#endif
