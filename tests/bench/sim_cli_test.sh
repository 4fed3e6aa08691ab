#!/usr/bin/env bash
# accelsched-sim command-line contract: help, errors (the exit code and the message naming the
# problem, on stderr), and a small trace run whose summary CSV has the documented columns.
# Usage: sim_cli_test.sh <accelsched-sim> <shared data dir> <scenario dir>
# The trace runs need the Alibaba trace in <shared data dir> (../shared/data). Without it the
# other checks still run; the script then exits 77, which tests/CMakeLists.txt declares as ctest's
# SKIP_RETURN_CODE, so the run shows as skipped instead of passed.
set -u
SIM="$1"
DATA="$2/alibaba-gpu-v2023"
SCENARIOS="$3"
SKIP_CODE=77
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

expect() {  # expect <exit code> <stdout substring> <args...>
  local want_code="$1" want_text="$2"; shift 2
  "$SIM" "$@" >"$TMP/out" 2>"$TMP/err"
  local code=$?
  [ "$code" = "$want_code" ] || fail "accelsched-sim $* exited $code, want $want_code: $(cat "$TMP/err")"
  grep -qF -- "$want_text" "$TMP/out" || fail "accelsched-sim $*: no '$want_text' in stdout"
}

# expect_error <exit code> <first stderr line> <args...>: a failing command; the line is matched
# as a shell pattern (a trailing * stands for a list that may grow).
expect_error() {
  local want_code="$1" want_line="$2"; shift 2
  "$SIM" "$@" >"$TMP/out" 2>"$TMP/err"
  local code=$?
  local first
  first="$(head -1 "$TMP/err")"
  [ "$code" = "$want_code" ] || fail "accelsched-sim $* exited $code, want $want_code: $first"
  # shellcheck disable=SC2053  # The right-hand side is a pattern on purpose.
  [[ "$first" == $want_line ]] || fail "accelsched-sim $*: stderr line 1 is '$first', want '$want_line'"
}

expect 0 "usage: accelsched-sim <command>" --help
expect 1 "usage: accelsched-sim <command>" # No command: the usage, exit 1.
expect 0 "--summary-csv OUT" trace --help
expect 0 "FIFO queue" scenario --help

# Bad usage or input: exit 1, "accelsched-sim: <message>" (trace) or "accelsched-sim scenario:
# <message>" on stderr.
expect_error 1 "accelsched-sim: unknown command 'frobnicate'" frobnicate
expect_error 1 "accelsched-sim: --nodes is required (see --help)" trace --pods x --policy fgd
expect_error 1 "accelsched-sim: --policy is required (see --help)" trace --nodes x --pods y
expect_error 1 "accelsched-sim: unknown flag '--bogus' (see --help)" trace --bogus
expect_error 1 "accelsched-sim: --nodes needs a value (see --help)" trace --nodes
expect_error 1 "accelsched-sim: --policy: policy: unknown policy 'nope'; known: random, firstfit, *" \
  trace --nodes x --pods y --policy fgd,nope
expect_error 1 "accelsched-sim: --seeds: bad range '9-3'" trace --nodes x --pods y --policy fgd --seeds 9-3
expect_error 1 "accelsched-sim: --seeds: 'a' is not N or A-B" trace --nodes x --pods y --policy fgd --seeds 1,a
expect_error 1 "accelsched-sim: --tune: must be a number in (0, 10]" trace --nodes x --pods y --policy fgd --tune 0
expect_error 1 "accelsched-sim: --jobs: must be an integer in 1..256" trace --nodes x --pods y --policy fgd --jobs 0
expect_error 1 "accelsched-sim: --ties: 'foo' is not one of ordered, name, random" \
  trace --nodes x --pods y --policy fgd --ties foo
expect_error 1 "accelsched-sim: /nonexistent.csv: cannot open" trace --nodes /nonexistent.csv --pods y --policy fgd
printf 'sn,cpu_milli,memory_mib,gpu,model\nn0,1000,1000,2,T4\nn1,oops,1,1,T4\n' > "$TMP/bad.csv"
expect_error 1 "accelsched-sim: $TMP/bad.csv:3: column cpu_milli: 'oops' is not an integer in 0..*" \
  trace --nodes "$TMP/bad.csv" --pods y --policy fgd

expect_error 1 "accelsched-sim scenario: --file and --policy are required" scenario --file "$SCENARIOS/gangs.json"
expect_error 1 "accelsched-sim scenario: unknown flag or missing value '--bogus'" scenario --bogus
expect_error 1 "accelsched-sim scenario: /nonexistent.json: cannot open" scenario --file /nonexistent.json --policy fgd
expect_error 1 "accelsched-sim scenario: --large-gang: 'x' is not an integer >= 2" \
  scenario --file "$SCENARIOS/gangs.json" --policy accelsched --large-gang x
expect_error 1 "accelsched-sim scenario: --seeds: bad range '3-1'" \
  scenario --file "$SCENARIOS/gangs.json" --policy accelsched --seeds 3-1
printf '{"nodes": [{"name": "a", "count": 0}], "workload": {}}' > "$TMP/s.json"
expect_error 1 "accelsched-sim scenario: $TMP/s.json: scenario.nodes[[]0[]].count: must be in 1..100000" \
  scenario --file "$TMP/s.json" --policy fgd
expect_error 1 "accelsched-sim scenario: --policy: policy: unknown policy 'nope'; known: random, *" \
  scenario --file "$SCENARIOS/mixed.json" --policy nope --seeds 1

# Under the sanitizers (ACCELSCHED_SIM_CLI_NO_TRACE set by tests/CMakeLists.txt) the scenario
# and trace runs take minutes; they run in the gcc tree, and the simulator's code runs under the
# sanitizers in plugins_test and bench_test.
if [ -n "${ACCELSCHED_SIM_CLI_NO_TRACE:-}" ]; then
  echo "SKIP: the scenario and trace runs are left to the gcc tree here (the other checks passed)"
  exit "$SKIP_CODE"
fi

expect 0 "accelsched" scenario --file "$SCENARIOS/mixed.json" --policy accelsched --seeds 1
expect 0 "load_alloc%" scenario --file "$SCENARIOS/gangs.json" --policy accelsched --seeds 1

if [ ! -d "$2" ]; then
  echo "SKIP: the trace runs did not run: $2: ../shared/data not found (the other checks passed)"
  exit "$SKIP_CODE"
fi

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
# An output file that cannot be written: the table is printed, then exit 1 naming the file.
expect_error 1 "accelsched-sim: /nonexistent/summary.csv: cannot write" trace \
  --nodes "$DATA/openb_node_list_gpu_node.csv" --pods "$DATA/openb_pod_list_default.csv" \
  --policy bestfit --seeds 42 --tune 0.05 --summary-csv /nonexistent/summary.csv
expect_error 1 "accelsched-sim: /nonexistent.csv: cannot open" \
  trace --nodes "$DATA/openb_node_list_gpu_node.csv" --pods /nonexistent.csv --policy fgd

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
echo "PASS"
