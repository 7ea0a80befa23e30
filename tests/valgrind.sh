#!/bin/sh
# valgrind.sh - the sample runs (ingest into a file database, every report
# format, explain) under valgrind: no error, nothing in use at exit.
# Skipped (77) without valgrind or for a sanitizer build.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
bin="$top_builddir/src/smtplog-report"
command -v valgrind >/dev/null || { echo "valgrind: not installed: skipped"; exit 77; }
if ldd "$bin" 2>/dev/null | grep -q 'libasan\|libubsan'; then echo "valgrind: sanitizer build: skipped"; exit 77; fi
tmp=$(mktemp -d /tmp/smtplog-vg-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
vg() { # NAME -- command...
    name=$1; shift 2
    SMTPLOG_NO_JIT=1 valgrind -q --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all \
        --error-exitcode=99 "$@" >/dev/null 2>"$tmp/vg.log"
    rc=$?
    if [ $rc -ne 99 ] && ! grep -q '==[0-9]*==' "$tmp/vg.log"; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL: $name under valgrind:" >&2; head -30 "$tmp/vg.log" >&2; fi
}
vg "ingest and text report" -- "$bin" --db "$tmp/a.db" --year 2026 "$top_srcdir"/sample-logs/*.log
vg "json" -- "$bin" --db "$tmp/a.db" --report-only --format json
vg "html" -- "$bin" --db "$tmp/a.db" --report-only -o "$tmp/r.html"
vg "csv" -- "$bin" --db "$tmp/a.db" --report-only --format csv --section deferrals
vg "redact" -- "$bin" --db "$tmp/b.db" --redact --year 2026 "$top_srcdir/sample-logs/postfix.log"
vg "explain" -- "$bin" explain "550 4.2.2 <a@b>: Mailbox full" 5.7.99 421
vg "codes" -- "$bin" codes
echo "valgrind: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
