#!/usr/bin/env bash
# make demo: what accelsched knows about GPU nodes, shown with accelsched-topo on the bundled
# examples, every built-in hardware profile, and (when present beside the checkout) the real
# nvidia-smi matrices in ../shared/data/nvidia-smi-topo/.
# Usage: demo.sh PATH/TO/accelsched-topo
set -euo pipefail
topo=${1:?usage: demo.sh PATH/TO/accelsched-topo}
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../.." && pwd)/../shared/data/nvidia-smi-topo

# show TITLE SOURCE-ARGS...: the node's facts and the best 1/2/4/all-GPU sets.
show() {
  local title=$1
  shift
  local description gpus
  description=$("$topo" describe "$@")
  gpus=$(sed -n 's/^  "gpus": \([0-9]*\),$/\1/p' <<<"$description")
  echo "== $title: $gpus GPUs"
  sed -n 's/^  "\(nics\|devices\|links\)": \(.*\),$/   \1: \2/p' <<<"$description" | paste -sd' ' -
  local sizes
  sizes=$(printf '%s\n' 1 2 4 "$gpus" | awk -v g="$gpus" '$1 <= g' | sort -nu)
  for k in $sizes; do
    printf '   best %2s: %s\n' "$k" "$("$topo" best-set "$@" --gpus "$k" || true)"
  done
  if [[ $gpus -ge 4 ]]; then
    printf '   best  2 with a PIX/PXB NIC each: %s\n' "$("$topo" best-set "$@" --gpus 2 --nic || true)"
    printf '   best  2 after GPU 0 and 1 are taken: %s\n' \
      "$("$topo" best-set "$@" --gpus 2 --free "$(seq -s, 2 $((gpus - 1)))" || true)"
  fi
}

echo "### Bundled examples (deploy/examples/topology/)"
show "8x L40S PCIe server (nvidia-smi topo -m)" "$here/l40s-8gpu-nvidia-smi.txt"
show "2x A100 PCIe with an NVLink bridge (annotation JSON)" "$here/two-a100-nvlink-bridge.json"

echo
echo "### Built-in hardware profiles"
for name in $("$topo" profiles | sed -n 's/^    "name": "\(.*\)",$/\1/p'); do
  show "profile $name" --profile "$name"
done

if [[ -d "$shared" ]]; then
  echo
  echo "### Real nvidia-smi topo -m matrices ($shared)"
  for f in "$shared"/*.txt; do
    show "$(basename "$f")" "$f"
  done
fi

echo
echo "### MIG: maximal layouts per GPU (nothing more fits)"
for model in A100-80GB H100-80GB H200-141GB A30; do
  classic=$("$topo" mig-layouts --model "$model" | sed -n 's/^  "count": \(.*\),$/\1/p')
  double=$("$topo" mig-layouts --model "$model" --double-memory | sed -n 's/^  "count": \(.*\),$/\1/p')
  echo "   $model: $classic maximal layouts with the classic profiles, $double with the double-memory 1g"
done
echo
echo "Try: $topo best-set --profile dgx1-v100 --gpus 4   (and '$topo --help')"
