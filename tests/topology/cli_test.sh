#!/usr/bin/env bash
# End-to-end checks of the accelsched-topo CLI: output JSON, exit codes, error messages.
# Usage: cli_test.sh ACCELSCHED_TOPO SHARED_DATA_DIR
# The checks that read the real nvidia-smi matrices need SHARED_DATA_DIR (../shared/data). Without
# it the others still run; the script then exits 77, which tests/CMakeLists.txt declares as
# ctest's SKIP_RETURN_CODE, so the run shows as skipped instead of passed.
set -u
topo=$1
data=$2/nvidia-smi-topo
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
skip_code=77
have_data=1
[[ -d "$2" ]] || have_data=0

fail() {
  echo "FAIL: $1"
  failures=$((failures + 1))
}

# expect NAME WANT_RC WANT_SUBSTRING -- COMMAND...: runs COMMAND, checks its exit code and that its
# stdout contains WANT_SUBSTRING (answers, including best-set's exit-1 "no set" answer, are JSON on
# stdout).
expect() {
  local name=$1 want_rc=$2 want=$3
  shift 4
  local out rc
  out=$("$@" 2>"$tmp/stderr")
  rc=$?
  if [[ $rc -ne $want_rc || "$out" != *"$want"* ]]; then
    fail "$name: rc=$rc (want $want_rc), stdout:"
    echo "$out" | head -20
    echo "  stderr: $(head -3 "$tmp/stderr")"
    echo "  (wanted substring: $want)"
  else
    echo "ok: $name"
  fi
}

# expect_error NAME WANT_RC WANT_LINE -- COMMAND...: a failing COMMAND must exit with WANT_RC, print
# nothing on stdout, and print WANT_LINE as the first line of stderr. WANT_LINE is matched as a
# shell pattern, so a trailing * stands for a list that grows (known profiles, models). A
# subcommand's error ("accelsched-topo CMD: error: ...") must be followed by the pointer to its
# --help.
expect_error() {
  local name=$1 want_rc=$2 want=$3
  shift 4
  local out rc first second
  out=$("$@" 2>"$tmp/stderr")
  rc=$?
  first=$(sed -n 1p "$tmp/stderr")
  second=$(sed -n 2p "$tmp/stderr")
  if [[ $rc -ne $want_rc ]]; then
    fail "$name: rc=$rc, want $want_rc; stderr: $first"
  elif [[ -n "$out" ]]; then
    fail "$name: stdout should be empty, got: $(echo "$out" | head -3)"
  elif [[ "$first" != $want ]]; then
    fail "$name: stderr line 1 is: $first"
    echo "  wanted: $want"
  elif [[ "$first" =~ ^accelsched-topo\ ([a-z-]+):\ error: &&
          "$second" != "(run 'accelsched-topo ${BASH_REMATCH[1]} --help')" ]]; then
    fail "$name: stderr line 2 is: $second"
  else
    echo "ok: $name"
  fi
}

# Hand-checked answers (see tests/topology/device_set_test.cc for the derivations).
expect "dgx1 quad" 0 '{"gpus":[0,1,2,3],"bottleneck_gbps":25.0,"total_gbps":225.0,"worst_path":"NV","numa_span":1}' -- \
  "$topo" best-set --profile dgx1-v100 --gpus 4
expect "dgx1 8-GPU double-link ring" 0 '"bottleneck_gbps":50.0' -- "$topo" best-set --profile dgx1-v100 --gpus 8
expect "h100 fill socket 1 first" 0 '{"gpus":[4]' -- "$topo" best-set --profile hgx-h100 --gpus 1 --free 0,1,2,3,4
# No set is an answer, not an error: exit 1 with the reason as JSON on stdout, nothing on stderr.
expect "numa constraint unsatisfiable" 1 '{"gpus":null,"reason":"no 5-GPU set among 8 free GPUs on one NUMA node"}' -- \
  "$topo" best-set --profile hgx-h100 --gpus 5 --numa
[[ -s "$tmp/stderr" ]] && fail "numa constraint unsatisfiable: stderr not empty: $(cat "$tmp/stderr")"
expect "mig classic" 0 '"count": 19' -- "$topo" mig-layouts --model A100-80GB
expect "mig classic multisets" 0 '"distinct_multisets": 14' -- "$topo" mig-layouts --model H100-80GB
expect "mig double memory" 0 '"count": 78' -- "$topo" mig-layouts --model A100-80GB --double-memory
expect "mig double memory multisets" 0 '"distinct_multisets": 38' -- "$topo" mig-layouts --model a100-80gb --double-memory
expect "profiles lists hgx-h100" 0 '"name": "hgx-h100"' -- "$topo" profiles
expect "profile json" 0 '{"version":1,"name":"dgx-a100"' -- "$topo" profile dgx-a100
# An annotation file (here from a profile) reads back.
"$topo" profile hgx-h100 > "$tmp/profile.json" || fail "profile hgx-h100 > file: rc=$?"
expect "annotation file from a profile" 0 '{"gpus":[3],' -- "$topo" best-set "$tmp/profile.json" --gpus 1 --free 3

