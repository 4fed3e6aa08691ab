#!/usr/bin/env bash
# Issue 16, finding 3, end to end: `accelsched-load schedule` drives a real extender as
# kube-scheduler's loop does, binding in the background. With tentative holds (the default) no
# bind is rejected; with them off (the control, tentativeHoldSeconds: 0) binds are rejected, which
# shows the check can fail.
# Usage: schedule_loop_test.sh <accelsched-extender> <accelsched-load>
set -u
EXTENDER="$1"
LOAD="$2"
TMP="$(mktemp -d)"
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$LOAD" gen-cluster --nodes 20 --busy 0 --out "$TMP/cluster.json" >/dev/null || fail "gen-cluster"

# run <tentativeHoldSeconds>: prints the schedule summary line.
run() {
  echo "tentativeHoldSeconds: $1" > "$TMP/config.yaml"
  "$EXTENDER" --cluster "$TMP/cluster.json" --config "$TMP/config.yaml" --port 0 \
      --bind-address 127.0.0.1 >"$TMP/log" 2>&1 &
  PID=$!
  local port=""
  for _ in $(seq 100); do
    port="$(sed -n 's|.*serving http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$TMP/log")"
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || fail "the extender did not start: $(cat "$TMP/log")"
  "$LOAD" schedule --url "http://127.0.0.1:$port" --pods 100 --backoff-ms 50 \
      || fail "schedule exited $?"
  kill "$PID"; wait "$PID" 2>/dev/null; PID=""
}

field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }

on="$(run 15)"
echo "holds on:  $on"
[ "$(field "$on" binds_rejected)" = 0 ] || fail "binds were rejected with tentative holds"
[ "$(field "$on" bound)" = 100 ] || fail "not every pod was bound"
off="$(run 0)"
echo "holds off: $off"
[ "$(field "$off" binds_rejected)" -gt 0 ] || fail "the control rejected no bind: the test is blind"
[ "$(field "$off" bound)" = 100 ] || fail "the control did not bind every pod in the end"
echo "PASS"
