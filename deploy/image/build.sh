#!/usr/bin/env bash
# Builds the accelsched image (deploy/image/Containerfile) with podman, buildah or docker,
# whichever is installed (in that order; ENGINE=... picks one).
#
#   deploy/image/build.sh IMAGE source            compile inside the image build
#   deploy/image/build.sh IMAGE prebuilt BUILDDIR  take the binaries of a host build (stripped)
#
#   BASE=ref     the Debian 12 base (default docker.io/library/debian:bookworm-slim). When it
#                is neither present nor pullable, deploy/image/base.sh makes
#                localhost/accelsched/debian:bookworm-slim from Debian's packages (root only).
#   ISOLATION    podman/buildah --isolation (default chroot: needs no container runtime)
set -euo pipefail

usage() { echo "usage: build.sh IMAGE source | build.sh IMAGE prebuilt BUILDDIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
image=$1 mode=$2 builddir=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
case $mode in
  source) ;;
  prebuilt) [ -n "$builddir" ] || usage ;;
  *) usage ;;
esac

engine=${ENGINE:-}
if [ -z "$engine" ]; then
  for e in podman buildah docker; do
    if command -v $e >/dev/null; then engine=$e; break; fi
  done
fi
[ -n "$engine" ] || { echo "build.sh: none of podman, buildah, docker is installed" >&2; exit 1; }

have_image() {
  case $engine in
    docker) docker image inspect "$1" >/dev/null 2>&1 ;;
    buildah) buildah inspect --type image "$1" >/dev/null 2>&1 ;;
    *) podman image exists "$1" 2>/dev/null ;;
  esac
}

base=${BASE:-docker.io/library/debian:bookworm-slim}
local_base=localhost/accelsched/debian:bookworm-slim
if ! have_image "$base" && ! timeout 120 "$engine" pull "$base" >/dev/null 2>&1; then
  if [ -n "${BASE:-}" ]; then
    echo "build.sh: cannot find or pull BASE=$base" >&2; exit 1
  fi
  echo "build.sh: cannot pull $base; using $local_base (Debian 12 from Debian's packages)"
  have_image "$local_base" || ENGINE=$engine "$here/base.sh" "$local_base"
  base=$local_base
fi

context=$(mktemp -d /var/tmp/accelsched-image.XXXXXX)
trap 'rm -rf "$context"' EXIT
if [ "$mode" = source ]; then
  # The tracked files as they are in the work tree (no build trees, no .git).
  (cd "$repo" && git ls-files -z | tar --null -T - -c) | tar -C "$context" -x
else
  for bin in scheduler/accelsched-extender scheduler/accelsched-node topology/accelsched-topo; do
    [ -x "$builddir/$bin" ] || { echo "build.sh: $builddir/$bin is not built" >&2; exit 1; }
    install -D -s -t "$context/bin" "$builddir/$bin"
  done
fi

args=(build -f "$here/Containerfile" --build-arg "BASE=$base" --build-arg "BINARIES=$mode"
      -t "$image")
case $engine in
  podman | buildah) args+=(--isolation "${ISOLATION:-chroot}") ;;
esac
[ "$engine" = buildah ] && args=(bud "${args[@]:1}")
echo "build.sh: $engine ${args[*]} (base $base, binaries: $mode)"
"$engine" "${args[@]}" "$context"
echo "build.sh: built $image"