if [[ $have_data -eq 1 ]]; then
  expect "nic constraint on the real dgx1 matrix" 0 '{"gpus":[2,3]' -- \
    "$topo" best-set "$data/dgx1-v100-8gpu-hybrid-cube-mesh.txt" --gpus 2 --nic
  for f in "$data"/*.txt; do
    expect "parse $(basename "$f")" 0 '{"version":1,' -- "$topo" parse "$f"
  done
  # parse -> annotation file -> best-set and describe read it back.
  "$topo" parse "$data/hgx-h100-8gpu-nv18-partial.txt" > "$tmp/h100.json" || fail "parse h100 > file: rc=$?"
  expect "annotation file round trip" 0 '{"gpus":[3],' -- "$topo" best-set "$tmp/h100.json" --gpus 1 --free 3
  expect "describe nearest NIC" 0 '"nic": "NIC5"' -- "$topo" describe "$tmp/h100.json"
  expect "parse from stdin" 0 '"name":"-"' -- bash -c "\"$topo\" parse - < \"$data/pcie-2x-gtx1080ti-phb.txt\""
fi

# Errors: exit 2, nothing on stdout, the message on stderr naming the problem.
e="accelsched-topo"
expect_error "unknown profile" 2 "$e best-set: error: unknown hardware profile \"nope\"; known profiles: dgx1-v100, *" -- \
  "$topo" best-set --profile nope --gpus 2
expect_error "free out of range" 2 "$e best-set: error: --free: \"9\" is not a GPU index 0..7" -- \
  "$topo" best-set --profile hgx-h100 --gpus 2 --free 1,9
expect_error "gpus missing" 2 "$e best-set: error: --gpus K is required (an integer)" -- "$topo" best-set --profile hgx-h100
expect_error "gpus without a value" 2 "$e best-set: error: --gpus needs a value" -- "$topo" best-set --profile hgx-h100 --gpus
expect_error "gpus too many" 2 "$e best-set: error: gpus: must be 1..8 on this node, got 9" -- \
  "$topo" best-set --profile hgx-h100 --gpus 9
expect_error "unreadable file" 2 "$e parse: error: cannot read /nonexistent" -- "$topo" parse /nonexistent
expect_error "parse without a file" 2 "$e parse: error: expected one FILE" -- "$topo" parse
printf '\tGPU0\tGPU1\nGPU0\t X \tFOO\nGPU1\tPIX\t X \n' > "$tmp/bad.txt"
expect_error "malformed matrix names the line" 2 \
  "$e parse: error: $tmp/bad.txt: nvidia-smi topo line 2: GPU0, column GPU1: unknown connection \"FOO\"" -- \
  "$topo" parse "$tmp/bad.txt"
printf '\tGPU0\tGPU1\nGPU0\t X \tPIX\nGPU1\tPIX\t X\377\n' > "$tmp/bytes.txt"
expect_error "a byte that is not UTF-8 names the line" 2 \
  "$e describe: error: $tmp/bytes.txt: nvidia-smi topo line 3: not UTF-8 text (byte 0xFF at column 12)" -- \
  "$topo" describe "$tmp/bytes.txt"
printf '\tGPU0\tGPU1\nGPU0\t X \tPIX\nGPU1\tPIX\t X \n' > "$tmp/ok.txt"
expect_error "a product that is not UTF-8" 2 \
  "$e parse: error: $tmp/ok.txt: GPU product: not UTF-8 text (byte 0xFF at offset 6)" -- \
  "$topo" parse "$tmp/ok.txt" --product "$(printf 'NVIDIA\377')"
echo '{"version": 7, "devices": [], "links": []}' > "$tmp/bad.json"
expect_error "bad annotation names the field" 2 \
  "$e describe: error: $tmp/bad.json: accelsched.io/topology version: unsupported version 7 (this build reads 1)" -- \
  "$topo" describe "$tmp/bad.json"
expect_error "describe with FILE and --profile" 2 "$e describe: error: give either FILE or --profile, not both" -- \
  "$topo" describe "$tmp/bad.json" --profile hgx-h100
expect_error "profile without a name" 2 "$e profile: error: expected one profile NAME" -- "$topo" profile
expect_error "unknown option" 2 "$e profiles: error: unknown option --bogus" -- "$topo" profiles --bogus
expect_error "profiles takes no arguments" 2 "$e profiles: error: profiles takes no arguments" -- "$topo" profiles x
expect_error "unknown command" 2 "$e: unknown command \"frob\"" -- "$topo" frob
expect_error "mig model required" 2 "$e mig-layouts: error: --model MODEL is required" -- "$topo" mig-layouts
expect_error "unknown mig model" 2 "$e mig-layouts: error: unknown MIG GPU model \"V100\"; known models: A100-40GB, A100-80GB, *" -- \
  "$topo" mig-layouts --model V100
# No command: the usage on stdout, exit 2.
expect "no command" 2 'usage: accelsched-topo <command>' -- "$topo"
for cmd in parse profiles profile describe best-set mig-layouts; do
  expect "$cmd --help" 0 "usage: accelsched-topo $cmd" -- "$topo" "$cmd" --help
done
expect "top-level --help" 0 'commands:' -- "$topo" --help

if [[ $failures -ne 0 ]]; then
  echo "$failures CLI check(s) failed"
  exit 1
fi
if [[ $have_data -eq 0 ]]; then
  echo "SKIP: the checks on real nvidia-smi matrices did not run: $2: ../shared/data not found" \
       "(the other CLI checks passed)"
  exit $skip_code
fi
echo "all CLI checks passed"
