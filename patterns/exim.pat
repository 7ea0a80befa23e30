# exim.pat - Exim outcome lines (main log and reject log).
#
# Format: see the man page (PATTERN FILES) and the top of postfix.pat.  The
# regexes run on the text after Exim's own timestamp and [pid], which the
# envelope parser removes for native mainlog/rejectlog lines and for
# syslog-wrapped ones alike.
#
# Delivery lines: MSGID FLAG ADDRESS [(parent)...] [<original>] attributes
#   =>  delivered            ->  further address, same delivery
#   *>  delivery suppressed by -N: Exim treats the address as delivered and
#       removes it from the queue, so it is recorded as "sent" (no reply code;
#       the C="delivery bypassed by -N option" text is kept as the response)
#   **  failed (bounced)     ==  deferred
# Message IDs are base-62 words joined by "-": 6-6-2 before Exim 4.97
# (1tGh2a-000AbC-1x), 6-11-4 since (1tGh2a-00000000AbC-1x0A); never a fixed
# width here.  The recipient is the address after the flag (a pipe or file
# for local deliveries), orig_recipient the top-level address Exim shows in
# <...>.  F=<...> (log_selector +sender_on_delivery) is the envelope sender;
# without it the sender is not on delivery lines.  The relay is H=host [ip]
# (with :port when logged), or the "host H [ip]:" of older Exim's error
# text; it is captured by a look-ahead because a deferral may log it after
# the message ("defer (110): Connection timed out H=host [ip]: ...").
# Reply and enhanced codes come from C="..." on deliveries, else from the
# remote's reply in "SMTP|LMTP|PRDR error ... after CMD: [host H [ip]: ]CODE"
# or a callout's 'response to "CMD" was: CODE'; Exim's own texts carry none.
# Lines without any code get the class the flag implies (class directive).

mta exim
programs exim
candidate " => "
candidate " -> "
candidate " ** "
candidate " == "
candidate "rejected RCPT "
candidate "rejected MAIL "
candidate "rejected after DATA"
candidate "rejected connection in "

# Retry cutoff reached: "** a@b: retry timeout exceeded", also appended to
# the last error ("...: 450 try later: retry timeout exceeded"), and the
# forms Exim uses when every host is past its cutoff.
#
# Speed, in these rules and the rejects below: a phrase is looked for only
# where it can begin - after a space (" error from remote mail"), at one of
# its first letters ("[^LPSr]*+(?:[LPSr][^LPSr]*+)*?" before
# "SMTP|LMTP|PRDR|response", "[^rha]..." before the expiry phrases), and
# the lazy end of a deferral's response only at white space, a failed
# recipient's end only at a colon or its last byte - rather than by a ".*?"
# or "\S*?" that tries every byte: the same matches; the expired rule
# 13002 -> 7167 instructions a "**" line, bounced 5692 -> 4686, the
# deferred rule 10560 -> 5849 a "==" line.
rule expired
status expired
class 4
require " ** "
# the three wordings the regex's first lookahead wants: a bounce that has
# none (most " ** " lines) is not given to the regex, which spent 500 ns
# finding that out (30 ms in 100 MB of bounce-heavy Exim log)
require-any "retry timeout exceeded" "have been failing for a long time"
  "after a long failure period"
match ^(?<queue_id>[0-9A-Za-z]+-[0-9A-Za-z]+-[0-9A-Za-z]+)\x20\*\*\x20
  (?=[^rha]*+(?:[rha][^rha]*+)*?(?:retry\x20timeout\x20exceeded|have\x20been\x20failing\x20for\x20a\x20long\x20time
     |after\x20a\x20long\x20failure\x20period))
  (?|(?=(?:[^\x20]*+\x20)+?H=(?<relay>[^\s\[]+(?:\x20\([^)]*\))?(?:\x20DS)?(?:\x20\[[^\]\s]*\](?::\w+)?)?))
    |(?=(?:[^\x20]*+\x20)+?error\x20from\x20remote\x20mail(?:er|\x20server)\x20after\x20(?:[^:<]|<[^>]*>|:(?!\x20))*
        :\x20host\x20(?<relay>\S+\x20\[[^\]]*\]):\x20)
    |)
  (?<recipient>\|.*?(?=\x20<)|"[^"]*"\S*|[^\s"][^\s:]*+(?::[^\s:]*+)*?)(?=:?(?:\x20|$))
  (?:\x20\([^)]*\))*(?:\x20<(?<orig_recipient>[^>]*)>)?
  (?:\x20(?:F=(?<sender><[^>]*>|[^\s:]+)|[A-Za-z][A-Za-z0-9]*="(?:[^"\\]|\\.)*"
     |[^\s:"]+(?::(?!\x20|$)[^\s:"]*)*))*
  \x20?:\x20
  (?<response>
    (?:(?:[^LPSr]*+(?:[LPSr][^LPSr]*+)*?(?:(?:SMTP|LMTP|PRDR)\x20error\x20(?:from\x20remote\x20mail(?:er|\x20server)\x20)?after\x20
           (?:[^:<]|<[^>]*>|:(?!\x20))*|response\x20to\x20"[^"]*"\x20was)
        :\x20(?:host\x20\S+\x20\[[^\]]*\]:\x20)?)?
      (?<reply_code>[2-5]\d\d)(?:[\x20-](?<enhanced_code>[245]\.\d{1,3}\.\d{1,3})(?![\d.]))?
      (?=[\x20-]|\\n|$))?
    .*)$

