#!/bin/sh
# badinput.sh - the bad-input suite: every case gets a one-line error naming
# the thing and the cause, the right exit status, and leaves the database
# consistent (PRAGMA integrity_check, and a later clean run works).
# Cases needing root (tmpfs for a full disk, another user for permissions)
# are skipped, not failed, where they cannot be set up.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
bin=$(cd "$top_builddir" && pwd)/src/smtplog-report
tmp=$(mktemp -d /tmp/smtplog-bad-XXXXXX)
chmod 755 "$tmp"
cleanup() { umount "$tmp/full" 2>/dev/null; chmod -R u+rwx "$tmp" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
pass=0 fail=0 skip=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
note() { echo "case: $1 -> exit $2: $(head -n 1 "$tmp/err")"; }
# case NAME WANT_STATUS EXPECTED_TEXT -- command...
case_() {
    name=$1 want=$2 text=$3; shift 4
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    note "$name" "$got"
    [ "$got" -eq "$want" ] && ok || bad "$name: exit $got, expected $want"
    if [ -n "$text" ]; then grep -qF -- "$text" "$tmp/err" && ok || bad "$name: stderr lacks '$text'"; fi
    # one line per error: no stderr line is an unexplained fragment
    [ "$(grep -vc '^smtplog-report: ' "$tmp/err")" -eq 0 ] && ok || bad "$name: stray stderr lines"
}
consistent() {
    [ "$(sqlite3 "$1" 'PRAGMA integrity_check' 2>&1)" = ok ] && ok || bad "$2: database not consistent"
}
L1='Nov 27 06:25:13 mx postfix/smtp[1]: A1B2C3D4E5: to=<bob@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host mx.example.com[192.0.2.1] said: 550 5.1.1 <bob@example.com>: User unknown (in reply to RCPT TO command))'
printf '%s\n' "$L1" >"$tmp/good.log"

# random bytes, NUL bytes, CRLF, invalid UTF-8, a 20 MB line
head -c 1000000 /dev/urandom >"$tmp/random.log"
case_ "random bytes" 0 "" -- "$bin" --db "$tmp/r.db" "$tmp/random.log"
consistent "$tmp/r.db" "random bytes"
printf 'Nov 27 06:25:13 mx postfix/smtp[1]: A: to=<a\000@b>, relay=x, dsn=5.1.1, status=bounced (550 \000 x)\r\n\377\376\375 invalid utf-8 \300\200\r\n' >"$tmp/nul.log"
head -c 20971520 /dev/zero | tr '\0' 'A' >>"$tmp/nul.log"
printf '\n%s\r\n' "$L1" >>"$tmp/nul.log"
case_ "NUL, CRLF, invalid UTF-8, 20 MB line" 0 "" -- "$bin" --db "$tmp/n.db" "$tmp/nul.log"
[ "$(sqlite3 "$tmp/n.db" "SELECT count(*) FROM events WHERE status = 'bounced'")" = 2 ] && ok || bad "lines around the 20 MB line"
grep -q "lines longer than" "$tmp/err" && ok || bad "the cut line is reported"

# gzip: truncated, corrupt
gzip -c "$tmp/random.log" | head -c 50000 >"$tmp/trunc.log.gz"
case_ "truncated gzip" 2 "$tmp/trunc.log.gz: " -- "$bin" --db "$tmp/g.db" "$tmp/trunc.log.gz" "$tmp/good.log"
[ "$(sqlite3 "$tmp/g.db" 'SELECT count(*) FROM events')" = 1 ] && ok || bad "input after a truncated gzip"
consistent "$tmp/g.db" "truncated gzip"
{ printf '%s\n' "$L1" | gzip -c | head -c 12; head -c 3000 /dev/urandom; } >"$tmp/corrupt.log.gz"
case_ "corrupt gzip" 2 "$tmp/corrupt.log.gz: " -- "$bin" --db "$tmp/g.db" "$tmp/corrupt.log.gz"

# missing file, directory, unreadable file
case_ "missing file" 2 "$tmp/missing.log: No such file or directory" -- "$bin" --db "$tmp/m.db" "$tmp/missing.log"
case_ "directory" 2 "$tmp: is a directory" -- "$bin" --db "$tmp/m.db" "$tmp"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
    cp "$tmp/good.log" "$tmp/secret.log"; chmod 600 "$tmp/secret.log"
    mkdir "$tmp/nb"; chown 65534 "$tmp/nb"
    case_ "unreadable file" 2 "$tmp/secret.log: Permission denied" -- as_nobody "$bin" --db "$tmp/nb/x.db" "$tmp/secret.log"
    # a database the user may read but not write, and one in a read-only folder
    "$bin" --db "$tmp/ro.db" "$tmp/good.log" >/dev/null 2>&1; chmod 644 "$tmp/ro.db"
    case_ "read-only database" 2 "$tmp/ro.db: " -- as_nobody "$bin" --db "$tmp/ro.db" "$tmp/good.log"
    consistent "$tmp/ro.db" "read-only database"
    case_ "unwritable folder" 2 "$tmp/x.db: Permission denied" -- as_nobody "$bin" --db "$tmp/x.db" "$tmp/good.log"
else
    skip=$((skip + 3)); echo "skipped: permission cases (need root and setpriv)"
fi

# a database locked by another writer: wait (10 s), then a clear error
"$bin" --db "$tmp/lock.db" "$tmp/good.log" >/dev/null 2>&1
( printf 'BEGIN EXCLUSIVE;\n'; sleep 14; printf 'COMMIT;\n' ) | sqlite3 "$tmp/lock.db" &
holder=$!
sleep 1
start=$(date +%s)
case_ "locked database" 2 "$tmp/lock.db: database is locked" -- "$bin" --db "$tmp/lock.db" "$tmp/good.log"
waited=$(( $(date +%s) - start ))
[ "$waited" -ge 8 ] && ok || bad "locked database: gave up after ${waited}s, expected a wait"
wait $holder
consistent "$tmp/lock.db" "locked database"

# a full disk: a 400 KiB tmpfs
if mkdir "$tmp/full" && mount -t tmpfs -o size=400k tmpfs "$tmp/full" 2>/dev/null; then
    awk -v n=20000 'BEGIN{for(i=0;i<n;i++) printf "Nov 27 06:25:13 mx postfix/smtp[1]: Q%06d: to=<u%d@example.com>, relay=none, delay=1, delays=0/0/0/1, dsn=4.4.1, status=deferred (connect to mx%d.example.com[192.0.2.1]:25: Connection timed out)\n", i, i, i}' >"$tmp/many.log"
    case_ "full disk" 2 "$tmp/full/f.db: database or disk is full" -- "$bin" --db "$tmp/full/f.db" "$tmp/many.log"
    # that one error, none following from it (a new database's schema is
    # committed before its first load: the load's rollback leaves it)
    [ "$(wc -l <"$tmp/err")" -eq 1 ] && ok || bad "full disk: more than the one error: $(tr '\n' '|' <"$tmp/err")"
    consistent "$tmp/full/f.db" "full disk"
    umount "$tmp/full"
else
    skip=$((skip + 1)); echo "skipped: full disk (cannot mount a tmpfs here)"
fi

# broken pattern files; a database from a newer schema; bad knowledge base
mkdir "$tmp/pat"
cp "$top_srcdir"/patterns/*.pat "$top_srcdir"/patterns/codes.tsv "$tmp/pat/"
printf 'rule oops\nmatch (\n' >>"$tmp/pat/postfix.pat"
case_ "broken pattern" 3 "$tmp/pat/postfix.pat:" -- "$bin" --db :memory: --patterns "$tmp/pat" "$tmp/good.log"
grep -q ": offset 1: missing closing parenthesis" "$tmp/err" && ok || bad "pattern error gives the PCRE2 message"
cp "$top_srcdir"/patterns/postfix.pat "$tmp/pat/"
printf 'code\ttitle\n550\tx\n' >"$tmp/pat/codes.tsv"
case_ "broken codes.tsv" 3 "$tmp/pat/codes.tsv:1: 2 columns, expected 8" -- "$bin" --db :memory: --patterns "$tmp/pat" "$tmp/good.log"
sqlite3 "$tmp/new.db" 'PRAGMA user_version = 99'
case_ "newer schema" 2 "$tmp/new.db: database schema version 99 is newer" -- "$bin" --db "$tmp/new.db" "$tmp/good.log"
printf 'this is not a database, just text that is long enough to be read as a header..........\n' >"$tmp/notdb.db"
case_ "not a database" 2 "$tmp/notdb.db: file is not a database" -- "$bin" --db "$tmp/notdb.db" "$tmp/good.log"

# one recipient of one message deferred 30,000 times (a queue ID reused for
# months, or a crafted log): the analysis is linear in a message's events
awk 'BEGIN {
    for (i = 0; i < 30000; i++)
        printf "Nov 27 %02d:%02d:%02d mx postfix/smtp[1]: 5A1B2C3D4E: to=<u@example.com>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.example.com[192.0.2.1]:25: Connection timed out)\n", int(i / 3600) % 24, int(i / 60) % 60, i % 60
    print "Nov 27 23:59:59 mx postfix/qmgr[2]: 5A1B2C3D4E: from=<s@example.org>, status=expired, returned to sender"
}' >"$tmp/retries.log"
case_ "30,000 deferrals of one recipient" 0 "" -- timeout 60 "$bin" --db "$tmp/retries.db" --year 2026 "$tmp/retries.log"
[ "$(sqlite3 "$tmp/retries.db" "select count(*) from miscategorized where rule = '4xx-until-expiry'")" = 30000 ] &&
    ok || bad "30,000 deferrals until expiry flagged"

echo "badinput: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
