/*
 * ingest.h - one input through the pipeline: read, envelope, extract, store.
 *
 * Owns: the per-line loop, its counters, resuming an input where the
 * database says an earlier run stopped, checkpoints (commit + offset), and
 * the --unmatched output.  It calls each stage; no stage calls it.
 */
#ifndef SMTPLOG_INGEST_H
#define SMTPLOG_INGEST_H

#include "patterns.h"
#include "store.h"

#include <stdio.h>

struct redactor;

struct ingest_options {
	struct redactor *redact; /* --redact, or NULL */
	int forced_year;         /* --year, or 0 */
	FILE *unmatched;         /* --unmatched, or NULL */
	int progress; /* progress on stderr: 0 off, 1 on, 2 when the input is over 8 MB */
};

/* What one run did to one input. */
struct ingest_result {
	int64_t source_id;
	bool resumed;           /* the database knew this input */
	uint64_t skipped_bytes; /* already stored by earlier runs */
	uint64_t new_lines;
	uint64_t new_events;
	uint64_t too_long; /* lines cut at INPUT_MAX_LINE */
	uint64_t capped;   /* recipients beyond EXTRACT_MAX_EVENTS */
};

/* ingest_file - read PATH ("-" for stdin) into ST.  0 on success; -1 with
 * *cause when the input could not be read (what was read is committed) or
 * the database could not be written. */
int ingest_file(struct store *st, struct patterns *pats, const char *path,
                const struct ingest_options *opt, struct ingest_result *res, char **cause);

#endif
