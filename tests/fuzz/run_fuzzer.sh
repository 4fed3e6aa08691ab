#!/bin/sh
# run_fuzzer.sh FUZZER SEEDS SECONDS [CORPUS]: runs a libFuzzer target over the seeds for SECONDS.
# New inputs go to CORPUS (default: a scratch directory, removed after), never into the seeds.
# Fails on any crash, sanitizer report, leak, input slower than 10 s, or more than 2 GB of memory;
# the input that failed is kept in the build tree (fuzz-artifacts/) and named in the output.
set -eu
fuzzer=$1
seeds=$2
seconds=$3
corpus=${4:-}
scratch=""
if [ -z "$corpus" ]; then
  scratch=$(mktemp -d)
  corpus=$scratch
  trap 'rm -rf "$scratch"' EXIT
fi
mkdir -p "$corpus" fuzz-artifacts
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix=fuzz-artifacts/"$(basename "$fuzzer")"- \
  "$corpus" "$seeds"
