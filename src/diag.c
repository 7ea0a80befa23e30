/*
 * diag.c - diagnostics and allocation that cannot fail.
 *
 * Messages go to stderr on one line each.  Allocation failure is the only
 * condition library code treats as fatal.
 */
#include "config.h"

#include "diag.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void diag_vprint(const char *fmt, va_list ap) DIAG_PRINTF(1, 0);

static void
diag_vprint(const char *fmt, va_list ap)
{
	fputs(PACKAGE_NAME ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
diag_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vprint(fmt, ap);
	va_end(ap);
}

void
diag_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vprint(fmt, ap);
	va_end(ap);
	exit(2);
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *s;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		diag_fatal("xvasprintf: bad format");
	s = xmalloc((size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void
set_cause(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL)
		return;
	free(*cause);
	va_start(ap, fmt);
	*cause = xvasprintf(fmt, ap);
	va_end(ap);
}

void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		diag_fatal("out of memory allocating %zu bytes", size);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		diag_fatal("out of memory allocating %zu x %zu bytes", nmemb, size);
	return p;
}

/* Huge pages are 2 MiB on x86-64 and arm64 (4 KiB base pages).  Under
 * AddressSanitizer the blocks come from calloc, which it guards. */
#define HUGE_PAGE (2u * 1024 * 1024)
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifdef __SANITIZE_ADDRESS__
#define UNDER_ASAN 1
#endif
#if defined(MAP_ANONYMOUS) && defined(MADV_HUGEPAGE) && !defined(UNDER_ASAN)
#define PAGES_MAPPED 1
#endif

void *
xalloc_pages(size_t size)
{
#ifdef PAGES_MAPPED
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len;
	char *map;

	size = (size + page - 1) / page * page;
	len = size + HUGE_PAGE;
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		diag_fatal("out of memory mapping %zu bytes", len);
	/* align to a huge page; the unaligned head and the tail go back */
	char *p = (char *)(((uintptr_t)map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
	size_t head = (size_t)(p - map);

	if (head > 0)
		(void)munmap(map, head);
	if (len - head > size)
		(void)munmap(p + size, len - head - size);
	(void)madvise(p, size, MADV_HUGEPAGE);
	return p;
#else
	return xcalloc(1, size);
#endif
}

void
free_pages(void *p, size_t size)
{
#ifdef PAGES_MAPPED
	if (p != NULL)
		(void)munmap(p, size); /* the kernel rounds SIZE up as above */
#else
	(void)size;
	free(p);
#endif
}

void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void *p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		diag_fatal("allocation overflow: %zu x %zu bytes", nmemb, size);
	p = realloc(ptr, nmemb * size != 0 ? nmemb * size : 1);
	if (p == NULL)
		diag_fatal("out of memory allocating %zu x %zu bytes", nmemb, size);
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
diag_name_thread(const char *name)
{
#ifdef HAVE_PTHREAD_SETNAME_NP
	(void)pthread_setname_np(pthread_self(), name);
#else
	(void)name;
#endif
}

bool
diag_env_set(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0';
}

double
diag_seconds(const struct timespec *from, const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) + (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

uint64_t
fnv1a64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}

uint64_t
hash_words(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t w;

	h ^= (uint64_t)n * 0x9e3779b97f4a7c15ULL;
	for (; n >= 8; c += 8, n -= 8) {
		memcpy(&w, c, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 31;
	}
	if (n > 0) {
		w = 0;
		memcpy(&w, c, n);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 31;
	}
	h *= 0x94d049bb133111ebULL;
	return h ^ (h >> 29);
}

void
diag_timing(const char *name, double seconds)
{
	if (getenv("SMTPLOG_TIMING") != NULL)
		fprintf(stderr, "timing:   %-24s %.3f s\n", name, seconds);
}
