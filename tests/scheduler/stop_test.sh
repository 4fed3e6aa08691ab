#!/usr/bin/env bash
# accelsched-extender's signals (issue 14): SIGHUP is logged and ignored; SIGTERM stops within
# the drain bound (5 s) and exits 0 even while a slow client holds a connection open.
# Usage: stop_test.sh EXTENDER CLUSTER_FILE
set -uo pipefail
extender="$1"; cluster="$2"
log="$(mktemp)"; trap 'rm -f "$log"; kill -9 "$pid" "${slow:-}" 2>/dev/null' EXIT
"$extender" --cluster "$cluster" --port 0 --bind-address 127.0.0.1 >"$log" 2>&1 &
pid=$!
port=""
for _ in $(seq 100); do
  port="$(sed -n 's|.*serving http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$log")"
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "FAIL: the extender did not start"; cat "$log"; exit 1; }

kill -HUP "$pid"; sleep 0.3
kill -0 "$pid" 2>/dev/null || { echo "FAIL: SIGHUP ended the process"; cat "$log"; exit 1; }
grep -q "SIGHUP) ignored" "$log" || { echo "FAIL: SIGHUP not logged"; cat "$log"; exit 1; }

# A slow client: half a request line, then nothing for 60 s.
python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', $port))
s.send(b'POST /v1/extender/filter HTTP/1.1\r\nHost: x\r\n')
time.sleep(60)" &
slow=$!
sleep 0.5
start=$(date +%s.%N)
kill -TERM "$pid"
wait "$pid"; code=$?
took=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
if [ "$code" != 0 ]; then echo "FAIL: exit code $code after SIGTERM"; cat "$log"; exit 1; fi
if python3 -c "import sys; sys.exit(0 if $took <= 7 else 1)"; then
  echo "PASS: SIGHUP ignored; SIGTERM with a slow client open: exit 0 after $took s"
else
  echo "FAIL: SIGTERM took $took s (bound: 5 s drain)"; cat "$log"; exit 1
fi
