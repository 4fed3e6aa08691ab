#!/usr/bin/env bash
# Runs a command and checks its exit code and the first line of its stderr.
# Usage: expect_exit.sh CODE MESSAGE COMMAND [ARGS...]
set -uo pipefail
want_code="$1"; want_message="$2"; shift 2
err="$(mktemp)"; trap 'rm -f "$err"' EXIT
"$@" >/dev/null 2>"$err"
code=$?
first="$(head -1 "$err")"
if [ "$code" != "$want_code" ]; then
  echo "FAIL: exit code $code, want $want_code: $*"; cat "$err"; exit 1
fi
if [ "$first" != "$want_message" ]; then
  echo "FAIL: stderr '$first', want '$want_message': $*"; exit 1
fi
echo "PASS: exit $code, '$first'"
