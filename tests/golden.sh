#!/bin/sh
# golden.sh - the report on each sample log, in every format, must equal its
# checked-in expectation, tests/golden/NAME.{txt,json,csv,html}.  Run with
# --update to rewrite them after an intended change (and review the diff).
# The text report is made three times: the second time the report's counts
# of distinct values are left to SQL (SMTPLOG_AGG_MAX_ENTRIES=0, the path past
# the in-memory bound), the third the analysis and the counts read the
# events back from the database (SMTPLOG_READ_BACK=1) instead of what the
# load kept; neither may change anything.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
bin=$(cd "$top_builddir" && pwd)/src/smtplog-report
update=${1:-}
pass=0 fail=0
tmp=$(mktemp -d /tmp/smtplog-golden-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$top_srcdir" || exit 1
for log in sample-logs/*.log; do
    name=$(basename "$log" .log)
    for fmt in txt json csv html sql-txt table-txt; do
        agg= back=
        case $fmt in sql-txt) fmt=txt agg=0 ;; table-txt) fmt=txt back=1 ;; esac
        want=tests/golden/$name.$fmt
        got=$tmp/$name.$fmt
        case $fmt in txt) f=text ;; *) f=$fmt ;; esac
        [ "$update" = --update ] && [ -n "$agg$back" ] && continue
        # --year: the samples carry syslog dates without a year
        SMTPLOG_READ_BACK=$back SMTPLOG_AGG_MAX_ENTRIES=${agg:-1048576} TZ=UTC "$bin" --db :memory: --year 2026 --top 8 --no-progress --format "$f" "$log" \
            >"$got" 2>"$tmp/err"
        rc=$?
        if [ "$update" = --update ]; then
            cp "$got" "$want"
            echo "updated $want"
            continue
        fi
        if [ "$rc" -ne 0 ]; then
            fail=$((fail + 1)); echo "FAIL: $log ($f): exit $rc: $(cat "$tmp/err")" >&2
        elif [ ! -f "$want" ]; then
            fail=$((fail + 1)); echo "FAIL: $want missing (run tests/golden.sh --update)" >&2
        elif ! diff -u "$want" "$got" >&2; then
            fail=$((fail + 1)); echo "FAIL: $log: $f report${agg:+ (SQL counts)}${back:+ (read back)} differs from $want" >&2
        else
            pass=$((pass + 1))
        fi
    done
done
echo "golden: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 -o "$update" = --update ]
