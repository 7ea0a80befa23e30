/*
 * extract.c - from a line's envelope to its events.
 *
 * A rule's match gives spans by field name; this module turns them into
 * events: the status from the (?<status>) group or the rule, angle brackets
 * dropped from addresses, a recipient list split into one event per entry,
 * codes validated, then classify_event() for class and subject.  The
 * reason signature is left to classify_event_reason(), which the caller
 * runs where it likes (ingest: on its writing thread).
 */
#include "config.h"

#include "extract.h"

#include "classify.h"

#include <string.h>

/* strip_angles - "<a@b>" -> "a@b"; the empty sender "<>" stays empty */
static struct span
strip_angles(struct span s)
{
	if (s.p == NULL)
		return s;
	while (s.n > 0 && (*s.p == ' ' || *s.p == '\t')) {
		s.p++;
		s.n--;
	}
	while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
		s.n--;
	if (s.n >= 2 && s.p[0] == '<' && s.p[s.n - 1] == '>') {
		s.p++;
		s.n -= 2;
	}
	return s;
}

static void
event_from_match(const struct match *m, const struct envelope *env, struct event *ev)
{
	const struct span *f = m->field;

	memset(ev, 0, sizeof *ev);
	ev->rule = patterns_rule_name(m->rule);
	ev->mta = env->mta;
	ev->status = patterns_rule_status(m->rule);
	ev->default_class = patterns_rule_class(m->rule);
	if (span_is_set(f[FIELD_STATUS])) {
		enum status st = status_parse(f[FIELD_STATUS].p, f[FIELD_STATUS].n);

		if (st != STATUS_NONE)
			ev->status = st;
	}
	ev->queue_id = f[FIELD_QUEUE_ID];
	ev->sender = strip_angles(f[FIELD_SENDER]);
	ev->recipient = strip_angles(f[FIELD_RECIPIENT]);
	ev->orig_recipient = strip_angles(f[FIELD_ORIG_RECIPIENT]);
	ev->relay = f[FIELD_RELAY];
	ev->client = f[FIELD_CLIENT];
	ev->response = f[FIELD_RESPONSE];
	ev->reply = f[FIELD_REPLY];
	ev->reply_code = classify_reply_code(f[FIELD_REPLY_CODE]);
	classify_enhanced_code(f[FIELD_ENHANCED_CODE], ev->enhanced_code);
	classify_enhanced_code(f[FIELD_DSN], ev->dsn);
	if (!span_is_set(ev->reply) && span_is_set(f[FIELD_REPLY_CODE]) &&
	    span_is_set(ev->response) && f[FIELD_REPLY_CODE].p >= ev->response.p &&
	    f[FIELD_REPLY_CODE].p < ev->response.p + ev->response.n) {
		/* the reply runs from its code to the end of the response */
		ev->reply.p = f[FIELD_REPLY_CODE].p;
		ev->reply.n = (size_t)(ev->response.p + ev->response.n - ev->reply.p);
	}
}

enum extract_result
extract_line(struct patterns *pats, const struct envelope *env, struct event *out, size_t max,
             size_t *n)
{
	struct match m;
	struct span list;
	const char *p, *e;

	*n = 0;
	if (env->mta == MTA_NONE || max == 0)
		return EXTRACT_NONE;
	if (!patterns_match(pats, env->mta, env->program, env->msg, &m))
		return m.candidate ? EXTRACT_CANDIDATE : EXTRACT_NONE;
	event_from_match(&m, env, &out[0]);
	if (out[0].status == STATUS_NONE)
		return m.candidate ? EXTRACT_CANDIDATE : EXTRACT_NONE;
	classify_event(&out[0]);
	list = m.field[FIELD_RECIPIENTS];
	if (!span_is_set(list)) {
		*n = 1;
		return EXTRACT_EVENTS;
	}
	/* "a@x,<b@y>, c@z": one event per address, sharing everything else */
	p = list.p;
	e = list.p + list.n;
	while (p < e && *n < max) {
		const char *c = memchr(p, ',', (size_t)(e - p));
		const char *end = c ? c : e;
		struct span r = strip_angles((struct span){p, (size_t)(end - p)});

		if (r.n > 0) {
			if (*n > 0)
				out[*n] = out[0];
			out[*n].recipient = r;
			(*n)++;
		}
		p = end + 1;
	}
	if (*n == 0)
		*n = 1; /* an empty list: keep the outcome, recipient unknown */
	return EXTRACT_EVENTS;
}
