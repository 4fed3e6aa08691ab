#!/usr/bin/env bash
# Checks a built accelsched image without running a container (none can run here): mounts it
# (`podman image mount`, read-only) and, with chroot as uid 65532,
#   - runs accelsched-extender, accelsched-node and accelsched-topo --help (every shared library
#     resolves inside the image),
#   - serves the demo cluster with accelsched-extender from the read-only root until /readyz
#     answers 200 (the read-only root filesystem of deploy/ works),
# checks that the image runs as 65532:65532, that no compiler or headers are in it, and prints
# its size. Needs root and podman.
#
#   deploy/image/check.sh IMAGE [PORT]
set -euo pipefail

image=${1:?usage: check.sh IMAGE [PORT]}
port=${2:-18931}
here=$(cd "$(dirname "$0")" && pwd)
examples=$(cd "$here/../examples" && pwd)
fail() { echo "image check FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (podman image mount, chroot)"
command -v podman >/dev/null || fail "podman is not installed"

user=$(podman image inspect --format '{{.Config.User}}' "$image")
[ "$user" = "65532:65532" ] || fail "the image runs as '$user', not 65532:65532"
echo "image check: user $user"

root=$(podman image mount "$image")
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  mountpoint -q "$root/mnt" && umount "$root/mnt"
  podman image unmount "$image" >/dev/null
}
trap cleanup EXIT

if touch "$root/.rw-probe" 2>/dev/null; then rm -f "$root/.rw-probe"; fail "mount is writable"; fi
run() { chroot --userspec=65532:65532 "$root" "$@"; }

for bin in accelsched-extender accelsched-node accelsched-topo; do
  out=$(run "/usr/local/bin/$bin" --help 2>&1) || fail "$bin --help: $out"
  grep -q "usage: $bin" <<<"$out" || fail "$bin --help printed: $out"
  echo "image check: $bin --help runs as 65532 in the image"
done

for tool in cc gcc g++ c++ clang ld as cmake; do
  [ ! -e "$root/usr/bin/$tool" ] || fail "/usr/bin/$tool is in the image"
done
[ ! -d "$root/usr/include/c++" ] || fail "C++ headers (/usr/include/c++) are in the image"
echo "image check: no compiler, linker or C++ headers"

# The demo cluster served from the read-only root (examples bind-mounted read-only at /mnt).
mount --bind -o ro "$examples" "$root/mnt"
if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
  exec 3<&-; fail "port $port is in use (give another as the second argument)"
fi
chroot --userspec=65532:65532 "$root" /usr/local/bin/accelsched-extender --cluster /mnt/demo-cluster.yaml \
  --bind-address 127.0.0.1 --port "$port" --log-level warn &
server=$!
status=""
for _ in $(seq 1 100); do
  if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
    printf 'GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
    status=$(head -1 <&3 | tr -d '\r'); exec 3<&-
    [[ $status == *" 200 "* ]] && break
  fi
  kill -0 "$server" 2>/dev/null || fail "accelsched-extender exited in the image"
  sleep 0.2
done
kill -0 "$server" 2>/dev/null || fail "accelsched-extender exited in the image"
[[ $status == *" 200 "* ]] || fail "/readyz of the extender in the image: '${status:-no answer}'"
echo "image check: accelsched-extender serves the demo cluster from the read-only root" \
  "(/readyz: $status)"

size=$(podman image inspect --format '{{.Size}}' "$image")
echo "image check: $image is $((size / 1000000)) MB"
echo "image check: passed"
