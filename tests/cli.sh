#!/bin/sh
# cli.sh - drive the binary: exit statuses, error messages, bad input,
# resume across runs and rotation, file modes.  Prints "N passed, N failed".
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
bin="$top_builddir/src/smtplog-report"
tmp=$(mktemp -d /tmp/smtplog-cli-XXXXXX)
trap 'chmod -R u+rwx "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
pass=0 fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# expect STATUS DESCRIPTION -- command...
expect() {
    want=$1 what=$2; shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok; else bad "$what: exit $got, expected $want ($(head -c 300 "$tmp/err"))"; fi
}
# err_has TEXT DESCRIPTION
err_has() { if grep -qF -- "$1" "$tmp/err"; then ok; else bad "$2: stderr lacks '$1': $(head -c 300 "$tmp/err")"; fi; }
out_has() { if grep -qF -- "$1" "$tmp/out"; then ok; else bad "$2: stdout lacks '$1'"; fi; }
rows() { sqlite3 "$1" "$2" 2>/dev/null || echo "sqlite3-error"; }

L1='Nov 27 06:25:13 mx postfix/smtp[1]: A1B2C3D4E5: to=<bob@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host mx.example.com[192.0.2.1] said: 550 5.1.1 <bob@example.com>: User unknown (in reply to RCPT TO command))'
L2='Nov 27 06:25:14 mx postfix/smtp[1]: A1B2C3D4E6: to=<amy@example.net>, relay=mx.example.net[192.0.2.2]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 123)'
L3='Nov 27 06:25:15 mx postfix/smtp[1]: A1B2C3D4E7: to=<cy@example.org>, relay=mx.example.org[192.0.2.3]:25, delay=1, delays=0/0/0/1, dsn=4.7.1, status=deferred (host mx.example.org[192.0.2.3] said: 450 4.7.1 Greylisted, see http://postgrey.schweikert.ch/help/example.org.html (in reply to RCPT TO command))'
L4='Nov 27 06:25:16 mx postfix/smtpd[2]: NOQUEUE: reject: RCPT from unknown[203.0.113.5]: 554 5.7.1 <spam@example.com>: Relay access denied; from=<x@example.biz> to=<spam@example.com> proto=ESMTP helo=<spammer>'
NOISE='Nov 27 06:25:17 mx postfix/qmgr[3]: A1B2C3D4E5: removed'
printf '%s\n%s\n%s\n' "$L1" "$NOISE" "$L2" >"$tmp/mail.log"

# --help, --version, usage errors
expect 0 "--help" -- "$bin" --help; out_has "Usage: smtplog-report" "--help"
out_has "more than PCT% of outcomes bounced" "--help text is printed as written"
expect 0 "--version" -- "$bin" --version; out_has "smtplog-report " "--version"
expect 1 "unknown option" -- "$bin" --frobnicate; err_has "unknown or incomplete option '--frobnicate'" "unknown option"
expect 1 "bad --top" -- "$bin" --top zero "$tmp/mail.log"; err_has "--top: 'zero'" "bad --top"
expect 1 "bad --since" -- "$bin" --since 2026-13-01 "$tmp/mail.log"; err_has "--since: '2026-13-01' is not a time" "bad --since"
expect 1 "bad --format" -- "$bin" --format pdf "$tmp/mail.log"

# a normal run; the database is 0600 and holds one row per outcome
expect 0 "first run" -- "$bin" --db "$tmp/a.db" "$tmp/mail.log"
out_has "Bounce causes" "report"
out_has "User unknown" "report"
[ "$(rows "$tmp/a.db" 'select count(*) from events')" = 2 ] && ok || bad "first run stores 2 events"
[ "$(stat -c %a "$tmp/a.db")" = 600 ] && ok || bad "database mode $(stat -c %a "$tmp/a.db")"
# the first load into an empty database goes through a rollback journal;
# the database is left in WAL mode, with no journal behind
[ "$(rows "$tmp/a.db" 'pragma journal_mode')" = wal ] && ok || bad "journal mode after a first load: $(rows "$tmp/a.db" 'pragma journal_mode')"
[ ! -e "$tmp/a.db-journal" ] && ok || bad "rollback journal left behind"
[ "$(rows "$tmp/a.db" "select line_no||' '||status||' '||reply_code||' '||enhanced_code from events order by id limit 1")" = "1 bounced 550 5.1.1" ] && ok || bad "row fields"

