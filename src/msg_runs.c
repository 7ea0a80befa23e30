/*
 * msg_runs.c - the events of a first load as message records, sorted by
 * message key in runs and merged (see msg_runs.h).
 *
 * A run is what fits in RUN_BYTES: records appended back to back in one
 * block, and an index of (key, offset) pairs sorted by a stable radix sort
 * on the key, so that a message's events stay in the order they came (id
 * order).  A full run is written, in key order, to an unlinked temporary
 * file ($TMPDIR, else /var/tmp or /tmp); the last run stays in memory.
 * The merge takes the smallest key among the runs' next records, the
 * earlier run on a tie: (key, id) order, as the ids grow from run to run.  A record
 * larger than a run is a run of its own.  Memory: one block of 2 MiB for
 * the run, then the merge's read buffers (MERGE_BYTES shared by the
 * written runs, 16 KiB at least each: 2 MiB up to 128 runs, 160 MB of
 * records; at most four times MERGE_BYTES, 512 runs: past that, runs are
 * merged 512 at a time first).
 */
#include "config.h"

#include "msg_runs.h"

#include "diag.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* A run's records, its index and the sort's second index share one
 * block (RUN_BYTES of records, an index entry per INDEX_PER records' bytes)
 * of 2 MiB, one huge page where the system has them: the first touch of a
 * huge page costs about a millisecond, where 512 pages of 4 KiB cost 5 ms
 * on a VM.  The merge's read buffers share another. */
#define RUN_BYTES_DEFAULT   (1280u * 1024)
#define INDEX_PER           64u
#define MERGE_BYTES_DEFAULT (2u * 1024 * 1024)
#define READ_MIN            (16u * 1024)
#define WRITE_BUF           (256u * 1024)

/* a record as stored: this head, the recipient's bytes, the identity's,
 * padded to 8 bytes */
struct rec_head {
	int64_t key, id, ts;
	uint32_t rlen; /* NO_RECIPIENT: none */
	uint32_t ilen;
	int32_t klass;
	uint8_t status, flags;
	uint8_t pad[2];
};
#define NO_RECIPIENT UINT32_MAX
/* no record is larger (lines are cut at 1 MiB): one read back larger is
 * taken for a damaged file */
#define MAX_RECORD (8u * 1024 * 1024)
#define F_TS       1u
#define F_OTHER    2u
#define F_GREY     4u

struct idx {
	uint64_t ukey; /* the key with its sign bit flipped: unsigned order is signed order */
	uint64_t off;
};

struct reader {
	bool mem; /* the run in memory */
	bool done;
	size_t next;    /* mem: the next index entry */
	off_t pos, end; /* file: the run's unread bytes */
	char *buf;      /* file: the bytes read, [at, have) not yet taken */
	size_t size, at, have;
	bool own_buf;      /* buf grew out of the shared buffers: malloc'd */
	struct rec_head h; /* the current record */
	const char *rec;   /* the current record's bytes: h, then its texts */
};

/* a merge of runs: readers in run order, a heap of those not done */
struct merge {
	struct reader *readers;
	size_t nreaders;
	size_t *heap; /* smallest (key, run) first */
	size_t nheap;
	bool pending; /* the heap's top record was given: advance it first */
	char *bufs;   /* the written runs' read buffers */
	size_t bufs_size;
};

struct run_span {
	off_t start, len;
};

struct msg_runs {
	size_t run_bytes, merge_bytes;
	char *region; /* the block, the index and the second index */
	size_t region_size;
	char *block; /* the run being filled */
	size_t used;
	struct idx *idx, *tmp;
	size_t nidx, idx_cap;
	uint64_t count;
	bool failed, started;
	int fd; /* the temporary file, -1 until a run is written */
	off_t file_end;
	struct run_span *runs; /* the written runs */
	size_t nruns;
	struct merge merge; /* once started */
};

static void merge_close(struct merge *m);

static size_t
rec_size(const struct rec_head *h)
{
	size_t n = sizeof *h + (h->rlen == NO_RECIPIENT ? 0 : h->rlen) + h->ilen;

	return (n + 7) & ~(size_t)7;
}

struct msg_runs *
msg_runs_new(size_t run_bytes, size_t merge_bytes)
{
	struct msg_runs *mr = xcalloc(1, sizeof *mr);

	mr->run_bytes = run_bytes ? run_bytes : RUN_BYTES_DEFAULT;
	mr->merge_bytes = merge_bytes ? merge_bytes : MERGE_BYTES_DEFAULT;
	mr->fd = -1;
	return mr;
}

void
msg_runs_free(struct msg_runs *mr)
{
	if (mr == NULL)
		return;
	free_pages(mr->region, mr->region_size);
	merge_close(&mr->merge);
	free(mr->runs);
	if (mr->fd >= 0)
		close(mr->fd);
	free(mr);
}

uint64_t
msg_runs_count(const struct msg_runs *mr)
{
	return mr->count;
}

/* sort_run - the index by key, stably: eight passes of one byte, a pass
 * skipped where every key has the same byte */
static void
sort_run(struct msg_runs *mr)
{
	for (unsigned shift = 0; shift < 64; shift += 8) {
		size_t count[256] = {0}, pos = 0;
		struct idx *t;

		for (size_t i = 0; i < mr->nidx; i++)
			count[(mr->idx[i].ukey >> shift) & 0xff]++;
		if (count[(mr->idx[0].ukey >> shift) & 0xff] == mr->nidx)
			continue;
		for (size_t b = 0; b < 256; b++) {
			size_t c = count[b];

			count[b] = pos;
			pos += c;
		}
		for (size_t i = 0; i < mr->nidx; i++)
			mr->tmp[count[(mr->idx[i].ukey >> shift) & 0xff]++] = mr->idx[i];
		t = mr->idx;
		mr->idx = mr->tmp;
		mr->tmp = t;
	}
}

/* write_all - N bytes of P at the temporary file's end */
static bool
write_all(struct msg_runs *mr, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(mr->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
		mr->file_end += w;
	}
	return true;
}

/* open_file - the unlinked temporary file the runs are written to: in
 * $TMPDIR when it is set, else in /var/tmp, else /tmp, as SQLite chooses
 * for its own (/var/tmp is on disk where /tmp may be in memory) */
static bool
open_file(struct msg_runs *mr)
{
	const char *env = getenv("TMPDIR");
	bool own = env != NULL && *env != '\0';
	const char *dirs[] = {own ? env : "/var/tmp", "/tmp"};

	for (size_t i = 0; mr->fd < 0 && i < (own ? 1u : 2u); i++) {
		char *path = xasprintf("%s/smtplog-report-XXXXXX", dirs[i]);

		mr->fd = mkstemp(path);
		if (mr->fd >= 0)
			(void)unlink(path);
		free(path);
	}
	return mr->fd >= 0;
}

/* spill - sort the run in memory and write it out; the block is free again */
static bool
spill(struct msg_runs *mr)
{
	char *buf;
	size_t n = 0;
	struct run_span run;
	bool ok = true;

	if (mr->nidx == 0)
		return true;
	if (mr->fd < 0 && !open_file(mr))
		return false;
	sort_run(mr);
	run.start = mr->file_end;
	buf = xmalloc(WRITE_BUF);
	for (size_t i = 0; ok && i < mr->nidx; i++) {
		const char *r = mr->block + mr->idx[i].off;
		size_t len = rec_size((const struct rec_head *)(const void *)r);

		if (n + len > WRITE_BUF) {
			ok = write_all(mr, buf, n);
			n = 0;
		}
		if (len > WRITE_BUF)
			ok = ok && write_all(mr, r, len);
		else {
			memcpy(buf + n, r, len);
			n += len;
		}
	}
	ok = ok && write_all(mr, buf, n);
	free(buf);
	if (!ok)
		return false;
	run.len = mr->file_end - run.start;
	mr->runs = xreallocarray(mr->runs, mr->nruns + 1, sizeof *mr->runs);
	mr->runs[mr->nruns++] = run;
	mr->nidx = 0;
	mr->used = 0;
	return true;
}

/* reserve - room in the block for a record of LEN bytes (at most
 * run_bytes) */
static bool
reserve(struct msg_runs *mr, size_t len)
{
	if (mr->region == NULL) {
		mr->idx_cap = mr->run_bytes / INDEX_PER + 1;
		mr->region_size = mr->run_bytes + 2 * mr->idx_cap * sizeof(struct idx);
		mr->region = xalloc_pages(mr->region_size);
		mr->idx = (struct idx *)(void *)mr->region;
		mr->tmp = mr->idx + mr->idx_cap;
		mr->block = (char *)(mr->tmp + mr->idx_cap);
	}
	if (mr->used + len > mr->run_bytes || mr->nidx == mr->idx_cap)
		return spill(mr);
	return true;
}

/* add_run - a run of its own for the record P of LEN bytes, larger than a
 * run: after the run being filled, written as it is */
static bool
add_run(struct msg_runs *mr, const char *p, size_t len)
{
	struct run_span run;

	if (!spill(mr) || (mr->fd < 0 && !open_file(mr)))
		return false;
	run.start = mr->file_end;
	if (!write_all(mr, p, len))
		return false;
	run.len = (off_t)len;
	mr->runs = xreallocarray(mr->runs, mr->nruns + 1, sizeof *mr->runs);
	mr->runs[mr->nruns++] = run;
	return true;
}

static void
put_text(char **p, const char *t, size_t n)
{
	if (n > 0)
		memcpy(*p, t, n);
	*p += n;
}

bool
msg_runs_add(struct msg_runs *mr, const struct msg_rec *r, const char *mta, struct span host,
             struct span queue_id)
{
	struct rec_head h = {0};
	size_t mlen = strlen(mta), len;
	char *p, *start;
	bool big;

	if (mr->failed || mr->started)
		return false;
	/* the identity: mta, 0x1f, host or 0x1e, 0x1f, queue ID */
	len = mlen + 1 + (host.p == NULL ? 1 : host.n) + 1 + queue_id.n;
	if (r->recipient.n > MAX_RECORD || len > MAX_RECORD ||
	    ((sizeof h + r->recipient.n + len + 7) & ~(size_t)7) > MAX_RECORD) {
		mr->failed = true;
		return false;
	}
	h.ilen = (uint32_t)len;
	h.key = r->key;
	h.id = r->id;
	h.ts = r->ts;
	h.rlen = r->recipient.p == NULL ? NO_RECIPIENT : (uint32_t)r->recipient.n;
	h.klass = r->klass;
	h.status = (uint8_t)r->status;
	h.flags = (uint8_t)((r->has_ts ? F_TS : 0) | (r->other_cause ? F_OTHER : 0) |
	                    (r->text_grey ? F_GREY : 0));
	len = rec_size(&h);
	big = len > mr->run_bytes;
	if (big)
		p = start = xcalloc(1, len);
	else if (!reserve(mr, len)) {
		mr->failed = true;
		return false;
	} else
		p = start = mr->block + mr->used;
	memcpy(p, &h, sizeof h);
	p += sizeof h;
	if (r->recipient.p != NULL)
		put_text(&p, r->recipient.p, r->recipient.n);
	put_text(&p, mta, mlen);
	*p++ = '\x1f';
	if (host.p == NULL)
		*p++ = '\x1e';
	else
		put_text(&p, host.p, host.n);
	*p++ = '\x1f';
	put_text(&p, queue_id.p, queue_id.n);
	if (big) {
		bool ok = add_run(mr, start, len);

		free(start);
		if (!ok) {
			mr->failed = true;
			return false;
		}
	} else {
		mr->idx[mr->nidx++] = (struct idx){(uint64_t)h.key ^ (UINT64_C(1) << 63), mr->used};
		mr->used += len;
	}
	mr->count++;
	return true;
}

/* fill - at least NEED unread bytes in RD's buffer; false on a read error
 * or a run that ends early */
static bool
fill(const struct msg_runs *mr, struct reader *rd, size_t need)
{
	if (rd->have - rd->at >= need)
		return true;
	memmove(rd->buf, rd->buf + rd->at, rd->have - rd->at);
	rd->have -= rd->at;
	rd->at = 0;
	if (need > rd->size) {
		/* a record larger than the buffer: one of its own */
		char *b = xmalloc(need);

		memcpy(b, rd->buf, rd->have);
		if (rd->own_buf)
			free(rd->buf);
		rd->buf = b;
		rd->size = need;
		rd->own_buf = true;
	}
	while (rd->have < need) {
		size_t want = rd->size - rd->have;
		ssize_t got;

		if ((off_t)want > rd->end - rd->pos)
			want = (size_t)(rd->end - rd->pos);
		if (want == 0)
			return false;
		got = pread(mr->fd, rd->buf + rd->have, want, rd->pos);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return false;
		rd->have += (size_t)got;
		rd->pos += got;
	}
	return true;
}

/* advance - RD's next record; false on a read error */
static bool
advance(const struct msg_runs *mr, struct reader *rd)
{
	const char *r;

	if (rd->mem) {
		if (rd->next == mr->nidx) {
			rd->done = true;
			return true;
		}
		r = mr->block + mr->idx[rd->next++].off;
	} else {
		size_t len;

		if (rd->pos == rd->end && rd->at == rd->have) {
			rd->done = true;
			return true;
		}
		if (!fill(mr, rd, sizeof rd->h))
			return false;
		memcpy(&rd->h, rd->buf + rd->at, sizeof rd->h);
		if ((rd->h.rlen != NO_RECIPIENT && rd->h.rlen > MAX_RECORD) ||
		    rd->h.ilen > MAX_RECORD)
			return false;
		len = rec_size(&rd->h);
		if (len > MAX_RECORD || !fill(mr, rd, len))
			return false;
		r = rd->buf + rd->at;
		rd->at += len;
	}
	memcpy(&rd->h, r, sizeof rd->h);
	rd->rec = r;
	return true;
}

/* before - does reader A's record come before B's? */
static bool
before(const struct merge *m, size_t a, size_t b)
{
	const struct reader *x = &m->readers[a], *y = &m->readers[b];

	if (x->h.key != y->h.key)
		return x->h.key < y->h.key;
	return a < b; /* readers are in run order: the earlier ids first */
}

static void
sift_down(struct merge *m, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, s = i, t;

		if (l < m->nheap && before(m, m->heap[l], m->heap[s]))
			s = l;
		if (l + 1 < m->nheap && before(m, m->heap[l + 1], m->heap[s]))
			s = l + 1;
		if (s == i)
			return;
		t = m->heap[i];
		m->heap[i] = m->heap[s];
		m->heap[s] = t;
		i = s;
	}
}

