/*
 * input.h - log input: files, stdin and gzip streams, turned into lines.
 *
 * Owns: opening an input ("-" is stdin), detecting gzip by its magic bytes,
 * reading in large blocks and handing out lines as spans into its own buffer,
 * with 1-based line numbers and the byte offset (in the uncompressed stream)
 * just past each line, so a later run can resume there.
 * Does not own: what a line means (envelope.c) or resume policy (store.c).
 *
 * A line is valid until the next call to input_next_line().  The trailing
 * "\n" and a "\r" before it are removed; any other byte, NUL included, is
 * kept.  A line longer than INPUT_MAX_LINE is cut at that length, flagged
 * truncated, and the rest of it is skipped (counted in the offset).
 */
#ifndef SMTPLOG_INPUT_H
#define SMTPLOG_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define INPUT_MAX_LINE (1024 * 1024)

struct input;

struct line {
	const char *p;
	size_t n;
	uint64_t line_no;    /* 1-based */
	uint64_t end_offset; /* uncompressed byte offset just past the newline */
	bool truncated;
};

/* input_open - open PATH ("-" for stdin); NULL with *cause on failure */
struct input *input_open(const char *path, char **cause);
/* input_close - release; accepts NULL */
void input_close(struct input *in);

/* input_next_line - 1 and *out on a line, 0 at end, -1 with *cause on a
 * read or decompression error (lines before it were valid) */
int input_next_line(struct input *in, struct line *out, char **cause);

/* input_skip - skip to uncompressed OFFSET, numbering the next line
 * LINE_NO + 1; -1 with *cause if the input is shorter than OFFSET */
int input_skip(struct input *in, uint64_t offset, uint64_t line_no, char **cause);

/* input_peek - copy up to N of the first bytes of the uncompressed
 * stream into BUF before any line is read (for fingerprints); returns the
 * count, or -1 with *cause */
ssize_t input_peek(struct input *in, char *buf, size_t n, char **cause);

const char *input_path(const struct input *in);
bool input_is_gzip(const struct input *in);
bool input_is_stdin(const struct input *in);
/* input_file_size - size on disk (compressed for gzip), -1 for pipes */
int64_t input_file_size(const struct input *in);
/* input_raw_offset - bytes consumed from the file itself so far (for progress) */
int64_t input_raw_offset(const struct input *in);
/* input_mtime - last modification time (now for pipes) */
time_t input_mtime(const struct input *in);

#endif
