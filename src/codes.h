/*
 * codes.h - the knowledge base of reply codes and enhanced status codes.
 *
 * Owns: loading patterns/codes.tsv (see its header), looking a code up with
 * RFC 3463's fallback (an unknown X.s.d is explained by its class and
 * subject, and says so), finding the codes in a whole reply text, and
 * printing `explain` and `codes` output.
 * Does not own: the database copy of the table (store.c) or report hints
 * (report.c reads them from the database).
 */
#ifndef SMTPLOG_CODES_H
#define SMTPLOG_CODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct codes;

/* One row of the knowledge base; strings owned by struct codes. */
struct code_entry {
	const char *code; /* "550", "X.1.1", "5.7.1", "5.X.X", "X.7.X" */
	const char *title;
	const char *meaning;
	const char *retry;        /* yes, no, maybe, n/a */
	const char *causes;       /* items joined by " | " */
	const char *sender_fix;   /* steps joined by " | " */
	const char *receiver_fix; /* steps joined by " | ", or "-" */
	const char *providers;    /* or "-" */
};

/* codes_load - read FILE; NULL with *cause "FILE:LINE: cause" */
struct codes *codes_load(const char *path, char **cause);
/* codes_file_digest - a 64-bit hash of FILE's bytes, read without parsing
 * them (to tell whether the copy in a database is of this file); 0, or -1
 * with *cause "FILE: cause" as codes_load gives it */
int codes_file_digest(const char *path, uint64_t *digest, char **cause);
void codes_free(struct codes *c);

size_t codes_count(const struct codes *c);
const struct code_entry *codes_entry(const struct codes *c, size_t i);

/* codes_find - exact row for CODE ("550", "5.1.1" tries "5.1.1" then "X.1.1") */
const struct code_entry *codes_find(const struct codes *c, const char *code);

/* codes_explain_args - `smtplog-report explain ARG...`: each ARG a reply
 * code, an enhanced code, or a whole reply text.  0, or -1 with *cause
 * (nothing that is a code was found, or a code is invalid). */
int codes_explain(const struct codes *c, int argc, char **argv, FILE *out, char **cause);

/* codes_list - `smtplog-report codes [--class N]` (CLASS 0: all) */
void codes_list(const struct codes *c, int klass, FILE *out);

/* codes_concrete - the row's code for one class: "X.1.1" for 5 -> "5.1.1" */
void codes_concrete(const char *code, int klass, char *out, size_t size);

#endif