# the same file again adds nothing; appended lines are added exactly once
expect 0 "second run" -- "$bin" --db "$tmp/a.db" "$tmp/mail.log"
[ "$(rows "$tmp/a.db" 'select count(*) from events')" = 2 ] && ok || bad "re-run added rows"
printf '%s\n' "$L3" >>"$tmp/mail.log"
expect 0 "grown file" -- "$bin" --db "$tmp/a.db" "$tmp/mail.log"
[ "$(rows "$tmp/a.db" 'select count(*) from events')" = 3 ] && ok || bad "appended line not added once"
[ "$(rows "$tmp/a.db" "select line_no from events where status='deferred'")" = 4 ] && ok || bad "line number after resume"
# findings cover every stored event: an analysis lost to a kill after the
# events' commit is done by the next run, even when nothing new is read.
# A failure's text findings are committed with it; what a kill can lose is
# what its message's other events tell: here, that L3's greylisting ended
# in acceptance 10 minutes later.
[ "$(rows "$tmp/a.db" "select value from meta where key='analyzed_through'")" = 3 ] && ok || bad "analysis mark"
[ "$(rows "$tmp/a.db" "select basis from greylisting")" = text ] && ok || bad "text finding stored with the event"
L3_SENT='Nov 27 06:35:15 mx postfix/smtp[1]: A1B2C3D4E7: to=<cy@example.org>, relay=mx.example.org[192.0.2.3]:25, delay=601, delays=600/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 456)'
printf '%s\n%s\n' "$L3" "$L3_SENT" >"$tmp/grey.log"
expect 0 "greylisted, then accepted" -- "$bin" --db "$tmp/g.db" "$tmp/grey.log"
[ "$(rows "$tmp/g.db" "select basis||' '||delay from greylisting")" = "text 600" ] && ok || bad "acceptance delay: $(rows "$tmp/g.db" "select * from greylisting")"
rows "$tmp/g.db" "update greylisting set accepted_event_id = NULL, delay = NULL; update meta set value = 0 where key = 'analyzed_through'" >/dev/null
expect 0 "re-run after lost analysis" -- "$bin" --db "$tmp/g.db" "$tmp/grey.log"
[ "$(rows "$tmp/g.db" "select basis||' '||delay from greylisting")" = "text 600" ] && ok || bad "lost analysis redone: $(rows "$tmp/g.db" "select * from greylisting")"

# rotation: mail.log -> mail.log.1.gz, new mail.log; only new lines are added
mv "$tmp/mail.log" "$tmp/mail.log.1"
printf '%s\n' "$NOISE" >>"$tmp/mail.log.1"
gzip "$tmp/mail.log.1"
printf '%s\n' "$L4" >"$tmp/mail.log"
expect 0 "rotated" -- "$bin" --db "$tmp/a.db" "$tmp/mail.log.1.gz" "$tmp/mail.log"
[ "$(rows "$tmp/a.db" 'select count(*) from events')" = 4 ] && ok || bad "rotation: $(rows "$tmp/a.db" 'select count(*) from events') rows, expected 4"
[ "$(rows "$tmp/a.db" 'select count(*) from sources')" = 2 ] && ok || bad "rotation: sources"

