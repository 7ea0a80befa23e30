#!/bin/sh
# golden.sh - the report on each sample log must equal its checked-in
# expectation, tests/golden/NAME.txt.  Run with --update to rewrite them
# after an intended change (and review the diff).
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
    want=tests/golden/$name.txt
    # --year: the samples carry syslog dates without a year
    TZ=UTC "$bin" --db :memory: --year 2026 --top 8 --no-progress "$log" >"$tmp/$name.txt" 2>"$tmp/$name.err"
    rc=$?
    if [ "$update" = --update ]; then
        cp "$tmp/$name.txt" "$want"
        echo "updated $want"
        continue
    fi
    if [ "$rc" -ne 0 ]; then
        fail=$((fail + 1)); echo "FAIL: $log: exit $rc: $(cat "$tmp/$name.err")" >&2
    elif [ ! -f "$want" ]; then
        fail=$((fail + 1)); echo "FAIL: $want missing (run tests/golden.sh --update)" >&2
    elif ! diff -u "$want" "$tmp/$name.txt" >&2; then
        fail=$((fail + 1)); echo "FAIL: $log: report differs from $want" >&2
    else
        pass=$((pass + 1))
    fi
done
echo "golden: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 -o "$update" = --update ]