static void
merge_close(struct merge *m)
{
	for (size_t i = 0; i < m->nreaders; i++) {
		if (m->readers[i].own_buf)
			free(m->readers[i].buf);
	}
	free(m->readers);
	free(m->heap);
	free_pages(m->bufs, m->bufs_size);
	memset(m, 0, sizeof *m);
}

/* merge_open - M reads the N written runs from FIRST on, then, with MEM,
 * the run in memory; false on a read error */
static bool
merge_open(const struct msg_runs *mr, struct merge *m, size_t first, size_t n, bool mem)
{
	size_t each = n > 0 ? mr->merge_bytes / n : 0;

	memset(m, 0, sizeof *m);
	if (each < READ_MIN)
		each = READ_MIN;
	each &= ~(size_t)7;
	if (n > 0) {
		m->bufs_size = each * n;
		m->bufs = xalloc_pages(m->bufs_size);
	}
	m->nreaders = n + mem;
	m->readers = xcalloc(m->nreaders ? m->nreaders : 1, sizeof *m->readers);
	m->heap = xcalloc(m->nreaders ? m->nreaders : 1, sizeof *m->heap);
	for (size_t i = 0; i < m->nreaders; i++) {
		struct reader *rd = &m->readers[i];

		if (i == n)
			rd->mem = true;
		else {
			rd->pos = mr->runs[first + i].start;
			rd->end = mr->runs[first + i].start + mr->runs[first + i].len;
			rd->size = each;
			rd->buf = m->bufs + i * each;
		}
		if (!advance(mr, rd))
			return false;
		if (!rd->done)
			m->heap[m->nheap++] = i;
	}
	for (size_t i = m->nheap / 2; i-- > 0;)
		sift_down(m, i);
	return true;
}

