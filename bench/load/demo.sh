#!/usr/bin/env bash
# make demo: start accelsched-extender in static mode on the bundled demo cluster
# (deploy/examples/demo-cluster.yaml), drive a scripted mixed workload through its HTTP verbs as
# kube-scheduler would (bench/load/extender_driver.cc), print every decision and the final
# occupancy; then the node act (tests/node/node_demo.cc): accelsched-node serves three of the
# nodes and prints the devices each container receives. Exits non-zero if either misbehaves.
# Usage: bench/load/demo.sh [build dir]
# With TRANSCRIPT=FILE in the environment, every request and answer is also written to FILE
# (tests/scheduler/demo_golden_test.sh compares it with a golden file).
set -euo pipefail
BUILD="${1:-build}"
CLUSTER="deploy/examples/demo-cluster.yaml"
LOG="$(mktemp)"
"$BUILD/scheduler/accelsched-extender" --cluster "$CLUSTER" --port 0 --bind-address 127.0.0.1 \
  >"$LOG" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -f "$LOG"' EXIT
PORT=""
for _ in $(seq 100); do
  PORT="$(grep -o 'serving http://127.0.0.1:[0-9]*' "$LOG" | grep -o '[0-9]*$' || true)"
  [ -n "$PORT" ] && break
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "accelsched-extender exited:"; cat "$LOG"; exit 1
  fi
  sleep 0.1
done
[ -n "$PORT" ] || { echo "accelsched-extender did not start:"; cat "$LOG"; exit 1; }
echo "accelsched-extender serving on 127.0.0.1:$PORT (static mode, $CLUSTER)"
echo
"$BUILD/bench/accelsched-load" demo --url "http://127.0.0.1:$PORT" ${TRANSCRIPT:+--transcript "$TRANSCRIPT"}
echo
# The node act: on three of the nodes, the real accelsched-node (over a fake NVML, with a fake
# kubelet and API server) hands each container its devices; they must be the extender's choice.
echo "--- the node act: accelsched-node gives each container the extender's devices ---"
"$BUILD/tests/node/accelsched-node-demo" --extender "http://127.0.0.1:$PORT" \
  --node-binary "$BUILD/scheduler/accelsched-node" --fake-nvml "$BUILD/tests/node/libfake_nvml.so" \
  hgx-h100-01 l40s-01 dgx-a100-01
echo
echo "--- accelsched-extender log ---"
cat "$LOG"