# rotation without compression: mail.log -> mail.log.1 (plain), new mail.log
printf '%s\n%s\n' "$L1" "$L2" >"$tmp/p.log"
"$bin" --db "$tmp/p.db" "$tmp/p.log" >/dev/null 2>&1
printf '%s\n' "$L3" >>"$tmp/p.log"
mv "$tmp/p.log" "$tmp/p.log.1"
printf '%s\n' "$L4" >"$tmp/p.log"
expect 0 "plain rotation" -- "$bin" --db "$tmp/p.db" "$tmp/p.log" "$tmp/p.log.1"
[ "$(rows "$tmp/p.db" 'select count(*) from events')" = 4 ] && ok || bad "plain rotation: $(rows "$tmp/p.db" 'select count(*) from events') rows, expected 4"
expect 0 "plain rotation again" -- "$bin" --db "$tmp/p.db" "$tmp/p.log" "$tmp/p.log.1"
[ "$(rows "$tmp/p.db" 'select count(*) from events')" = 4 ] && ok || bad "plain rotation re-run added rows"

# a missing file: one line naming it, the other input still read, exit 2
expect 2 "missing file" -- "$bin" --db "$tmp/b.db" "$tmp/nope.log" "$tmp/mail.log"
err_has "$tmp/nope.log: No such file or directory" "missing file"
[ "$(rows "$tmp/b.db" 'select count(*) from events')" = 1 ] && ok || bad "other input read after a missing one"
expect 2 "directory" -- "$bin" --db "$tmp/b.db" "$tmp"
err_has "is a directory" "directory"
if [ "$(id -u)" != 0 ]; then
    cp "$tmp/mail.log" "$tmp/unreadable.log"; chmod 000 "$tmp/unreadable.log"
    expect 2 "unreadable" -- "$bin" --db "$tmp/b.db" "$tmp/unreadable.log"
    err_has "Permission denied" "unreadable"
fi

# broken patterns: FILE:LINE: offset N: message, exit 3
mkdir "$tmp/pat"
printf 'mta postfix\nrule x\nstatus sent\nmatch ^(?<queue_id>[a-\n' >"$tmp/pat/bad.pat"
expect 3 "broken pattern" -- "$bin" --db :memory: --patterns "$tmp/pat" "$tmp/mail.log"
err_has "$tmp/pat/bad.pat:4: offset " "broken pattern message"
expect 3 "no pattern dir" -- "$bin" --db :memory: --patterns "$tmp/none" "$tmp/mail.log"

# garbage: random bytes, NUL bytes, a huge line; counted, never a crash
head -c 300000 /dev/urandom >"$tmp/junk.log"
printf 'Nov 27 06:25:13 mx postfix/smtp[1]: A: to=<a\000b@x>, status=sent (ok)\n' >>"$tmp/junk.log"
head -c 3000000 /dev/zero | tr '\0' 'x' >>"$tmp/junk.log"
printf '\n%s\r\n' "$L1" >>"$tmp/junk.log"
expect 0 "junk input" -- "$bin" --db "$tmp/j.db" "$tmp/junk.log"
[ "$(rows "$tmp/j.db" "select count(*) from events where status='bounced'")" = 1 ] && ok || bad "line after junk"
gzip -c "$tmp/junk.log" | head -c 20000 >"$tmp/cut.log.gz"
expect 2 "truncated gzip" -- "$bin" --db "$tmp/j2.db" "$tmp/cut.log.gz"
err_has "$tmp/cut.log.gz:" "truncated gzip names the file"

# stdin, --unmatched
printf '%s\nNov 27 06:25:13 mx postfix/smtp[1]: ZZ: to=<a@b>, status=weird (x)\n' "$L2" |
    "$bin" --db :memory: --unmatched "$tmp/unm.txt" >"$tmp/out" 2>"$tmp/err"
[ $? = 0 ] && ok || bad "stdin run"
grep -q "status=weird" "$tmp/unm.txt" && ok || bad "--unmatched"
[ "$(stat -c %a "$tmp/unm.txt")" = 600 ] && ok || bad "--unmatched mode"

