#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# run-unit.sh BIN...: run cmocka unit test binaries with TAP output and close
# with one summary line, `unit: N passed, N failed, N skipped`. Called by `make unit`.
# A binary that exits non-zero without reporting a failed case (a crash, a
# sanitizer abort) counts as one failure.
set -uo pipefail

passed=0
failed=0
skipped=0
export CMOCKA_MESSAGE_OUTPUT=TAP
# GCC 12's sanitizer runtime takes a dynamic TLS block that happens to start
# 16 bytes into a page for a pre-2.25 glibc header and reads the two words
# before it as a range; LeakSanitizer's exit scan then faults in
# ScanRangeForPointers ("Tracer caught signal 11") after every test passed.
# Not intercepting __tls_get_addr avoids the misreading; our own thread-locals
# are static TLS, which LeakSanitizer scans either way.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}intercept_tls_get_addr=0"

for bin in "$@"; do
	echo "# $bin"
	out=$("$bin" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	ok=$(printf '%s\n' "$out" | grep -cE '^ok [0-9]+' || true)
	# cmocka reports a skip() as "not ok N # SKIP ..."; it is not a failure
	skip=$(printf '%s\n' "$out" | grep -cE '^not ok [0-9]+.*# SKIP' || true)
	not_ok=$(printf '%s\n' "$out" | grep -E '^not ok [0-9]+' | grep -cvE '# SKIP' || true)
	if [ "$rc" -ne 0 ] && [ "$not_ok" -eq 0 ]; then
		echo "# $bin exited with status $rc"
		not_ok=1
	fi
	passed=$((passed + ok))
	failed=$((failed + not_ok))
	skipped=$((skipped + skip))
done

echo "unit: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
