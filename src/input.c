/*
 * input.c - log input: files, stdin and gzip streams, turned into lines.
 *
 * Plain files are read with read(2) in INPUT_BLOCK chunks; gzip files and
 * stdin go through zlib (which passes non-gzip data through unchanged, so a
 * gzipped stream on stdin works too).  Lines are found with memchr and
 * returned as spans into one buffer, so the hot path never allocates.
 */
#include "config.h"

#include "input.h"

#include "diag.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define INPUT_BLOCK   (1024 * 1024)
#define INPUT_BUFSIZE (INPUT_MAX_LINE + INPUT_BLOCK)

struct input {
	char *path;
	int fd;
	gzFile gz;
	bool is_stdin;
	bool is_gzip;
	bool eof;
	bool skipping; /* discarding the rest of an over-long line */
	int64_t file_size;
	time_t mtime;
	char *buf;
	size_t start; /* first unreturned byte */
	size_t end;   /* end of valid data */
	uint64_t line_no;
	uint64_t offset; /* uncompressed offset of buf[start] */
};

/* gz_message - zlib's message without the "<fd:N>: " it prefixes */
static const char *
gz_message(gzFile gz, int *err)
{
	const char *msg = gzerror(gz, err);

	if (strncmp(msg, "<fd:", 4) == 0) {
		const char *colon = strstr(msg, ": ");

		if (colon != NULL)
			msg = colon + 2;
	}
	return msg;
}

static ssize_t
input_read_raw(struct input *in, char *dst, size_t n, char **cause)
{
	if (in->gz != NULL) {
		int got = gzread(in->gz, dst, (unsigned)n);
		int err;
		const char *msg;

		if (got < 0) {
			msg = gz_message(in->gz, &err);
			set_cause(cause, "%s: %s", in->path,
			          err == Z_ERRNO ? strerror(errno) : msg);
			return -1;
		}
		if (got == 0) {
			/* zlib reports a truncated stream only through gzerror */
			msg = gz_message(in->gz, &err);
			if (err != Z_OK && err != Z_STREAM_END) {
				set_cause(cause, "%s: %s", in->path, msg);
				return -1;
			}
		}
		return got;
	}
	for (;;) {
		ssize_t got = read(in->fd, dst, n);

		if (got >= 0)
			return got;
		if (errno == EINTR)
			continue;
		set_cause(cause, "%s: %s", in->path, strerror(errno));
		return -1;
	}
}

