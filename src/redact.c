/*
 * redact.c - keyed hashing of address local parts (--redact).
 *
 * An address is found by its '@': the local part is the run of characters
 * before it that RFC 5321 allows in a dot-atom (letters, digits and
 * !#$%&'*+-/=?^_`{|}~.), the domain the run after it.  Only the local part
 * changes; domains stay readable because the report groups by them.
 */
#include "config.h"

#include "redact.h"

#include "diag.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYS_RANDOM_H
#include <sys/random.h>
#endif

#define NSLOTS 5

struct redactor {
	uint64_t k0, k1;
	char *buf[NSLOTS];
	size_t cap[NSLOTS];
};

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = ROTL(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = ROTL(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = ROTL(v2, 32);                                                                 \
	} while (0)

/* siphash24 - SipHash-2-4 of P..P+N under (K0, K1) */
static uint64_t
siphash24(uint64_t k0, uint64_t k1, const unsigned char *p, size_t n)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = (uint64_t)n << 56, m;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		m = 0;
		for (int k = 7; k >= 0; k--)
			m = (m << 8) | p[i + (size_t)k];
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (int k = (int)(n - i) - 1; k >= 0; k--)
		b |= (uint64_t)p[i + (size_t)k] << (8 * k);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static int
random_bytes(unsigned char *buf, size_t n, char **cause)
{
#ifdef HAVE_SYS_RANDOM_H
	if (getrandom(buf, n, 0) == (ssize_t)n)
		return 0;
#endif
	{
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
		ssize_t got = fd >= 0 ? read(fd, buf, n) : -1;

		if (fd >= 0)
			close(fd);
		if (got == (ssize_t)n)
			return 0;
	}
	set_cause(cause, "no random bytes for the --redact key: %s", strerror(errno));
	return -1;
}

struct redactor *
redact_open(const char *key_path, char **cause)
{
	struct redactor *r;
	unsigned char key[16];

	if (key_path == NULL) {
		if (random_bytes(key, sizeof key, cause) != 0)
			return NULL;
	} else {
		int fd = open(key_path, O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			ssize_t got = read(fd, key, sizeof key);

			close(fd);
			if (got != (ssize_t)sizeof key) {
				set_cause(cause, "%s: not a --redact key (16 bytes expected)",
				          key_path);
				return NULL;
			}
		} else if (errno == ENOENT) {
			if (random_bytes(key, sizeof key, cause) != 0)
				return NULL;
			fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (fd < 0 || write(fd, key, sizeof key) != (ssize_t)sizeof key ||
			    close(fd) != 0) {
				set_cause(cause, "%s: %s", key_path, strerror(errno));
				if (fd >= 0)
					close(fd);
				return NULL;
			}
		} else {
			set_cause(cause, "%s: %s", key_path, strerror(errno));
			return NULL;
		}
	}
	r = xcalloc(1, sizeof *r);
	for (int i = 0; i < 8; i++) {
		r->k0 = (r->k0 << 8) | key[i];
		r->k1 = (r->k1 << 8) | key[8 + i];
	}
	return r;
}

void
redact_free(struct redactor *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < NSLOTS; i++)
		free(r->buf[i]);
	free(r);
}

static bool
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL;
}

struct span
redact_text(struct redactor *r, int slot, struct span text)
{
	const unsigned char *p = (const unsigned char *)text.p;
	size_t n = text.n, o = 0, i = 0, need = n + n / 2 + 32;
	char *out;

	if (text.p == NULL || memchr(text.p, '@', text.n) == NULL)
		return text;
	if (r->cap[slot] < need) {
		r->cap[slot] = need * 2;
		r->buf[slot] = xreallocarray(r->buf[slot], r->cap[slot], 1);
	}
	out = r->buf[slot];
	while (i < n) {
		const unsigned char *at = memchr(p + i, '@', n - i);
		size_t a, start;

		if (at == NULL) {
			memcpy(out + o, p + i, n - i);
			o += n - i;
			break;
		}
		a = (size_t)(at - p);
		start = a;
		while (start > i && is_atext(p[start - 1]))
			start--;
		memcpy(out + o, p + i, start - i);
		o += start - i;
		if (start < a) {
			/* "u-" and 10 hex digits: never longer than this bound */
			uint64_t h = siphash24(r->k0, r->k1, p + start, a - start);

			if (o + 13 + (n - a) + 32 > r->cap[slot]) {
				r->cap[slot] = (o + 13 + (n - a)) * 2 + 64;
				r->buf[slot] = xreallocarray(r->buf[slot], r->cap[slot], 1);
				out = r->buf[slot];
			}
			o += (size_t)snprintf(out + o, 14, "u-%010llx",
			                      (unsigned long long)(h & 0xffffffffffULL));
		}
		out[o++] = '@';
		i = a + 1;
		if (o + (n - i) + 16 > r->cap[slot]) {
			r->cap[slot] = (o + (n - i)) * 2 + 64;
			r->buf[slot] = xreallocarray(r->buf[slot], r->cap[slot], 1);
			out = r->buf[slot];
		}
	}
	return (struct span){out, o};
}

void
redact_event(struct redactor *r, struct event *ev)
{
	struct span resp = ev->response;
	size_t reply_off = 0;
	bool reply_in_resp = event_reply_in_response(ev);

	ev->sender = redact_text(r, 0, ev->sender);
	ev->recipient = redact_text(r, 1, ev->recipient);
	ev->orig_recipient = redact_text(r, 2, ev->orig_recipient);
	if (reply_in_resp)
		reply_off = (size_t)(ev->reply.p - resp.p);
	ev->response = redact_text(r, 3, resp);
	if (reply_in_resp) {
		/* the reply is the response's tail: find it again after rewriting */
		struct span tail = {resp.p + reply_off, resp.n - reply_off};
		struct span red = redact_text(r, 4, tail);

		ev->reply = red;
	} else
		ev->reply = redact_text(r, 4, ev->reply);
}