/* merge_next - the reader of M's next record in (key, id) order, valid
 * until the next call; NULL at the end, or with *ERR on a read error */
static const struct reader *
merge_next(const struct msg_runs *mr, struct merge *m, bool *err)
{
	if (m->pending) {
		struct reader *top = &m->readers[m->heap[0]];

		m->pending = false;
		if (!advance(mr, top)) {
			*err = true;
			return NULL;
		}
		if (top->done)
			m->heap[0] = m->heap[--m->nheap];
		sift_down(m, 0);
	}
	if (m->nheap == 0)
		return NULL;
	m->pending = true;
	return &m->readers[m->heap[0]];
}

/* merge_group - the N written runs from FIRST on, merged into one run
 * written at the file's end: *OUT */
static bool
merge_group(struct msg_runs *mr, size_t first, size_t n, struct run_span *out)
{
	struct merge m;
	const struct reader *rd;
	char *buf = xmalloc(WRITE_BUF);
	size_t used = 0;
	bool ok, err = false;

	out->start = mr->file_end;
	ok = merge_open(mr, &m, first, n, false);
	while (ok && (rd = merge_next(mr, &m, &err)) != NULL) {
		size_t len = rec_size(&rd->h);

		if (used + len > WRITE_BUF) {
			ok = write_all(mr, buf, used);
			used = 0;
		}
		if (len > WRITE_BUF)
			ok = ok && write_all(mr, rd->rec, len);
		else {
			memcpy(buf + used, rd->rec, len);
			used += len;
		}
	}
	ok = ok && !err && write_all(mr, buf, used);
	out->len = mr->file_end - out->start;
	merge_close(&m);
	free(buf);
	return ok;
}

