#!/usr/bin/env bash
# The extender's answers on the demo cluster, byte for byte: runs `make demo`'s workload
# (bench/load/demo.sh) with a transcript of every request and answer and compares it with
# tests/testdata/scheduler/demo_transcript.golden. The golden file was recorded before the
# scheduler/ reshaping of issue 13 (commit 4958b33) and guards that its answers did not change;
# its entries were checked by hand against the demo's printed decisions.
# Regenerate (only for an intended change of the answers, reviewed in the diff):
#   ACCELSCHED_REGENERATE_GOLDEN=1 tests/scheduler/demo_golden_test.sh BUILD_DIR
# Usage: demo_golden_test.sh BUILD_DIR   (run from the source root)
set -euo pipefail
BUILD="$1"
GOLDEN="tests/testdata/scheduler/demo_transcript.golden"
OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT
if ! TRANSCRIPT="$OUT" bench/load/demo.sh "$BUILD" >/dev/null; then
  echo "FAIL: the demo itself failed"; exit 1
fi
if [ "${ACCELSCHED_REGENERATE_GOLDEN:-}" = 1 ]; then
  cp "$OUT" "$GOLDEN"; echo "regenerated $GOLDEN"; exit 0
fi
if ! diff -u "$GOLDEN" "$OUT" > "$OUT.diff"; then
  echo "FAIL: the extender's answers differ from $GOLDEN:"; head -100 "$OUT.diff"; rm -f "$OUT.diff"
  exit 1
fi
rm -f "$OUT.diff"
echo "PASS: $(grep -c '^> ' "$GOLDEN") exchanges identical to $GOLDEN"
