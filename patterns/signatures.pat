# signatures.pat - wording signatures used to classify response texts.
#
#   signature SET NAME REGEX
#
# REGEX is case-insensitive and runs on the response as logged.  Sets:
#   greylist     a greylisting server's own words (matched on 4xx only)
#   other-cause  a 4xx that names another cause: such a deferral followed by
#                acceptance is NOT counted as greylisting by behaviour
#   transient    a 5xx whose text says the condition is temporary
#   permanent    a 4xx whose text says the condition is permanent
# The first signature of a set that matches names the event's signature.
# Lines may share a NAME: it matches when any of them does.  Alternatives
# that begin with different words are written one a line ("\bretry\s+later"
# and "\bcome\s+back\s+later" rather than "\b(?:retry...|come...)"): a
# regex that begins with a known letter is found with PCRE2's SIMD search,
# one that begins with an alternation is tried at every byte (a 240-byte
# reply: 400-550 instructions a line against 3,100-3,800 for the whole).

# --- greylisting software ---
signature greylist postgrey      Greylisted,?\s+see\s+https?://postgrey
signature greylist sqlgrey       Greylisted\s+for\s+\d+\s+(?:second|minute|min)
signature greylist milter-greylist  Greylisting\s+in\s+action
signature greylist greylistd     \bgreylistd\b
signature greylist rspamd        \brspamd\b.*\bgreylist|\bgreylist.*\brspamd\b
signature greylist exim          \btemporarily\s+rejected\b.*\bgreylist
signature greylist mimecast      Internal\s+resource\s+temporarily\s+unavailable.*mimecast
signature greylist generic       \bgr[ae]y-?list(?:ed|ing)?\b|\bgr[ae]y\s+list(?:ed|ing)\b

# --- other causes that a retry also cures ---
signature other-cause rate-limit  \b(?:rate\s*limit|rate\s+of|unusual\s+rate|too\s+many|unexpected\s+volume|volume\s+of|throttl|TSS0\d|TS0\d|RL0\d|try\s+again\s+in\s+\d+\s+(?:sec|min)|exceeded\s+the\s+(?:rate|limit))
signature other-cause quota       \b(?:quota|mailbox\s+(?:is\s+)?full|over\s+(?:the\s+)?(?:storage|limit)|insufficient\s+(?:system\s+)?storage|out\s+of\s+storage|disk\s+full)
signature other-cause reputation  \b(?:block(?:ed|list)|black\s*list|deny\s*list|spamhaus|spamcop|barracuda|\bRBL\b|\bDNSBL\b|reputation|listed|complaints|suspicious|spam)
signature other-cause dns         \b(?:DNS|host\s+not\s+found|name\s+service|domain\s+not\s+found|NXDOMAIN|SERVFAIL|reverse\s+(?:DNS|lookup)|PTR|hostname)\b
signature other-cause tls         \bTLS\b
signature other-cause tls         \bSTARTTLS\b
signature other-cause tls         \bSSL\b
signature other-cause tls         \bcertificate\b
signature other-cause tls         \bcipher\b
signature other-cause connection  \b(?:connect(?:ion)?\s+(?:to|timed|refused|reset)|timed\s+out|lost\s+connection|Network\s+is\s+unreachable|No\s+route\s+to\s+host|conversation\s+with)
signature other-cause resources   \bInsufficient\s+system\s+resources
signature other-cause resources   \bsystem\s+(?:is\s+)?(?:busy|overloaded)
signature other-cause resources   \bout\s+of\s+memory
signature other-cause resources   \blocal\s+error
signature other-cause resources   \bprocessing\s+error
signature other-cause auth        \bSPF
signature other-cause auth        \bDKIM
signature other-cause auth        \bDMARC
signature other-cause auth        \bauthenticat

# --- a 5xx whose words say: temporary ---
signature transient try-later    \btry\s+(?:again\s+)?later
signature transient try-later    \bretry\s+later
signature transient try-later    \bplease\s+try\s+again
signature transient try-later    \bcome\s+back\s+later
signature transient temporary    \btemporar(?:y|ily)\b
signature transient for-now      \bfor\s+now
signature transient for-now      \bat\s+this\s+time
signature transient for-now      \bcurrently\s+unavailable
signature transient for-now      \bover\s+quota\s+for\s+now

# --- a 4xx whose words say: permanent ---
signature permanent user-unknown   \b(?:user\s+unknown|unknown\s+user|no\s+such\s+(?:user|mailbox|recipient|address)|mailbox\s+(?:does\s+not|doesn't)\s+exist|account\s+(?:does\s+not|doesn't)\s+exist|does\s+not\s+exist|invalid\s+(?:recipient|mailbox|address)|recipient\s+(?:address\s+)?rejected:\s+(?:user\s+unknown|undeliverable\s+address))
signature permanent relay-denied   \brelay(?:ing)?\s+(?:access\s+)?denied
signature permanent relay-denied   \brelaying\s+not\s+(?:allowed|permitted)
signature permanent relay-denied   \bnot\s+permitted\s+to\s+relay
signature permanent disabled       \b(?:account\s+(?:has\s+been\s+)?disabled|mailbox\s+disabled|account\s+(?:is\s+)?inactive)
