#!/bin/sh
# findings.sh - greylisting and miscategorized replies on
# tests/fixtures/findings.log must be exactly tests/fixtures/findings.expected;
# the same when the log is read in two halves by two runs (a message's lines
# spanning files and runs) or in one, and when a first analysis reads the
# table rather than the load's own records.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
bin="$top_builddir/src/smtplog-report"
fix="$top_srcdir/tests/fixtures"
tmp=$(mktemp -d /tmp/smtplog-findings-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
query="SELECT e.line_no || ' greylist ' || g.basis || coalesce(' ' || g.signature, '')
         || coalesce(' delay=' || g.delay, '') AS f, e.line_no AS n
       FROM greylisting g JOIN events e ON e.id = g.event_id
       UNION ALL SELECT e.line_no || ' ' || m.rule, e.line_no
       FROM miscategorized m JOIN events e ON e.id = m.event_id
       ORDER BY n, f"
grep -v '^#' "$fix/findings.expected" >"$tmp/want"

check() { # NAME DB LINE_OFFSET
    sqlite3 "$2" "$query" | cut -d'|' -f1 | awk -v off="$3" '{ $1 = $1 + off; print }' >"$tmp/got"
    if diff -u "$tmp/want" "$tmp/got" >&2; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1" >&2; fi
}
TZ=UTC "$bin" ${PATTERNS_OPT:-} --db "$tmp/one.db" --year 2026 "$fix/findings.log" >/dev/null 2>"$tmp/err" ||
    { echo "FAIL: run: $(cat "$tmp/err")" >&2; fail=$((fail + 1)); }
check "one run" "$tmp/one.db" 0
# a first load and analysis need no message index: none is built
has_index() { sqlite3 "$1" "SELECT count(*) FROM sqlite_master WHERE name = 'events_message_key'"; }
if [ "$(has_index "$tmp/one.db")" = 0 ]
then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: events_message_key after one run" >&2; fi
# a first load is judged from the records its writer kept (msg_runs.c);
# read back from the table instead, the same findings
SMTPLOG_READ_BACK=1 TZ=UTC "$bin" ${PATTERNS_OPT:-} --db "$tmp/table.db" --year 2026 \
    "$fix/findings.log" >/dev/null 2>&1
check "first analysis from the table" "$tmp/table.db" 0
# a first analysis over a database that holds earlier findings by retry
# (its mark lost) finds the same: they are not taken for findings by text
sqlite3 "$tmp/one.db" "DELETE FROM meta WHERE key = 'analyzed_through'"
TZ=UTC "$bin" ${PATTERNS_OPT:-} --db "$tmp/one.db" --year 2026 "$fix/findings.log" >/dev/null 2>&1
check "analysed again" "$tmp/one.db" 0
# in memory, the index is built before the analysis, not beside it: the
# same report
TZ=UTC "$bin" ${PATTERNS_OPT:-} --db "$tmp/one.db" --report-only --all 2>/dev/null |
    grep -v '^database' >"$tmp/file.txt"
TZ=UTC "$bin" ${PATTERNS_OPT:-} --db :memory: --year 2026 "$fix/findings.log" 2>/dev/null |
    grep -v '^database' >"$tmp/mem.txt"
if diff -u "$tmp/file.txt" "$tmp/mem.txt" >&2; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: in memory" >&2; fi
# two halves, two runs: line numbers of the second half restart at 1
head -n 16 "$fix/findings.log" >"$tmp/a.log"
tail -n +17 "$fix/findings.log" >"$tmp/b.log"
TZ=UTC "$bin" ${PATTERNS_OPT:-} --db "$tmp/two.db" --year 2026 "$tmp/a.log" >/dev/null 2>&1
TZ=UTC "$bin" ${PATTERNS_OPT:-} --db "$tmp/two.db" --year 2026 "$tmp/b.log" >/dev/null 2>&1
sqlite3 "$tmp/two.db" "UPDATE events SET line_no = line_no + 16 WHERE source_id = 2"
check "two runs" "$tmp/two.db" 0
# two files in one run: one load, one first analysis over both
TZ=UTC "$bin" ${PATTERNS_OPT:-} --db "$tmp/both.db" --year 2026 "$tmp/a.log" "$tmp/b.log" \
    >/dev/null 2>&1
sqlite3 "$tmp/both.db" "UPDATE events SET line_no = line_no + 16 WHERE source_id = 2"
check "two files, one run" "$tmp/both.db" 0
# the second run's analysis looked messages up: it built the index
if [ "$(has_index "$tmp/two.db")" = 1 ]
then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: no events_message_key after two runs" >&2; fi
# a run that brings nothing new builds nothing
TZ=UTC "$bin" ${PATTERNS_OPT:-} --db "$tmp/one.db" --year 2026 "$fix/findings.log" >/dev/null 2>&1
if [ "$(has_index "$tmp/one.db")" = 0 ]
then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: events_message_key on a run with nothing new" >&2; fi
echo "findings: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