# Permanent failure: "** a@b R=r T=t H=h [ip]: SMTP error from remote mail
# server after RCPT TO:<a@b>: 550 5.1.1 ...", "** a@b: Unrouteable address",
# "** a@b R=r T=t : return message generated" (the space before ":" is
# Exim's when no host was used).  Attributes never hold ": ".
rule bounced
status bounced
class 5
require " ** "
match ^(?<queue_id>[0-9A-Za-z]+-[0-9A-Za-z]+-[0-9A-Za-z]+)\x20\*\*\x20
  (?|(?=(?:[^\x20]*+\x20)+?H=(?<relay>[^\s\[]+(?:\x20\([^)]*\))?(?:\x20DS)?(?:\x20\[[^\]\s]*\](?::\w+)?)?))
    |(?=(?:[^\x20]*+\x20)+?error\x20from\x20remote\x20mail(?:er|\x20server)\x20after\x20(?:[^:<]|<[^>]*>|:(?!\x20))*
        :\x20host\x20(?<relay>\S+\x20\[[^\]]*\]):\x20)
    |)
  (?<recipient>\|.*?(?=\x20<)|"[^"]*"\S*|[^\s"][^\s:]*+(?::[^\s:]*+)*?)(?=:?(?:\x20|$))
  (?:\x20\([^)]*\))*(?:\x20<(?<orig_recipient>[^>]*)>)?
  (?:\x20(?:F=(?<sender><[^>]*>|[^\s:]+)|[A-Za-z][A-Za-z0-9]*="(?:[^"\\]|\\.)*"
     |[^\s:"]+(?::(?!\x20|$)[^\s:"]*)*))*
  \x20?:\x20
  (?<response>
    (?:(?:[^LPSr]*+(?:[LPSr][^LPSr]*+)*?(?:(?:SMTP|LMTP|PRDR)\x20error\x20(?:from\x20remote\x20mail(?:er|\x20server)\x20)?after\x20
           (?:[^:<]|<[^>]*>|:(?!\x20))*|response\x20to\x20"[^"]*"\x20was)
        :\x20(?:host\x20\S+\x20\[[^\]]*\]:\x20)?)?
      (?<reply_code>[2-5]\d\d)(?:[\x20-](?<enhanced_code>[245]\.\d{1,3}\.\d{1,3})(?![\d.]))?
      (?=[\x20-]|\\n|$))?
    .*)$

