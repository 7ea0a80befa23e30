# sendmail.pat - Sendmail outcome lines (sendmail, sm-mta, sm-msp-queue and
# the process titles sm-* that sendmail's children set, such as
# sm-acceptingconnections).
#
# Format: see the man page (PATTERN FILES) and the top of postfix.pat.
#
# Delivery (logdelivery() in deliver.c), fields in this order, some absent:
#   QID: to=R1,R2,... [[more]], ctladdr=A (uid/gid), delay=[D+]HH:MM:SS,
#   xdelay=..., mailer=M, pri=N, relay=host [ip], dsn=X.Y.Z, [reply=...,]
#   stat=TEXT
# One line may carry several recipients (one event each, via the
# "recipients" group); when they do not fit in a syslog line sendmail logs
# them over several lines, each but the last marked " [more]" after its
# trailing comma, and every one of those lines carries the full outcome.
# stat= is "Sent (remote text)" (sendmail strips the reply and enhanced
# codes from it and logs the enhanced code as dsn=), "Deferred[: text]"
# (the remote reply, with its codes, when there was one), "queued" (not an
# outcome: accepted for a later queue run), "quarantined" (held, not an
# outcome), or any other text - a sysexits message such as "User unknown",
# "Service unavailable", "Host unknown (...)", "Data format error" - for a
# permanent failure.  The response is the text in Sent's parentheses, the
# text after "Deferred: ", or a failure's whole text; a bare Sent or
# Deferred has none.  Sendmail 8.16 and later may add reply=, the remote's
# own reply; its codes take precedence over those in stat=.  Values of the
# other fields before stat= hold no comma; reply= may, so it runs to the
# next ", NAME=" of a field sendmail logs there.
# Speed: what can only begin at a comma (", reply=", ", stat=Deferred: ")
# is looked for comma by comma, "(?:[^,]*+,)*?", not byte by byte with a
# lazy ".*?"; the recipients end at a comma or a space, so they are walked
# by those; a response up to the line's last ")" is a greedy ".*" that
# gives that byte back (as in postfix.pat).  The same matches, 10506 ->
# 4329 instructions a delivery line.

mta sendmail
programs sendmail sm-
# stat=queued lines carry no dsn=: they are not outcomes, and not candidates
candidate ", dsn="
candidate " reject="

# The delivery rule comes three times, by what the line holds: the codes of
# a reply= field (its lookahead walks the fields before stat=), those after
# "stat=Deferred: ", or neither.  Each variant is the one before it without
# the lookahead whose literal the line lacks, so a line matches the same
# way; most lines (Sent, failures without reply=) run no lookahead at all:
# bounce-heavy Sendmail, 10 MB: 832 -> 813 M instructions in all.
rule delivery
status bounced
require " stat="
require " reply="
match ^(?:(?<queue_id>[0-9A-Za-z]+):\x20)?
  (?|(?=(?:[^,]*+(?!,\x20stat=),)*?\x20reply=(?<reply_code>[2-5]\d\d)
        (?:[\x20-](?<enhanced_code>[245]\.\d{1,3}\.\d{1,3})(?![\d.]))?(?=[\x20,-]|$))
    |(?=(?:[^,]*+,)*?\x20stat=Deferred:\x20(?<reply_code>[2-5]\d\d)
        (?:[\x20-](?<enhanced_code>[245]\.\d{1,3}\.\d{1,3})(?![\d.]))?(?=[\x20-]|$))
    |)
  to=(?<recipients>[^,\x20]*+(?:[,\x20][^,\x20]*+)*?)(?:\x20\[more\])?,\x20(?=(?:ctladdr|delay)=)
  (?:(?:relay=(?<relay>[^,]*)|dsn=(?<dsn>[^,\s]*)|reply=(?<reply>.*?)(?=,\x20(?:stat|dsn|relay|pri|mailer|xdelay|delay|ctladdr|tls_verify|quarantine|ntries)=)
     |(?!stat=)[a-z_]+=[^,]*),\x20)*
  stat=(?!queued\b|quarantined\b)
  (?|(?<status>Sent)(?:\x20\((?<response>.*(?=\)$)|.*)\)?)?
    |(?<status>Deferred)(?::\x20(?<response>.*))?
    |(?<status>(?!))?(?<response>.*))$

rule delivery
status bounced
require " stat=Deferred: "
match ^(?:(?<queue_id>[0-9A-Za-z]+):\x20)?
  (?|(?=(?:[^,]*+,)*?\x20stat=Deferred:\x20(?<reply_code>[2-5]\d\d)
        (?:[\x20-](?<enhanced_code>[245]\.\d{1,3}\.\d{1,3})(?![\d.]))?(?=[\x20-]|$))
    |)
  to=(?<recipients>[^,\x20]*+(?:[,\x20][^,\x20]*+)*?)(?:\x20\[more\])?,\x20(?=(?:ctladdr|delay)=)
  (?:(?:relay=(?<relay>[^,]*)|dsn=(?<dsn>[^,\s]*)|reply=(?<reply>.*?)(?=,\x20(?:stat|dsn|relay|pri|mailer|xdelay|delay|ctladdr|tls_verify|quarantine|ntries)=)
     |(?!stat=)[a-z_]+=[^,]*),\x20)*
  stat=(?!queued\b|quarantined\b)
  (?|(?<status>Sent)(?:\x20\((?<response>.*(?=\)$)|.*)\)?)?
    |(?<status>Deferred)(?::\x20(?<response>.*))?
    |(?<status>(?!))?(?<response>.*))$