bool
msg_runs_start(struct msg_runs *mr)
{
	if (mr->failed || mr->started)
		return false;
	mr->started = true;
	if (mr->nidx > 0)
		sort_run(mr);
	/* merged WAYS runs at a time, so that the read buffers (READ_MIN
	 * each at least) stay within four times merge_bytes */
	size_t ways = 4 * mr->merge_bytes / READ_MIN;

	if (ways < 2)
		ways = 2;
	while (mr->nruns > ways) {
		size_t n = 0;

		for (size_t g = 0; g < mr->nruns; g += ways) {
			size_t k = mr->nruns - g < ways ? mr->nruns - g : ways;
			struct run_span merged = mr->runs[g];

			if (k > 1 && !merge_group(mr, g, k, &merged)) {
				mr->failed = true;
				return false;
			}
			mr->runs[n++] = merged;
		}
		mr->nruns = n;
	}
	if (!merge_open(mr, &mr->merge, 0, mr->nruns, mr->nidx > 0)) {
		mr->failed = true;
		return false;
	}
	return true;
}

int
msg_runs_next(struct msg_runs *mr, struct msg_rec *r)
{
	const struct reader *rd;
	const char *text;
	bool err = false;

	if (mr->failed || !mr->started)
		return -1;
	rd = merge_next(mr, &mr->merge, &err);
	if (rd == NULL) {
		if (!err)
			return 0;
		mr->failed = true;
		return -1;
	}
	text = rd->rec + sizeof rd->h;
	r->key = rd->h.key;
	r->id = rd->h.id;
	r->ts = rd->h.ts;
	r->has_ts = (rd->h.flags & F_TS) != 0;
	r->other_cause = (rd->h.flags & F_OTHER) != 0;
	r->text_grey = (rd->h.flags & F_GREY) != 0;
	r->status = (enum status)rd->h.status;
	r->klass = rd->h.klass;
	if (rd->h.rlen == NO_RECIPIENT) {
		r->recipient = SPAN_NONE;
		r->identity = (struct span){text, rd->h.ilen};
	} else {
		r->recipient = (struct span){text, rd->h.rlen};
		r->identity = (struct span){text + rd->h.rlen, rd->h.ilen};
	}
	return 1;
}
