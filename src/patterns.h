/*
 * patterns.h - pattern files: loading, compiling and matching rules.
 *
 * Owns: the pattern file format (patterns/NAME.pat) (the man page, PATTERN FILES),
 * compiling every regex once with PCRE2 JIT (a rule's when a line first
 * reaches it: only one thread matches lines, a patterns_for_thread copy
 * only signatures, so this needs no lock), the mapping of named capture
 * groups to event fields, and matching a line's message against the rules of
 * its MTA (cheap literal prefilters first).
 * Does not own: what the captured text means (extract.c, classify.c).
 *
 * A struct patterns owns its compiled code and one match-data block; it is
 * not safe to share between threads.
 */
#ifndef SMTPLOG_PATTERNS_H
#define SMTPLOG_PATTERNS_H

#include "event.h"

/* The event fields a named capture group may fill. */
enum field {
	FIELD_QUEUE_ID,
	FIELD_SENDER,
	FIELD_RECIPIENT,
	FIELD_RECIPIENTS, /* a comma-separated list: one event per entry */
	FIELD_ORIG_RECIPIENT,
	FIELD_RELAY,
	FIELD_CLIENT,
	FIELD_STATUS,
	FIELD_DSN,
	FIELD_RESPONSE,
	FIELD_REPLY,
	FIELD_REPLY_CODE,
	FIELD_ENHANCED_CODE,
	FIELD_COUNT
};

struct patterns;
struct rule;

/* What one successful match gives: the rule and the captured spans. */
struct match {
	const struct rule *rule;
	struct span field[FIELD_COUNT];
	bool candidate; /* the message carries a "candidate" literal of its MTA */
};

/* patterns_default_dir - the directory used without --patterns */
const char *patterns_default_dir(void);

/* patterns_load - load and compile every *.pat file in DIR.  On error
 * returns NULL with *cause "FILE:LINE: offset N: message" (or similar). */
struct patterns *patterns_load(const char *dir, char **cause);
/* patterns_load_file - the same for one file (tests, fuzzing) */
struct patterns *patterns_load_file(const char *path, char **cause);
/* patterns_load_text - the same from memory; NAME is used in messages */
struct patterns *patterns_load_text(const char *name, const char *text, size_t len, char **cause);
/* patterns_for_thread - PATS for use on another thread beside it: the
 * same compiled rules and signatures, its own match data; freed with
 * patterns_free() before PATS is */
struct patterns *patterns_for_thread(const struct patterns *pats);
void patterns_free(struct patterns *pats);

/* patterns_match - try the rules for MTA on MSG (PROGRAM is the syslog
 * program); true and *m filled on the first rule that matches */
bool patterns_match(struct patterns *pats, enum mta mta, struct span program, struct span msg,
                    struct match *m);

/* patterns_is_candidate - does MSG carry a marker of an outcome line of MTA
 * (the "candidate" literals), so that not matching it is worth reporting? */
bool patterns_is_candidate(const struct patterns *pats, enum mta mta, struct span msg);

/* patterns_rule_name - "postfix/delivery" */
const char *patterns_rule_name(const struct rule *rule);
/* patterns_rule_status - the status the rule sets, STATUS_NONE if captured */
enum status patterns_rule_status(const struct rule *rule);
/* patterns_rule_class - the class the rule sets for code-less lines, or 0 */
int patterns_rule_class(const struct rule *rule);

/* patterns_count_rules - rules loaded for MTA (MTA_NONE: all) */
size_t patterns_count_rules(const struct patterns *pats, enum mta mta);

const char *field_name(enum field f);

/* patterns_signature - the name of the first signature of SET whose regex
 * matches TEXT, or NULL */
const char *patterns_signature(struct patterns *pats, const char *set, const char *text,
                               size_t len);
size_t patterns_count_signatures(const struct patterns *pats, const char *set);

#endif
