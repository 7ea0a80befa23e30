/*
 * event.c - names of the enumerations in event.h, as stored in the database,
 * and where an event's reply lies.
 */
#include "config.h"

#include "event.h"

#include <strings.h>

static const char *const mta_names[MTA_COUNT] = {"", "postfix", "exim", "sendmail"};
static const char *const status_names[STATUS_COUNT] = {"",        "sent",    "deferred",
                                                       "bounced", "expired", "rejected"};

const char *
mta_name(enum mta mta)
{
	return mta < MTA_COUNT ? mta_names[mta] : "";
}

const char *
status_name(enum status status)
{
	return status < STATUS_COUNT ? status_names[status] : "";
}

enum status
status_parse(const char *p, size_t n)
{
	for (enum status s = STATUS_SENT; s < STATUS_COUNT; s++) {
		const char *name = status_names[s];
		size_t k = 0;

		while (name[k] != '\0')
			k++;
		if (k == n && strncasecmp(p, name, n) == 0)
			return s;
	}
	return STATUS_NONE;
}

bool
event_reply_in_response(const struct event *ev)
{
	return span_is_set(ev->reply) && span_is_set(ev->response) &&
	       ev->reply.p >= ev->response.p &&
	       ev->reply.p + ev->reply.n <= ev->response.p + ev->response.n;
}
