#!/bin/sh
# kill.sh - kill -9 at several points of a large ingest, then run again: the
# rows must be exactly those of one clean run (nothing lost, nothing twice),
# and so must the tallies and findings.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
bin="$top_builddir/src/smtplog-report"
tmp=$(mktemp -d /tmp/smtplog-kill-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
# ~306k lines (with a checkpoint every 256k lines, one mid-file; a first load
# commits every 1M by default): the findings fixture repeated with distinct queue IDs
SMTPLOG_CHECKPOINT_LINES=262144
export SMTPLOG_CHECKPOINT_LINES
awk -v reps=9000 '{ l[NR] = $0 } END {
    for (r = 0; r < reps; r++)
        for (i = 1; i <= NR; i++) { s = l[i]; sub(/: 1A0/, ": " sprintf("%X", r) "Q", s); print s }
}' "$top_srcdir/tests/fixtures/findings.log" >"$tmp/big.log"
# the events, their tallies and the findings over them
rows() { sqlite3 "$1" "SELECT count(*), count(DISTINCT line_no), sum(line_no), max(line_no),
    (SELECT sum(events) FROM tallies), (SELECT group_concat(status || '=' || n) FROM
      (SELECT status, sum(events) AS n FROM tallies GROUP BY status ORDER BY status)),
    (SELECT count(*) FROM greylisting), (SELECT count(*) FROM miscategorized) FROM events"; }
SMTPLOG_TIMING=1 "$bin" ${PATTERNS_OPT:-} --db "$tmp/clean.db" --year 2026 "$tmp/big.log" \
    >/dev/null 2>"$tmp/clean.err"
want=$(rows "$tmp/clean.db")
# the first load's database file is synced beside it as it grows (store.c's
# flusher), with two CPUs or more
if [ "$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)" -ge 2 ]; then
    if grep -q 'syncs beside the load: [1-9]' "$tmp/clean.err"; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL: no sync of the database file beside the load:" >&2
        grep 'timing:' "$tmp/clean.err" >&2; fi
fi
for delay in 0.2 0.5 0.8 1.1 1.4 2.0; do
    rm -f "$tmp/k.db" "$tmp/k.db-wal" "$tmp/k.db-shm" "$tmp/k.db-journal"
    "$bin" ${PATTERNS_OPT:-} --db "$tmp/k.db" --year 2026 "$tmp/big.log" >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    before=$(sqlite3 "$tmp/k.db" 'SELECT count(*) FROM events' 2>/dev/null || echo 0)
    "$bin" ${PATTERNS_OPT:-} --db "$tmp/k.db" --year 2026 "$tmp/big.log" >/dev/null 2>&1
    got=$(rows "$tmp/k.db")
    echo "killed after ${delay}s: $before rows committed then"
    if [ "$got" = "$want" ]; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL: killed after ${delay}s ($before rows then): $got, want $want" >&2; fi
done
echo "kill: $pass passed, $fail failed (clean run: $want)"
[ "$fail" -eq 0 ]
