#!/usr/bin/env bash
# End-to-end checks of the accelsched-topo CLI: output JSON, exit codes, error messages.
# Usage: cli_test.sh ACCELSCHED_TOPO SHARED_DATA_DIR
set -u
topo=$1
data=$2/nvidia-smi-topo
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect NAME WANT_RC WANT_SUBSTRING -- COMMAND...: runs COMMAND, checks exit code and that
# stdout+stderr contains WANT_SUBSTRING.
expect() {
  local name=$1 want_rc=$2 want=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [[ $rc -ne $want_rc || "$out" != *"$want"* ]]; then
    echo "FAIL: $name: rc=$rc (want $want_rc), output:"
    echo "$out" | head -20
    echo "  (wanted substring: $want)"
    failures=$((failures + 1))
  else
    echo "ok: $name"
  fi
}

# Hand-checked answers (see tests/topology/device_set_test.cc for the derivations).
expect "dgx1 quad" 0 '{"gpus":[0,1,2,3],"bottleneck_gbps":25.0,"total_gbps":225.0,"worst_path":"NV","numa_span":1}' -- \
  "$topo" best-set --profile dgx1-v100 --gpus 4
expect "dgx1 8-GPU double-link ring" 0 '"bottleneck_gbps":50.0' -- "$topo" best-set --profile dgx1-v100 --gpus 8
expect "h100 fill socket 1 first" 0 '{"gpus":[4]' -- "$topo" best-set --profile hgx-h100 --gpus 1 --free 0,1,2,3,4
expect "numa constraint unsatisfiable" 1 '"gpus":null' -- "$topo" best-set --profile hgx-h100 --gpus 5 --numa
expect "nic constraint on the real dgx1 matrix" 0 '{"gpus":[2,3]' -- \
  "$topo" best-set "$data/dgx1-v100-8gpu-hybrid-cube-mesh.txt" --gpus 2 --nic
expect "mig classic" 0 '"count": 19' -- "$topo" mig-layouts --model A100-80GB
expect "mig classic multisets" 0 '"distinct_multisets": 14' -- "$topo" mig-layouts --model H100-80GB
expect "mig double memory" 0 '"count": 78' -- "$topo" mig-layouts --model A100-80GB --double-memory
expect "mig double memory multisets" 0 '"distinct_multisets": 38' -- "$topo" mig-layouts --model a100-80gb --double-memory
expect "profiles lists hgx-h100" 0 '"name": "hgx-h100"' -- "$topo" profiles
expect "profile json" 0 '{"version":1,"name":"dgx-a100"' -- "$topo" profile dgx-a100

for f in "$data"/*.txt; do
  expect "parse $(basename "$f")" 0 '{"version":1,' -- "$topo" parse "$f"
done
# parse -> annotation file -> best-set and describe read it back.
"$topo" parse "$data/hgx-h100-8gpu-nv18-partial.txt" > "$tmp/h100.json"
expect "annotation file round trip" 0 '{"gpus":[3],' -- "$topo" best-set "$tmp/h100.json" --gpus 1 --free 3
expect "describe nearest NIC" 0 '"nic": "NIC5"' -- "$topo" describe "$tmp/h100.json"
expect "parse from stdin" 0 '"name":"-"' -- bash -c "\"$topo\" parse - < \"$data/pcie-2x-gtx1080ti-phb.txt\""

# Errors: exit 2, a message naming the problem.
expect "unknown profile" 2 'unknown hardware profile "nope"' -- "$topo" best-set --profile nope --gpus 2
expect "free out of range" 2 '--free: "9" is not a GPU index 0..7' -- "$topo" best-set --profile hgx-h100 --gpus 2 --free 1,9
expect "gpus missing" 2 '--gpus K is required' -- "$topo" best-set --profile hgx-h100
expect "gpus too many" 2 'gpus: must be 1..8' -- "$topo" best-set --profile hgx-h100 --gpus 9
expect "unreadable file" 2 'cannot read /nonexistent' -- "$topo" parse /nonexistent
printf '\tGPU0\tGPU1\nGPU0\t X \tFOO\nGPU1\tPIX\t X \n' > "$tmp/bad.txt"
expect "malformed matrix names the line" 2 'line 2: GPU0, column GPU1: unknown connection "FOO"' -- "$topo" parse "$tmp/bad.txt"
echo '{"version": 7, "devices": [], "links": []}' > "$tmp/bad.json"
expect "bad annotation names the field" 2 'version: unsupported version 7' -- "$topo" describe "$tmp/bad.json"
expect "unknown option" 2 'unknown option --bogus' -- "$topo" profiles --bogus
expect "unknown command" 2 'unknown command "frob"' -- "$topo" frob
expect "unknown mig model" 2 'A100-80GB' -- "$topo" mig-layouts --model V100
for cmd in parse profiles profile describe best-set mig-layouts; do
  expect "$cmd --help" 0 "usage: accelsched-topo $cmd" -- "$topo" "$cmd" --help
done
expect "top-level --help" 0 'commands:' -- "$topo" --help

if [[ $failures -ne 0 ]]; then
  echo "$failures CLI check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