# Failures Exim logs without the ": " separator ("** a@b mua_wrapper forced
# failure for deferred delivery", "** a@b routing yielded a local delivery").
rule bounced-plain
status bounced
class 5
require " ** "
match ^(?<queue_id>[0-9A-Za-z]+-[0-9A-Za-z]+-[0-9A-Za-z]+)\x20\*\*\x20
  (?<recipient>[^\s"]\S*?)(?:\x20<(?<orig_recipient>[^>]*)>)?\x20(?<response>\S.*)$

# Deferral: "== a@b R=r T=t defer (-44) H=h [ip]: SMTP error from remote mail
# server after RCPT TO:<a@b>: 451 4.7.1 ...", "== a@b routing defer (-51):
# retry time not reached", "== a@b R=r T=t defer (111): Connection refused".
# The errno in parentheses is Exim's (-44/-45/-46: 4xx after RCPT/MAIL/DATA)
# or the system's; H= may follow "defer (N)" or the message (a trailing
# " H=host [ip]" is left out of the response, so one cause groups as one).
rule deferred
status deferred
class 4
require " == "
match ^(?<queue_id>[0-9A-Za-z]+-[0-9A-Za-z]+-[0-9A-Za-z]+)\x20==\x20
  (?|(?=(?:[^\x20]*+\x20)+?H=(?<relay>[^\s\[]+(?:\x20\([^)]*\))?(?:\x20DS)?(?:\x20\[[^\]\s]*\](?::\w+)?)?))
    |(?=(?:[^\x20]*+\x20)+?error\x20from\x20remote\x20mail(?:er|\x20server)\x20after\x20(?:[^:<]|<[^>]*>|:(?!\x20))*
        :\x20host\x20(?<relay>\S+\x20\[[^\]]*\]):\x20)
    |)
  (?<recipient>\|.*?(?=\x20<)|"[^"]*"\S*|[^\s"]\S*+)(?=\x20)
  (?:\x20\([^)]*\))*(?:\x20<(?<orig_recipient>[^>]*)>)?
  (?:\x20(?:F=(?<sender><[^>]*>|\S+)|[A-Za-z][A-Za-z0-9]*="(?:[^"\\]|\\.)*"|(?!(?:routing\x20)?defer\x20\()\S+))*?
  \x20(?:routing\x20)?defer\x20\([^)]*\)
  (?:\x20H=\S+(?:\x20\([^)]*\))?(?:\x20DS)?(?:\x20\[[^\]\s]*\]?(?::\w+)?)?\*?
     (?:\x20[A-Za-z][A-Za-z0-9]*=(?:"(?:[^"\\]|\\.)*"|[^\s:"]*(?::(?!\x20|$)[^\s:"]*)*))*)?
  (?:\x20?:\x20?
  (?<response>
    (?:(?:[^LPSr]*+(?:[LPSr][^LPSr]*+)*?(?:(?:SMTP|LMTP|PRDR)\x20error\x20(?:from\x20remote\x20mail(?:er|\x20server)\x20)?after\x20
           (?:[^:<]|<[^>]*>|:(?!\x20))*|response\x20to\x20"[^"]*"\x20was)
        :\x20(?:host\x20\S+\x20\[[^\]]*\]:\x20)?)?
      (?<reply_code>[2-5]\d\d)(?:[\x20-](?<enhanced_code>[245]\.\d{1,3}\.\d{1,3})(?![\d.]))?
      (?=[\x20-]|\\n|$))?
    [^\s]*+(?:\s[^\s]*+)*?))?
  (?:\x20H=\S+(?:\x20\([^)]*\))?(?:\x20DS)?(?:\x20\[[^\]\s]*\](?::\w+)?)?\*?)?\s*$

# Delivery: "=> a@b <orig@c> F=<s> R=r T=t H=h [ip]:25 X=... CV=yes
# DN="..." C="250 2.0.0 Ok: queued as 4Xyz"", local "=> user <user@b> R=r
# T=local_delivery", "-> c@b ..." (same transaction), "*> ..." (-N, see the
# top).  C="..." is the remote's confirmation; it runs to the last quote
# before any trailing QT=/DT= attributes.
rule sent
status sent
class 2
# "=> ", "-> " and "*> " all hold "> ": most other lines (arrivals "<=",
# "Completed", connections) are passed over without running the regex.
# Here and in the rules above, the relay is looked for word by word: "H="
# just after a space ("(?:[^\x20]*+\x20)+?H=", the same as ".*?\x20H=",
# which tries every byte); a recipient's last non-space is found at once
# ("\S*+": its end can only be a space or the line's end, so a lazy "\S*?"
# would try each byte for nothing): 4234 -> 2913 instructions a delivery
# line
require "> "
match ^(?<queue_id>[0-9A-Za-z]+-[0-9A-Za-z]+-[0-9A-Za-z]+)\x20(?:=>|->|\*>)\x20
  (?|(?=(?:[^\x20]*+\x20)+?H=(?<relay>[^\s\[]+(?:\x20\([^)]*\))?(?:\x20DS)?(?:\x20\[[^\]\s]*\](?::\w+)?)?))|)
  (?<recipient>\|.*?(?=\x20<)|"[^"]*"\S*|[^\s"]\S*+)(?=\x20|$)
  (?:\x20\([^)]*\))*(?:\x20<(?<orig_recipient>[^>]*)>)?
  (?:\x20(?:F=(?<sender><[^>]*>|\S+)
     |C="(?<response>(?:(?<reply_code>[2-5]\d\d)
         (?:[\x20-](?<enhanced_code>[245]\.\d{1,3}\.\d{1,3})(?![\d.]))?(?=[\x20-]|\\n|"))?.*)"
       (?=(?:\x20[A-Z]+=\S*)*\s*$)
     |[A-Za-z][A-Za-z0-9]*="(?:[^"\\]|\\.)*"
     |\S+))*\s*$

