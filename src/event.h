/*
 * event.h - the data that flows between stages: spans, the parsed envelope
 * of a line, and the event (one recipient outcome) extracted from it.
 *
 * Plain structs with fixed buffers; text fields are spans into the line,
 * valid only while that line is.  Nothing here allocates.
 */
#ifndef SMTPLOG_EVENT_H
#define SMTPLOG_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct span {
	const char *p;
	size_t n;
};

#define SPAN_NONE      ((struct span){NULL, 0})
#define span_is_set(s) ((s).p != NULL)

enum mta { MTA_NONE = 0, MTA_POSTFIX, MTA_EXIM, MTA_SENDMAIL, MTA_COUNT };

enum status {
	STATUS_NONE = 0,
	STATUS_SENT,
	STATUS_DEFERRED,
	STATUS_BOUNCED,
	STATUS_EXPIRED,
	STATUS_REJECTED,
	STATUS_COUNT
};

/* A timestamp as logged, fields broken out; year may be inferred. */
struct timestamp {
	int year, mon, day, hour, min, sec; /* mon 1-12 */
	char frac[10];                      /* fractional second digits, "" if none */
	int tz_minutes;                     /* offset east of UTC */
	bool has_tz;
	bool has_year; /* false for BSD syslog until envelope infers it */
};

/* The envelope: what every log line carries before its message. */
struct envelope {
	struct timestamp ts;
	struct span host;
	struct span program; /* "postfix/smtp", "sm-mta", "exim" */
	struct span pid;
	struct span msg; /* the MTA's own text */
	enum mta mta;    /* guessed from the program name or format */
};

#define CODE_MAX   12  /* "5.123.123" + NUL fits */
#define REASON_MAX 400 /* reason signature bytes kept */

/* One recipient outcome. */
struct event {
	const char *rule; /* "postfix/delivery": the pattern rule that matched */
	enum mta mta;
	enum status status;
	struct span queue_id, sender, recipient, orig_recipient, relay, client;
	struct span response;            /* text as logged */
	struct span reply;               /* the remote/our reply inside response, from its code */
	int reply_code;                  /* 0: none logged */
	char enhanced_code[CODE_MAX];    /* "" when none */
	char dsn[CODE_MAX];              /* "" when none */
	bool enhanced_from_dsn;          /* enhanced_code is the dsn, not the reply's */
	int class_code, subject, detail; /* -1 when unknown */
	int default_class;               /* the rule's class for code-less lines, or 0 */
	char reason[REASON_MAX + 1];
	/* findings of the event's own text (analyze_event_text), stored with it;
	 * the names are the signatures', owned by the patterns */
	const char *greylist_sig;  /* greylisting by text */
	const char *transient_sig; /* transient-text-under-5xx */
	const char *permanent_sig; /* permanent-text-under-4xx */
	bool class_mismatch;       /* the reply's class is not its enhanced code's */
	/* a 4xx deferral's words name another cause than greylisting (a
	 * chain of retries with one is not greylisting by behaviour) */
	bool other_cause;
};

/* event_reply_in_response - is EV's reply a part of its response (as it
 * is when the pattern found the reply code in it)? */
bool event_reply_in_response(const struct event *ev);

const char *mta_name(enum mta mta);
const char *status_name(enum status status);
/* status_parse - "sent", "Deferred", ... (case-insensitive); STATUS_NONE if unknown */
enum status status_parse(const char *p, size_t n);

#endif
