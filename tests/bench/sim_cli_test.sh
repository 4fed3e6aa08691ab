#!/usr/bin/env bash
# accelsched-sim command-line contract: help, errors (exit 1 with a message naming the problem),
# and a small trace run whose summary CSV has the documented columns.
# Usage: sim_cli_test.sh <accelsched-sim> <shared data dir> <scenario dir>
set -u
SIM="$1"
DATA="$2/alibaba-gpu-v2023"
SCENARIOS="$3"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

expect() {  # expect <exit code> <stderr/stdout substring> <args...>
  local want_code="$1" want_text="$2"; shift 2
  "$SIM" "$@" >"$TMP/out" 2>"$TMP/err"
  local code=$?
  [ "$code" = "$want_code" ] || fail "accelsched-sim $* exited $code, want $want_code: $(cat "$TMP/err")"
  grep -qF -- "$want_text" "$TMP/out" "$TMP/err" || fail "accelsched-sim $*: no '$want_text' in output"
}

expect 0 "usage: accelsched-sim <command>" --help
expect 0 "--summary-csv OUT" trace --help
expect 0 "FIFO queue" scenario --help
expect 1 "unknown command" frobnicate
expect 1 "--nodes is required" trace --pods x --policy fgd
expect 1 "unknown policy 'nope'" trace --nodes x --pods y --policy nope
expect 1 "--seeds" trace --nodes x --pods y --policy fgd --seeds 9-3
expect 1 "cannot open" trace --nodes /nonexistent.csv --pods y --policy fgd
printf 'sn,cpu_milli,memory_mib,gpu,model\nn0,1000,1000,2,T4\nn1,oops,1,1,T4\n' > "$TMP/bad.csv"
expect 1 "bad.csv:3: column cpu_milli" trace --nodes "$TMP/bad.csv" --pods y --policy fgd

# A small run: 5% tuning keeps it fast. Summary CSV: header and one row per (policy, seed).
expect 0 "fgd" trace --nodes "$DATA/openb_node_list_gpu_node.csv" \
  --pods "$DATA/openb_pod_list_default.csv" --policy fgd,bestfit --seeds 42-43 --tune 0.05 \
  --summary-csv "$TMP/summary.csv" --svg "$TMP/plot.svg" --curves-csv "$TMP/curves.csv"
head -1 "$TMP/summary.csv" | grep -qx "trace,policy,seed,alloc_100,alloc_130,frag_80,wall_seconds" \
  || fail "summary header: $(head -1 "$TMP/summary.csv")"
[ "$(wc -l < "$TMP/summary.csv")" = 5 ] || fail "summary rows: $(cat "$TMP/summary.csv")"
grep -q "^openb_pod_list_default,bestfit,43," "$TMP/summary.csv" || fail "no bestfit/43 row"
grep -q "<svg" "$TMP/plot.svg" || fail "no svg"
[ "$(wc -l < "$TMP/curves.csv")" = $((1 + 4 * 131)) ] || fail "curves rows"

# Detail CSV: at 5% nothing fails, so per run the milli-GPU used on the nodes at the end equals
# the milli-GPU of the pods that arrived, and every node appears once.
expect 0 "bestfit" trace --nodes "$DATA/openb_node_list_gpu_node.csv" \
  --pods "$DATA/openb_pod_list_default.csv" --policy bestfit --seeds 42 --tune 0.05 \
  --detail-csv "$TMP/detail.csv"
awk -F, '
  $4 == "arrive" { want += $9 * $10; ++arrived }
  $4 == "failed" { ++failed }
  $4 == "node" { ++nodes; n = split($10, g, ";"); for (i = 1; i <= n; ++i) used += 1000 - g[i] }
  END {
    if (nodes != 1213 || arrived == 0 || failed != 0 || used != want) {
      printf "nodes %d arrived %d failed %d used %d want %d\n", nodes, arrived, failed, used, want
      exit 1
    }
  }' "$TMP/detail.csv" || fail "detail csv inconsistent"

expect 0 "accelsched" scenario --file "$SCENARIOS/mixed.json" --policy accelsched --seeds 1
expect 0 "load_alloc%" scenario --file "$SCENARIOS/gangs.json" --policy accelsched --seeds 1
expect 1 "--large-gang: 'x'" scenario --file "$SCENARIOS/gangs.json" --policy accelsched --large-gang x
printf '{"nodes": [{"name": "a", "count": 0}], "workload": {}}' > "$TMP/s.json"
expect 1 "scenario.nodes[0].count" scenario --file "$TMP/s.json" --policy fgd
echo "PASS"
