#!/usr/bin/env bash
# Builds a slim Debian 12 base image from Debian's packages (debootstrap --variant=minbase) and
# imports it as IMAGE (default localhost/accelsched/debian:bookworm-slim). For machines that
# cannot pull docker.io/library/debian:bookworm-slim: the result plays the same part (Debian 12,
# apt sources for bookworm, bookworm-updates and bookworm-security, no docs, no apt lists).
#
#   deploy/image/base.sh [IMAGE]          needs root (debootstrap), debootstrap and podman
#                                         (ENGINE=buildah or ENGINE=docker to use those)
#   MIRROR=http://deb.debian.org/debian   the mirror to build from
set -euo pipefail

image=${1:-localhost/accelsched/debian:bookworm-slim}
mirror=${MIRROR:-http://deb.debian.org/debian}
engine=${ENGINE:-podman}

if [ "$(id -u)" != 0 ]; then
  echo "base.sh: debootstrap needs root; run it as root or pull a Debian 12 base instead" >&2
  exit 1
fi
command -v debootstrap >/dev/null || { echo "base.sh: debootstrap is not installed" >&2; exit 1; }

root=$(mktemp -d /var/tmp/accelsched-base.XXXXXX)
trap 'rm -rf "$root"' EXIT

echo "base.sh: debootstrap --variant=minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"

cat >"$root/etc/apt/sources.list" <<SOURCES
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
# As the official slim image: no documentation, no recommends, no package lists or caches.
cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/99no-recommends"
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
rm -rf "$root"/usr/share/{man,info,locale}/* "$root"/var/lib/apt/lists/* \
  "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log

if [ "$engine" = buildah ]; then  # No `import`: a scratch container filled from the tree.
  ctr=$(buildah from scratch)
  tar --numeric-owner -C "$root" -c . | tar --numeric-owner -C "$(buildah mount "$ctr")" -x
  buildah config --cmd '["/bin/bash"]' "$ctr"
  buildah commit -q "$ctr" "$image" >/dev/null
  buildah rm "$ctr" >/dev/null
else
  tar --numeric-owner -C "$root" -c . |
    "$engine" import --change 'CMD ["/bin/bash"]' - "$image" >/dev/null
fi
echo "base.sh: imported $image"
