#!/bin/sh
# html-browser.sh - open the HTML report of the sample logs in headless
# Chromium with the network shut off: no console message, no failed load,
# and a screenshot saved under the build tree (tests/html-report.png).
# Skipped (77) where Chromium is not installed; .ci/run installs it.
set -u
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
bin="$top_builddir/src/smtplog-report"
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "html-browser: no chromium: skipped"; exit 77; }
tmp=$(mktemp -d /tmp/smtplog-html-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
shot="$top_builddir/tests/html-report.png"
TZ=UTC "$bin" ${PATTERNS_OPT:-} --db :memory: --year 2026 -o "$tmp/report.html" \
    $(ls "$top_srcdir"/sample-logs/*.log 2>/dev/null) "$top_srcdir/tests/fixtures/findings.log" 2>"$tmp/err" ||
    { echo "FAIL: report: $(cat "$tmp/err")"; exit 1; }
# --proxy-server to a closed port and no DNS: any fetch would fail and be logged
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$tmp/profile" --proxy-server=127.0.0.1:9 \
    --host-resolver-rules='MAP * ~NOTFOUND' --enable-logging=stderr --v=0 \
    --window-size=1280,3000 --screenshot="$shot" "file://$tmp/report.html" \
    >"$tmp/out" 2>"$tmp/log"
rc=$?
fail=0
[ $rc -eq 0 ] || { echo "FAIL: chromium exit $rc: $(tail -5 "$tmp/log")"; fail=1; }
if grep -E 'CONSOLE|Uncaught|Failed to load resource|net::ERR_' "$tmp/log"; then
    echo "FAIL: the page logged console messages or failed loads"; fail=1
fi
[ -s "$shot" ] || { echo "FAIL: no screenshot"; fail=1; }
if [ $fail -eq 0 ]; then echo "html-browser: 1 passed, 0 failed (screenshot: $shot)"; else echo "html-browser: 0 passed, 1 failed"; fi
exit $fail
