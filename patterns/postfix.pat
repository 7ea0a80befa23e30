# postfix.pat - Postfix outcome lines.
#
# Format: see the man page (PATTERN FILES).  In short: "rule NAME" starts a
# rule; "program" is a regex on the syslog program name; "require" literals
# must all occur before the regex runs; "match" is the regex on the message
# text.  A line starting with white space continues the line before it (the
# white space is dropped: write a leading space as \x20).  Only named groups
# capture; their names are event fields.

mta postfix
programs postfix
candidate " status="
candidate "reject: "

# Delivery agents: QID: to=<r>, [orig_to=<o>,] relay=..., [conn_use=N,]
# delay=..., delays=..., [tls=...,] dsn=X.Y.Z, status=S (text)
# Fields between to= and status= may come in any order; values never hold
# a space or "(" so hostile reply text cannot pose as a field.  The
# response is the text up to the line's last ")", or all of it when a cut
# line has none: a greedy ".*" that gives back that one byte costs 30% less
# than a lazy ".*?" trying "\)?$" at every byte.
rule delivery
program /(?:smtp|lmtp|local|virtual|pipe|error|retry|discard)$
require " status="
match ^(?<queue_id>[0-9A-Za-z]+):\x20to=(?<recipient><[^>]*>|[^,\s]*),
  (?:\x20(?:orig_to=(?<orig_recipient><[^>]*>|[^,\s]*)|relay=(?<relay>[^,\s]*)
  |dsn=(?<dsn>[^,\s]*)|[a-z_]+=[^,\s(]*),)*
  \x20status=(?<status>sent|deferred|bounced|expired)
  (?:\x20\((?<response>
    (?:(?:delivery\x20temporarily\x20suspended:\x20)?host\x20\S+\x20
       (?:said|refused\x20to\x20talk\x20to\x20me):\x20)?
    (?:(?<reply_code>[2-5]\d\d)
       (?:[\x20-](?<enhanced_code>[245]\.\d{1,3}\.\d{1,3})(?![\d.]))?(?=[\x20-]|\)?$))?
  (?:.*(?=\)$)|.*))\)?)?$

# qmgr gives up on a message: QID: from=<s>, status=expired, returned to sender
# (", status=expired" holds the candidate " status=": lines without it skip
# this search)
rule expired
program /qmgr$
require ", status=expired"
match ^(?<queue_id>[0-9A-Za-z]+):\x20from=(?<sender><[^>]*>|[^,\s]*),
  \x20status=(?<status>expired)(?:,\x20(?<response>.*))?$

# SMTP-time rejects by smtpd, postscreen, and milters (smtpd or cleanup):
# NOQUEUE: reject: RCPT from host[ip]: 550 5.1.1 <r>: text; from=<s> to=<r> proto=ESMTP helo=<h>
# postscreen separates the trailing fields with commas and logs [ip]:port.
# Milter replies may carry only the enhanced code ("4.7.1 Try again later").
# The response ends at the first "; from=" or "; proto=" (or the line's
# end): it is tried only at each ";" ([^;]*+(?:;[^;]*+)*?, not a lazy ".*?"
# trying every byte): 5225 -> 1812 instructions a reject line.
rule reject
program /(?:smtpd|postscreen|cleanup)$
status rejected
require "reject: "
match ^(?:NOQUEUE|(?<queue_id>[0-9A-Za-z]+)):\x20(?:milter-)?reject:\x20[A-Z][A-Z-]*
  \x20from\x20(?<client>[^\s\[]*\[[^\]]*\](?::\d+)?):\x20
  (?<response>(?:(?<reply_code>[45]\d\d)[\x20-])?
    (?:(?<enhanced_code>[245]\.\d{1,3}\.\d{1,3})(?![\d.]))?[^;]*+(?:;[^;]*+)*?)
  (?:;\x20from=(?<sender><[^>]*>)(?:,?\x20to=(?<recipient><[^>]*>))?.*|;\x20proto=.*)?$

# header_checks and body_checks rejects logged by cleanup:
# QID: reject: header Subject: ... from host[ip]; from=<s> to=<r> proto=ESMTP helo=<h>: 5.7.1 text
rule content-reject
program /cleanup$
status rejected
require "reject: "
match ^(?<queue_id>[0-9A-Za-z]+):\x20reject:\x20(?:header|body|mime-header|nested-header)\x20
  .*\x20from\x20(?<client>[^\s\[]*\[[^\]]*\]);
  \x20from=(?<sender><[^>]*>)(?:\x20to=(?<recipient><[^>]*>))?(?:\x20proto=\S+)?(?:\x20helo=<[^>]*>)?
  :\x20(?<response>(?:(?<reply_code>[45]\d\d)\x20)?
    (?:(?<enhanced_code>[245]\.\d{1,3}\.\d{1,3})(?![\d.]))?.*)$