# thresholds: exit 4, report still printed
expect 4 "bounce threshold" -- "$bin" --db :memory: --max-bounce-rate 10 "$tmp/mail.log.1.gz"
out_has "Bounce causes" "report printed with exit 4"
err_has "exceeds --max-bounce-rate" "threshold message"
expect 0 "threshold not exceeded" -- "$bin" --db :memory: --max-bounce-rate 60 "$tmp/mail.log.1.gz"

# a database from a newer schema version
sqlite3 "$tmp/new.db" 'PRAGMA user_version=99;'
expect 2 "newer schema" -- "$bin" --db "$tmp/new.db" "$tmp/mail.log"
err_has "newer than this program's" "newer schema"
# an unwritable database location
expect 2 "db in missing dir" -- "$bin" --db "$tmp/no/such/dir/x.db" "$tmp/mail.log"
err_has "$tmp/no/such/dir/x.db" "db error names the file"

# --report-only reads nothing, reports on the database
expect 0 "report-only" -- "$bin" --db "$tmp/a.db" --report-only
out_has "events      4:" "report-only covers the whole database"
# a new database ends in WAL mode, with no file read too
expect 0 "report-only, new database" -- "$bin" --db "$tmp/ro-new.db" --report-only
[ "$(rows "$tmp/ro-new.db" 'pragma journal_mode')" = wal ] && ok || bad "journal mode after --report-only on a new database: $(rows "$tmp/ro-new.db" 'pragma journal_mode')"
# default database: XDG_STATE_HOME, created 0600
XDG_STATE_HOME="$tmp/state" "$bin" "$tmp/mail.log" >/dev/null 2>&1
[ "$(stat -c %a "$tmp/state/smtplog-report/smtplog.db" 2>/dev/null)" = 600 ] && ok || bad "default database"

# --redact: no local part reaches the database, the report or --unmatched;
# the key file is 0600; the same address gives the same token on the next run
printf '%s\nNov 27 06:25:13 mx postfix/smtp[1]: ZZ: to=<eve@example.com>, status=weird (x)\n' "$L1" >"$tmp/r.log"
expect 0 "redact" -- "$bin" --db "$tmp/red.db" --redact --unmatched "$tmp/red.unm" "$tmp/r.log"
grep -q 'bob@' "$tmp/out" && bad "redact: address in the report" || ok
[ "$(rows "$tmp/red.db" "SELECT count(*) FROM events WHERE recipient LIKE 'bob@%' OR response LIKE '%bob@%'")" = 0 ] && ok || bad "redact: address in the database"
grep -q 'eve@' "$tmp/red.unm" && bad "redact: address in --unmatched" || ok
[ "$(stat -c %a "$tmp/red.db.key")" = 600 ] && ok || bad "redact key mode"
tok=$(rows "$tmp/red.db" "SELECT recipient FROM events")
case $tok in u-??????????@example.com) ok ;; *) bad "redact token '$tok'" ;; esac
printf '%s\n' "$L1" | sed 's/A1B2C3D4E5/F1F2F3F4F5/' >"$tmp/r2.log"
"$bin" --db "$tmp/red.db" --redact "$tmp/r2.log" >/dev/null 2>&1
[ "$(rows "$tmp/red.db" "SELECT count(DISTINCT recipient) FROM events")" = 1 ] && ok || bad "redact: token not stable"
# explain and codes
expect 0 "explain" -- "$bin" explain 550 5.1.1
out_has "Retry: no" "explain retry advice"
out_has "  1. " "explain numbered steps"
expect 1 "explain 999" -- "$bin" explain 999
err_has "'999' is not a reply code" "explain 999 message"
expect 0 "codes" -- "$bin" codes --class 5
out_has "5.7.26" "codes lists registry codes"
expect 1 "codes bad class" -- "$bin" codes --class 7