struct input *
input_open(const char *path, char **cause)
{
	struct input *in;
	struct stat st;
	unsigned char magic[2];
	int fd;

	if (strcmp(path, "-") == 0) {
		fd = dup(STDIN_FILENO);
		if (fd < 0) {
			set_cause(cause, "(stdin): %s", strerror(errno));
			return NULL;
		}
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			set_cause(cause, "%s: %s", path, strerror(errno));
			return NULL;
		}
	}
	if (fstat(fd, &st) != 0) {
		set_cause(cause, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if (S_ISDIR(st.st_mode)) {
		set_cause(cause, "%s: is a directory", path);
		close(fd);
		return NULL;
	}
	in = xcalloc(1, sizeof *in);
	in->path = xstrdup(strcmp(path, "-") == 0 ? "(stdin)" : path);
	in->fd = fd;
	in->is_stdin = strcmp(path, "-") == 0;
	in->file_size = S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
	in->mtime = S_ISREG(st.st_mode) ? st.st_mtime : time(NULL);
	if (S_ISREG(st.st_mode) && pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f &&
	    magic[1] == 0x8b)
		in->is_gzip = true;
	if (in->is_gzip || !S_ISREG(st.st_mode)) {
		/* zlib reads non-gzip data transparently: pipes may carry either */
		in->gz = gzdopen(fd, "rb");
		if (in->gz == NULL) {
			set_cause(cause, "%s: cannot start decompression", in->path);
			close(fd);
			free(in->path);
			free(in);
			return NULL;
		}
		gzbuffer(in->gz, 256 * 1024);
	}
#ifdef HAVE_POSIX_FADVISE
	if (S_ISREG(st.st_mode))
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	in->buf = xalloc_pages(INPUT_BUFSIZE);
	return in;
}

void
input_close(struct input *in)
{
	if (in == NULL)
		return;
	if (in->gz != NULL)
		gzclose(in->gz); /* closes fd */
	else
		close(in->fd);
	free_pages(in->buf, INPUT_BUFSIZE);
	free(in->path);
	free(in);
}

/* input_fill - read more data after in->end; 0 at EOF, -1 on error */
static ssize_t
input_fill(struct input *in, char **cause)
{
	ssize_t got;
	size_t room;

	if (in->start > 0 && (in->end == in->start || INPUT_BUFSIZE - in->end < INPUT_BLOCK)) {
		memmove(in->buf, in->buf + in->start, in->end - in->start);
		in->end -= in->start;
		in->start = 0;
	}
	room = INPUT_BUFSIZE - in->end;
	if (room > INPUT_BLOCK)
		room = INPUT_BLOCK;
	got = input_read_raw(in, in->buf + in->end, room, cause);
	if (got < 0)
		return -1;
	if (got == 0)
		in->eof = true;
	in->end += (size_t)got;
	return got;
}

int
input_next_line(struct input *in, struct line *out, char **cause)
{
	size_t scan = in->start;

	for (;;) {
		char *nl = memchr(in->buf + scan, '\n', in->end - scan);

		if (nl != NULL) {
			size_t len = (size_t)(nl - (in->buf + in->start));

			if (in->skipping) {
				/* the tail of an over-long line: drop it */
				in->offset += len + 1;
				in->start += len + 1;
				in->skipping = false;
				scan = in->start;
				continue;
			}
			out->p = in->buf + in->start;
			out->n = len;
			if (len > 0 && out->p[len - 1] == '\r')
				out->n--;
			out->truncated = false;
			in->offset += len + 1;
			in->start += len + 1;
			out->line_no = ++in->line_no;
			out->end_offset = in->offset;
			return 1;
		}
		if (in->end - in->start >= INPUT_MAX_LINE) {
			size_t len = in->end - in->start;

			if (in->skipping) {
				in->offset += len;
				in->start = in->end;
				scan = in->start;
				continue;
			}
			/* hand out the first INPUT_MAX_LINE bytes, skip the rest */
			out->p = in->buf + in->start;
			out->n = INPUT_MAX_LINE;
			out->truncated = true;
			in->offset += len;
			in->start = in->end;
			in->skipping = true;
			out->line_no = ++in->line_no;
			out->end_offset = in->offset;
			return 1;
		}
		if (in->eof) {
			size_t len = in->end - in->start;

			if (len == 0)
				return 0;
			if (in->skipping) {
				in->offset += len;
				in->start = in->end;
				in->skipping = false;
				return 0;
			}
			/* a last line without a newline */
			out->p = in->buf + in->start;
			out->n = len;
			if (out->p[len - 1] == '\r')
				out->n--;
			out->truncated = false;
			in->offset += len;
			in->start = in->end;
			out->line_no = ++in->line_no;
			out->end_offset = in->offset;
			return 1;
		}
		scan = in->end;
		{
			size_t before = in->start;
			ssize_t got = input_fill(in, cause);

			if (got < 0)
				return -1;
			scan -= before - in->start;
		}
	}
}

int
input_skip(struct input *in, uint64_t offset, uint64_t line_no, char **cause)
{
	uint64_t buffered = in->end - in->start;
	uint64_t left;

	if (in->line_no != 0 || in->offset != 0) {
		set_cause(cause, "%s: cannot skip after reading", in->path);
		return -1;
	}
	/* bytes already peeked count first */
	if (offset <= buffered) {
		in->start += (size_t)offset;
		in->offset = offset;
		in->line_no = line_no;
		return 0;
	}
	left = offset - buffered;
	in->start = in->end = 0;
	if (in->gz == NULL && !in->is_stdin) {
		if (lseek(in->fd, (off_t)offset, SEEK_SET) == (off_t)-1) {
			set_cause(cause, "%s: %s", in->path, strerror(errno));
			return -1;
		}
		in->eof = false;
		left = 0;
	}
	/* gzip streams and pipes cannot seek: read and discard */
	while (left > 0) {
		size_t want = left < INPUT_BUFSIZE ? (size_t)left : INPUT_BUFSIZE;
		ssize_t got = input_read_raw(in, in->buf, want, cause);

		if (got < 0)
			return -1;
		if (got == 0) {
			set_cause(cause, "%s: shorter than the %llu bytes already read", in->path,
			          (unsigned long long)offset);
			return -1;
		}
		left -= (uint64_t)got;
	}
	in->offset = offset;
	in->line_no = line_no;
	return 0;
}

ssize_t
input_peek(struct input *in, char *buf, size_t n, char **cause)
{
	while (in->end - in->start < n && !in->eof) {
		if (input_fill(in, cause) < 0)
			return -1;
	}
	if (n > in->end - in->start)
		n = in->end - in->start;
	memcpy(buf, in->buf + in->start, n);
	return (ssize_t)n;
}

const char *
input_path(const struct input *in)
{
	return in->path;
}

bool
input_is_gzip(const struct input *in)
{
	return in->is_gzip;
}

bool
input_is_stdin(const struct input *in)
{
	return in->is_stdin;
}

int64_t
input_file_size(const struct input *in)
{
	return in->file_size;
}

int64_t
input_raw_offset(const struct input *in)
{
	if (in->gz != NULL)
		return (int64_t)gzoffset(in->gz);
	return (int64_t)in->offset;
}

time_t
input_mtime(const struct input *in)
{
	return in->mtime;
}