# SMTP-time rejects by this server (main log and reject log):
# "H=h (helo) [ip]:port I=[ip]:25 F=<s> rejected RCPT <r>: text", "...
# temporarily rejected RCPT <r>: 451 4.7.1 Try again", "QID H=... F=<s>
# rejected after DATA: text", "H=[ip] rejected connection in "connect" ACL",
# "QID F=s H=... P=esmtp rejected by local_scan(): text".  Exim logs its
# own reply code only when the ACL message begins with one; a recipient
# callout failure quotes the called server's reply, which is the code
# Exim passes on.  "temporarily" means 4xx (class 4), else 5xx (class 5).
# The client is H=name (helo) [ip] without the client's source port.
rule temp-reject
status rejected
class 4
require "temporarily rejected "
match ^(?:(?<queue_id>[0-9A-Za-z]+-[0-9A-Za-z]+-[0-9A-Za-z]+)\x20)?
  (?:(?:H=(?<client>(?:[^\s\[(]+\x20)?(?:\([^)]*\)\x20)?\[[^\]\s]*\]|\S+)(?::\d+)?
     |F=(?<sender><[^>]*>|\S+)
     |[A-Za-z][A-Za-z0-9]*="(?:[^"\\]|\\.)*"
     |[A-Za-z][A-Za-z0-9]*=\S*)\x20)*
  temporarily\x20rejected\x20
  (?:RCPT\x20(?<recipient><[^>]*>|[^\s:]+)|MAIL(?:\x20FROM:)?(?:\x20?<[^>]*>)?|after\x20(?:DATA|BDAT)
    |connection\x20in\x20"[^"]*"\x20ACL|connection|by\x20local_scan\(\)|from\x20<[^>]*>
    |EHLO\x20or\x20HELO\x20\S*)
  (?::?\x20
  (?<response>
    (?:(?:[^LPSr]*+(?:[LPSr][^LPSr]*+)*?(?:(?:SMTP|LMTP|PRDR)\x20error\x20(?:from\x20remote\x20mail(?:er|\x20server)\x20)?after\x20
           (?:[^:<]|<[^>]*>|:(?!\x20))*|response\x20to\x20"[^"]*"\x20was)
        :\x20(?:host\x20\S+\x20\[[^\]]*\]:\x20)?)?
      (?<reply_code>[2-5]\d\d)(?:[\x20-](?<enhanced_code>[245]\.\d{1,3}\.\d{1,3})(?![\d.]))?
      (?=[\x20-]|\\n|$))?
    .*))?$

rule reject
status rejected
class 5
require "rejected "
match ^(?:(?<queue_id>[0-9A-Za-z]+-[0-9A-Za-z]+-[0-9A-Za-z]+)\x20)?
  (?:(?:H=(?<client>(?:[^\s\[(]+\x20)?(?:\([^)]*\)\x20)?\[[^\]\s]*\]|\S+)(?::\d+)?
     |F=(?<sender><[^>]*>|\S+)
     |[A-Za-z][A-Za-z0-9]*="(?:[^"\\]|\\.)*"
     |[A-Za-z][A-Za-z0-9]*=\S*)\x20)*
  rejected\x20
  (?:RCPT\x20(?<recipient><[^>]*>|[^\s:]+)|MAIL(?:\x20FROM:)?(?:\x20?<[^>]*>)?|after\x20(?:DATA|BDAT)
    |connection\x20in\x20"[^"]*"\x20ACL|connection|by\x20local_scan\(\)|from\x20<[^>]*>
    |EHLO\x20or\x20HELO\x20\S*)
  (?::?\x20
  (?<response>
    (?:(?:[^LPSr]*+(?:[LPSr][^LPSr]*+)*?(?:(?:SMTP|LMTP|PRDR)\x20error\x20(?:from\x20remote\x20mail(?:er|\x20server)\x20)?after\x20
           (?:[^:<]|<[^>]*>|:(?!\x20))*|response\x20to\x20"[^"]*"\x20was)
        :\x20(?:host\x20\S+\x20\[[^\]]*\]:\x20)?)?
      (?<reply_code>[2-5]\d\d)(?:[\x20-](?<enhanced_code>[245]\.\d{1,3}\.\d{1,3})(?![\d.]))?
      (?=[\x20-]|\\n|$))?
    .*))?$