# --since/--until: today, yesterday
old=$(date -d '3 days ago' '+%b %e 10:00:00')
yday=$(date -d yesterday '+%b %e 12:00:00')
now=$(date '+%b %e %H:%M:%S')
for t in "$old" "$yday" "$now"; do printf '%s%s\n' "$t" "${L1#Nov 27 06:25:13}"; done >"$tmp/days.log"
expect 0 "since yesterday" -- "$bin" --db "$tmp/d.db" --since yesterday --until today "$tmp/days.log"
out_has "events      1: 0 sent, 0 deferred, 1 bounced" "--since yesterday --until today"
expect 0 "since today" -- "$bin" --db "$tmp/d.db" --since today "$tmp/days.log"
out_has "events      1:" "--since today"
expect 0 "all three" -- "$bin" --db "$tmp/d.db" "$tmp/days.log"
out_has "events      3:" "no time range"
expect 0 "keep-days" -- "$bin" --db "$tmp/d.db" --keep-days 2 "$tmp/days.log"
out_has "events      2:" "--keep-days 2 pruned the old event"
[ "$(rows "$tmp/d.db" 'select sum(events) from tallies')" = 2 ] && ok || bad "--keep-days pruned the tallies"
# what --keep-days deletes does not stay readable in the database file
rest=${L1#Nov 27 06:25:13}
{ printf '%s%s\n' "$old" "$(printf '%s' "$rest" | sed 's/bob@example.com/pruned-xyzzy@example.com/g')"
  printf '%s%s\n' "$now" "$rest"; } >"$tmp/prune.log"
"$bin" --db "$tmp/p.db" "$tmp/prune.log" >/dev/null 2>&1
"$bin" --db "$tmp/p.db" --keep-days 2 "$tmp/prune.log" >/dev/null 2>&1
[ "$(rows "$tmp/p.db" "select count(*) from events where recipient like 'pruned-xyzzy%'")" = 0 ] &&
    ok || bad "--keep-days left the old event"
if cat "$tmp/p.db" "$tmp/p.db-wal" 2>/dev/null | grep -q -a xyzzy; then
    bad "--keep-days left the pruned recipient in the database file"
else ok; fi

# Totals come from the tallies when the time bounds fall on quarter hours,
# else from the events: both must give the same report.
sample="$top_srcdir/sample-logs/postfix.log"
"$bin" --db "$tmp/t.db" --year 2026 --format json --since 2026-11-27T12:00 --until 2026-11-27T18:00 \
    --domain example.com "$sample" >"$tmp/tallied.json" 2>&1
"$bin" --db "$tmp/t.db" --year 2026 --format json --since 2026-11-27T11:59:59 \
    --until 2026-11-27T18:00:01 --domain example.com "$sample" >"$tmp/scanned.json" 2>&1
if cmp -s "$tmp/tallied.json" "$tmp/scanned.json" && grep -q '"total": 32' "$tmp/tallied.json"; then ok
else bad "report from tallies differs from report from events"; fi
# a version 1 database (no tallies, messages indexed by their text) is
# migrated: its events are tallied and keyed, and the findings stand
findings=$(rows "$tmp/t.db" 'select (select count(*) from greylisting), (select count(*) from miscategorized)')
rows "$tmp/t.db" "create table saved as select id, message_key, reason_key from events;
    drop table tallies; drop index if exists events_message_key; drop index events_failure_messages;
    alter table events drop column message_key; alter table events drop column reason_key;
    delete from meta;
    create index events_message on events(mta, host, queue_id, recipient);
    pragma user_version=1" >/dev/null
"$bin" --db "$tmp/t.db" --year 2026 --format json --since 2026-11-27T12:00 --until 2026-11-27T18:00 \
    --domain example.com "$sample" >"$tmp/migrated.json" 2>&1
cmp -s "$tmp/tallied.json" "$tmp/migrated.json" && ok || bad "migration from version 1"
[ "$(rows "$tmp/t.db" 'pragma user_version')" = 2 ] && ok || bad "schema version after migration"
[ "$(rows "$tmp/t.db" 'select (select count(*) from greylisting), (select count(*) from miscategorized)')" = "$findings" ] &&
    ok || bad "findings after migration"
[ "$(rows "$tmp/t.db" "select count(*) from events where message_key is null and queue_id is not null
    or reason_key is null and reason is not null")" = 0 ] && ok || bad "message and reason keys after migration"
# the keys the migration computes in SQL are those computed in C when storing
[ "$(rows "$tmp/t.db" "select count(*) from saved s join events e using (id)
    where s.message_key is not e.message_key or s.reason_key is not e.reason_key")" = 0 ] &&
    ok || bad "keys computed in SQL differ from those computed in C"
# a database of the earlier index layout (events_failures on source_id
# alone) gets events_failure_messages, and its report stands
rows "$tmp/t.db" "drop index events_failure_messages;
    create index events_failures on events(source_id) where status <> 'sent'" >/dev/null
"$bin" --db "$tmp/t.db" --year 2026 --format json --since 2026-11-27T12:00 --until 2026-11-27T18:00 \
    --domain example.com "$sample" >"$tmp/reindexed.json" 2>&1
cmp -s "$tmp/tallied.json" "$tmp/reindexed.json" && ok || bad "report after the failure index changed"
[ "$(rows "$tmp/t.db" "select group_concat(name) from sqlite_master where name like 'events_failure%'")" = \
    events_failure_messages ] && ok || bad "events_failures replaced by events_failure_messages"

# the knowledge base is written once, and again when the database's copy
# no longer matches it (rows deleted, or a knowledge base that changed)
rm -f "$tmp/kb.db"
"$bin" --db "$tmp/kb.db" --year 2026 "$tmp/mail.log" >/dev/null 2>&1
ncodes=$(rows "$tmp/kb.db" 'select count(*) from codes')
[ "$ncodes" -gt 300 ] && ok || bad "codes stored: $ncodes"
rows "$tmp/kb.db" "update codes set title = 'kept' where code = '550'" >/dev/null
"$bin" --db "$tmp/kb.db" --year 2026 "$tmp/mail.log" >/dev/null 2>&1
[ "$(rows "$tmp/kb.db" "select title from codes where code = '550'")" = kept ] &&
    ok || bad "an unchanged knowledge base is not written again"
rows "$tmp/kb.db" "delete from codes where rowid % 2 = 0" >/dev/null
"$bin" --db "$tmp/kb.db" --year 2026 "$tmp/mail.log" >/dev/null 2>&1
[ "$(rows "$tmp/kb.db" 'select count(*) from codes')" = "$ncodes" ] &&
    ok || bad "codes restored after rows were deleted"
rows "$tmp/kb.db" "update meta set value = '0 $ncodes' where key = 'codes'" >/dev/null
"$bin" --db "$tmp/kb.db" --year 2026 "$tmp/mail.log" >/dev/null 2>&1
[ "$(rows "$tmp/kb.db" "select title from codes where code = '550'")" != kept ] &&
    ok || bad "codes written again when the knowledge base changed"
# ... and when its file changed (a copy of the pattern directory, one title edited)
mkdir -p "$tmp/kbpat"
cp "$top_srcdir"/patterns/*.pat "$tmp/kbpat/"
awk -F '\t' 'BEGIN { OFS = "\t" } $1 == "550" { $2 = "edited title" } { print }' \
    "$top_srcdir/patterns/codes.tsv" >"$tmp/kbpat/codes.tsv"
"$bin" --patterns "$tmp/kbpat" --db "$tmp/kb.db" --year 2026 "$tmp/mail.log" >/dev/null 2>&1
[ "$(rows "$tmp/kb.db" "select title from codes where code = '550'")" = "edited title" ] &&
    ok || bad "codes written again when codes.tsv changed"

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
