#!/bin/sh
# formats.sh - JSON parses (SQLite's JSON parser) and carries every section;
# CSV is RFC 4180 with formula cells neutralised; HTML escapes log text; the
# format follows --output's extension.  Hostile text: <script>, quotes, =cmd|.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
bin="$top_builddir/src/smtplog-report"
tmp=$(mktemp -d /tmp/smtplog-formats-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

cat >"$tmp/evil.log" <<'LOG'
Nov 27 10:00:00 mx postfix/smtp[1]: E1: to=<a@example.org>, relay=mx.example.org[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=5.7.1, status=bounced (host mx.example.org[192.0.2.1] said: 550 5.7.1 =cmd|' /C calc'!A0 <script>alert("x")</script> & "quoted", 'single' (in reply to end of DATA command))
Nov 27 10:00:01 mx postfix/smtp[1]: E2: to=<b@example.org>, relay=mx.example.org[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=4.7.1, status=deferred (host mx.example.org[192.0.2.1] said: 451 4.7.1 @SUM(1+1) bad\377byte (in reply to RCPT TO command))
Nov 27 10:00:02 mx postfix/smtpd[2]: NOQUEUE: reject: RCPT from x[203.0.113.1]: 554 -cmd Relay access denied; from=<-x@example.biz> to=<a@b> proto=ESMTP helo=<x>
LOG
printf 'Nov 27 10:00:03 mx postfix/smtp[1]: E3: to=<c@example.org>, relay=none, delay=1, delays=0/0/0/1, dsn=4.4.1, status=deferred (connect to x[192.0.2.9]:25: bad \001\033[31m ctrl)\n' >>"$tmp/evil.log"
run() { "$bin" ${PATTERNS_OPT:-} --db :memory: --year 2026 "$@" "$tmp/evil.log" 2>"$tmp/err"; }

# JSON: valid, schema_version, numbers as numbers, every section
run --format json >"$tmp/r.json" && ok || bad "json run: $(cat "$tmp/err")"
q() { sqlite3 :memory: "SELECT $1 FROM (SELECT readfile('$tmp/r.json') AS j)"; }
[ "$(q 'json_valid(j)')" = 1 ] && ok || bad "json is not valid"
[ "$(q "json_extract(j, '\$.schema_version')")" = 1 ] && ok || bad "json schema_version"
[ "$(q "json_type(j, '\$.summary.events.bounced')")" = integer ] && ok || bad "json numbers"
[ "$(q "json_extract(j, '\$.summary.events.total')")" = 4 ] && ok || bad "json totals"
for s in by_mta class_subject bounces deferrals rejections greylisting miscategorized domains relays failures_by_time; do
    [ "$(q "json_type(j, '\$.sections.$s.rows')")" = array ] && ok || bad "json section $s"
done
grep -q '<script>' "$tmp/r.json" && bad "json carries a raw <script>" || ok

# CSV: RFC 4180, formulas neutralised
run --format csv --section bounces >"$tmp/b.csv" && ok || bad "csv run"
head -1 "$tmp/b.csv" | grep -q '^events,recipients,domains,enhanced_code,reply_code,reason,hint,example' && ok || bad "csv header"
grep -q "$(printf '\r')$" "$tmp/b.csv" && ok || bad "csv CRLF"
grep -q "\"'=cmd|" "$tmp/b.csv" && ok || bad "csv: =cmd not neutralised: $(cat "$tmp/b.csv")"
grep -q '""x""' "$tmp/b.csv" && ok || bad "csv quotes doubled"
# no cell of any section may start with a formula character
for s in bounces deferrals rejections miscategorized_examples failures_by_time; do
    run --format csv --section $s >"$tmp/s.csv" || bad "csv $s"
    grep -qE '(^|,)"?[=+@-]' "$tmp/s.csv" && bad "csv $s: a cell starts with a formula character" || ok
done
"$bin" ${PATTERNS_OPT:-} --db :memory: --format csv --section nosuch "$tmp/evil.log" >/dev/null 2>&1
[ $? = 1 ] && ok || bad "unknown --section is a usage error"
"$bin" ${PATTERNS_OPT:-} --db :memory: --format text --section bounces "$tmp/evil.log" >/dev/null 2>&1
[ $? = 1 ] && ok || bad "--section without csv is a usage error"

# HTML: escaped, self-contained, format from the extension
run -o "$tmp/r.html" && ok || bad "html run"
grep -q '<script>alert' "$tmp/r.html" && bad "html: raw <script>" || ok
grep -q '&lt;script&gt;alert(&quot;x&quot;)' "$tmp/r.html" && ok || bad "html: escaped script missing"
grep -q "&#39;single&#39;" "$tmp/r.html" && ok || bad "html: single quotes"
grep -qi '<script\|src="http\|href="http\|@import\|url(' "$tmp/r.html" && bad "html fetches or scripts" || ok
grep -q "$(printf '\033')" "$tmp/r.html" && bad "html carries control bytes" || ok
[ "$(stat -c %a "$tmp/r.html")" = 600 ] && ok || bad "html file mode"
run -o "$tmp/r.csv2.csv" && head -1 "$tmp/r.csv2.csv" | grep -q '^events,' && ok || bad "csv from extension"
# text: control bytes never reach the terminal
run >"$tmp/r.txt"
grep -q "$(printf '\033')" "$tmp/r.txt" && bad "text carries ESC" || ok

echo "formats: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