rule delivery
status bounced
require " stat="
match ^(?:(?<queue_id>[0-9A-Za-z]+):\x20)?
  to=(?<recipients>[^,\x20]*+(?:[,\x20][^,\x20]*+)*?)(?:\x20\[more\])?,\x20(?=(?:ctladdr|delay)=)
  (?:(?:relay=(?<relay>[^,]*)|dsn=(?<dsn>[^,\s]*)|reply=(?<reply>.*?)(?=,\x20(?:stat|dsn|relay|pri|mailer|xdelay|delay|ctladdr|tls_verify|quarantine|ntries)=)
     |(?!stat=)[a-z_]+=[^,]*),\x20)*
  stat=(?!queued\b|quarantined\b)
  (?|(?<status>Sent)(?:\x20\((?<response>.*(?=\)$)|.*)\)?)?
    |(?<status>Deferred)(?::\x20(?<response>.*))?
    |(?<status>(?!))?(?<response>.*))$

# A queue run that gives up on a message logs no per-recipient line: the
# last attempt shows stat=Deferred, then dropenvelope() turns every
# undelivered recipient into a failure with DSN 4.4.7 (5.4.7 for an expired
# DELIVERBY) and logs only the notification it creates:
#   QID: QID2: DSN: Cannot send message for 5 days
# (older versions: "return to sender:").  That line is the only record of
# the expiry, so - unlike the other DSN lines, which notify about outcomes
# already logged on their to= line and give no event - it gives one expired
# event for the message (no recipient, like Postfix's qmgr "status=expired").
rule expired
status expired
class 4
require "Cannot send message for "
match ^(?<queue_id>[0-9A-Za-z]+):\x20[0-9A-Za-z]+:\x20(?:DSN|return\x20to\x20sender):\x20
  (?<response>Cannot\x20send\x20message\x20for\x20.*)$

rule expired-deliverby
status expired
class 5
require "delivery time expired"
match ^(?<queue_id>[0-9A-Za-z]+):\x20[0-9A-Za-z]+:\x20(?:DSN|return\x20to\x20sender):\x20
  (?<response>delivery\x20time\x20expired.*)$

# Rule-set rejects at SMTP time (rscheck()):
#   [QID: ]ruleset=check_rcpt, arg1=<r>, relay=host [ip] [(may be forged)],
#   reject=550 5.7.1 <r>... Relaying denied
# arg1 is the recipient for check_rcpt, the sender for check_mail, a host
# for check_relay; relay= is the client.  Sendmail before 8.12 wrote
# "NOQUEUE: " when there was no queue ID.
rule ruleset-reject
status rejected
require " reject="
match ^(?:(?:NOQUEUE|(?<queue_id>[0-9A-Za-z]+)):\x20)?ruleset=
  (?:check_rcpt,\x20arg1=(?<recipient>[^,]*)|check_mail,\x20arg1=(?<sender>[^,]*)|[^,]*,\x20arg1=[^,]*)
  (?:,\x20arg2=[^,]*)?(?:,\x20relay=(?<client>[^,]*?)(?:\x20\(may\x20be\x20forged\))?)?
  ,\x20reject=(?<response>(?:(?<reply_code>[2-5]\d\d)
    (?:[\x20-](?<enhanced_code>[245]\.\d{1,3}\.\d{1,3})(?![\d.]))?(?=[\x20-]|$))?.*)$

# Milter rejects: "QID: Milter: to=<r>, reject=550 5.7.1 ...", "QID: Milter:
# data, reject=...", "QID: Milter: from=<s>, reject=...", "QID: Milter:
# connect: host=h, addr=ip, reject=...", and 8.14+'s "QID: milter=NAME,
# action=rcpt, reject=451 4.7.1 Greylisting in action".
rule milter-reject
status rejected
require "reject="
match ^(?:(?:NOQUEUE|(?<queue_id>[0-9A-Za-z]+)):\x20)?
  (?:Milter:\x20(?:to=(?<recipient><[^>]*>|[^,\s]*)|from=(?<sender><[^>]*>|[^,\s]*)|[^,]*?)
    |[Mm]ilter=[^,]*,\x20action=[^,]*)
  (?:,\x20(?!reject=)[a-z_]+=[^,]*)*
  ,\x20reject=(?<response>(?:(?<reply_code>[2-5]\d\d)
    (?:[\x20-](?<enhanced_code>[245]\.\d{1,3}\.\d{1,3})(?![\d.]))?(?=[\x20-]|$))?.*)$

# An unknown local recipient refused at RCPT time (LogUsrErrs):
#   QID: <nosuch@example.com>... User unknown
# Sendmail sends 550 5.1.1 but logs no code.  Rule-set rejects are logged
# on their own ruleset= line only (rscheck() turns LogUsrErrs off), so only
# the user-unknown wordings are taken here.
rule rcpt-unknown
status rejected
class 5
require "... "
match ^(?:(?:NOQUEUE|(?<queue_id>[0-9A-Za-z]+)):\x20)?(?<recipient><[^>\s]*>)\.\.\.\x20
  (?<response>(?:User\x20unknown|No\x20such\x20user(?:\x20here)?|Unknown\x20user)\b.*)$
