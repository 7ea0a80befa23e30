/*
 * diag.h - diagnostics and allocation that cannot fail.
 *
 * Owns: the program name used in messages, the one-line error format
 * ("smtplog-report: FILE: cause"), the SMTPLOG_TIMING lines of the steps
 * within a stage, the project's one text hash (FNV-1a, 64 bits), and x*
 * allocators that abort with a
 * message instead of returning NULL.  Library code never exits except through
 * diag_fatal() on memory exhaustion; every other error is returned to the
 * caller with a cause string and main.c decides what happens.
 */
#ifndef SMTPLOG_DIAG_H
#define SMTPLOG_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#if defined(__GNUC__)
#define DIAG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define DIAG_NORETURN     __attribute__((noreturn))
#else
#define DIAG_PRINTF(f, a)
#define DIAG_NORETURN
#endif

/* diag_warn - print "smtplog-report: MESSAGE" on stderr */
void diag_warn(const char *fmt, ...) DIAG_PRINTF(1, 2);
/* diag_fatal - print the message and exit with status 2 (internal limits only) */
void diag_fatal(const char *fmt, ...) DIAG_PRINTF(1, 2) DIAG_NORETURN;

/* diag_name_thread - name the calling thread (top -H, perf), where the
 * system can */
void diag_name_thread(const char *name);
/* diag_env_set - is environment variable NAME set to something? */
bool diag_env_set(const char *name);
/* xasprintf - formatted string in new memory; free with free() */
char *xasprintf(const char *fmt, ...) DIAG_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) DIAG_PRINTF(1, 0);
/* diag_seconds - the seconds from FROM to TO */
double diag_seconds(const struct timespec *from, const struct timespec *to);
/* diag_timing - with SMTPLOG_TIMING set, print how long step NAME of a stage
 * took ("timing:   NAME  S s") on stderr */
void diag_timing(const char *name, double seconds);

/* fnv1a64 - hash H (FNV1A64_BASIS to start) extended by N bytes at P:
 * hashing a text in pieces gives what hashing it whole gives */
#define FNV1A64_BASIS 0xcbf29ce484222325ULL
uint64_t fnv1a64(uint64_t h, const void *p, size_t n);
/* hash_words - hash H (0 to start) extended by N bytes at P, eight at a
 * time (FNV-1a multiplies once per byte): for keys that live in memory
 * only, as it differs between byte orders and between one text hashed
 * whole and in pieces */
uint64_t hash_words(uint64_t h, const void *p, size_t n);

/* set_cause - replace *cause (if cause is not NULL) with a formatted message */
void set_cause(char **cause, const char *fmt, ...) DIAG_PRINTF(2, 3);

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
/* xalloc_pages - SIZE zeroed bytes of their own pages, in huge pages where
 * the system offers them (fewer page faults: a fault costs ~10 us in a VM);
 * free with free_pages and the same SIZE */
void *xalloc_pages(size_t size);
void free_pages(void *p, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
