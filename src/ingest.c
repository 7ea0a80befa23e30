/*
 * ingest.c - one input through the pipeline: read, envelope, extract, store.
 *
 * The loop allocates nothing per line: lines are spans into the input's
 * buffer, envelopes and events live on the stack, SQLite binds the spans.
 * A checkpoint (the source's offset and counters, then COMMIT) is written
 * every CHECKPOINT_LINES lines and at the end, so a kill at any moment
 * leaves the database at a checkpoint and the next run resumes from it.
 */
#include "config.h"

#include "ingest.h"

#include "diag.h"
#include "envelope.h"
#include "extract.h"
#include "input.h"
#include "redact.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHECKPOINT_LINES (256 * 1024)

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
	uint64_t since_checkpoint = 0;
	time_t start = time(NULL), last_progress = start;
	bool show_progress;
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
	show_progress = opt->progress == 1 ||
	    (opt->progress == 2 && (input_file_size(in) < 0 || input_file_size(in) > 8000000));
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
					if (store_add_event(st, &src, line.line_no, &env, &events[i],
						cause) != 0) {
						rc = -1;
						goto out;
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
		if (++since_checkpoint >= CHECKPOINT_LINES) {
			since_checkpoint = 0;
			if (store_checkpoint(st, &src, cause) != 0) {
				rc = -1;
				goto out;
			}
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
	{
		char *cause2 = NULL;

		if (store_checkpoint(st, &src, rc == 0 ? cause : &cause2) != 0)
			rc = -1;
		free(cause2);
	}
	if (show_progress && last_progress != start)
		progress_print(in, start, true);
out:
	input_close(in);
	free(events);
	return rc;
}
