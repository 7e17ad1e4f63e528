#!/usr/bin/env bash
# Builds the pg-restore-drill image from the Dockerfile with podman, and proves it: the self-contained
# drill runs inside it as the CronJob runs it (read-only root file system, /tmp as the only writable
# space, user 10001, no network at all) and must say PASSED.
#
# Where no container registry can be reached (CI, this machine), the two base images the Dockerfile
# names are built as LOCAL STAND-INS under those very names first (scripts/image-standins/): Node from
# the npm registry on Debian, PostgreSQL 18 from Debian packages (localhost/postgres:18). An image already
# present under a base name is used as it is, stand-in or real (a PostgreSQL stand-in whose base image
# was rebuilt since is rebuilt); a real one is never replaced.
#
# Usage (as root: rootful podman, debootstrap):
#   scripts/build-image.sh                     # stand-ins if missing, build, run the drill in the image
#   scripts/build-image.sh --no-smoke          # build only
#   scripts/build-image.sh --rebuild-standins  # rebuild the stand-ins (never a real base image)
#   scripts/build-image.sh --pull              # no stand-ins: the engine pulls the real base images
#
# Environment:
#   IMAGE           tag to build                        (default localhost/pg-restore-drill:dev)
#   NODE_IMAGE      Node base image                     (default: the Dockerfile's ARG default)
#   POSTGRES_IMAGE  PostgreSQL base image               (default: the Dockerfile's ARG default)
#   BUILD_NETWORK   network of the build's RUN steps    (default host: npm ci needs the npm registry)
#   CA_CERTS        CA bundle for npm ci, passed as build secret ca_certs
#                   (default: $NODE_EXTRA_CA_CERTS, else npm's cafile setting, else none)
#   NPMRC           .npmrc for npm ci (registry mirror, token), passed as build secret npmrc (default none)
#
# Prints each step's time; the last line is the total. Idempotent: podman's layer cache makes a rebuild
# of an unchanged tree take seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STANDINS="$ROOT/scripts/image-standins"
LOG_TAG=build-image
# shellcheck source=SCRIPTDIR/image-standins/lib.sh
. "$STANDINS/lib.sh"

SMOKE=1 REBUILD_STANDINS=0 PULL=0
for arg in "$@"; do
	case "$arg" in
	--no-smoke) SMOKE=0 ;;
	--rebuild-standins) REBUILD_STANDINS=1 ;;
	--pull) PULL=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
		exit 0
		;;
	*)
		echo "unknown argument: $arg (see --help)" >&2
		exit 2
		;;
	esac
done

arg_default() { sed -n "s/^ARG $1=//p" "$ROOT/Dockerfile" | head -n 1; }
IMAGE="${IMAGE:-localhost/pg-restore-drill:dev}"
NODE_IMAGE="${NODE_IMAGE:-$(arg_default NODE_IMAGE)}"
POSTGRES_IMAGE="${POSTGRES_IMAGE:-$(arg_default POSTGRES_IMAGE)}"
BUILD_NETWORK="${BUILD_NETWORK:-host}"
if [ -z "$NODE_IMAGE" ] || [ -z "$POSTGRES_IMAGE" ]; then
	die "no ARG NODE_IMAGE / POSTGRES_IMAGE default in Dockerfile"
fi
command -v podman >/dev/null || die "podman not found (scripts/container-engine.sh installs it)"
[ "$(id -u)" = 0 ] || die "must run as root (rootful podman; the stand-ins need debootstrap)"
T_START="$(now_ms)"

# --- 1. base images ------------------------------------------------------------------------------
# ensure_base IMAGE BUILDER: present and not to be rebuilt -> keep; else build the stand-in.
ensure_base() {
	local image="$1" builder="$2"
	if podman image exists "$image"; then
		if ! is_standin "$image"; then
			log "base $image: present (not a stand-in), used as is"
			return
		fi
		if [ "$REBUILD_STANDINS" = 0 ] && { [ "$builder" != postgres.sh ] || ! standin_outdated "$image"; }; then
			log "base $image: stand-in present (--rebuild-standins to rebuild)"
			return
		fi
	fi
	log "base $image: building the LOCAL STAND-IN (no registry needed)"
	bash "$STANDINS/$builder" "$image"
}
if [ "$PULL" = 1 ]; then
	log "bases: --pull, the engine fetches $NODE_IMAGE and $POSTGRES_IMAGE"
else
	ensure_base "$NODE_IMAGE" node.sh
	ensure_base "$POSTGRES_IMAGE" postgres.sh
fi
step_done "base images"

# --- 2. build ------------------------------------------------------------------------------------
build_args=(
	--tag "$IMAGE"
	--network "$BUILD_NETWORK"
	--build-arg "NODE_IMAGE=$NODE_IMAGE"
	--build-arg "POSTGRES_IMAGE=$POSTGRES_IMAGE"
	--label "org.opencontainers.image.revision=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
)
if [ "$PULL" = 1 ]; then build_args+=(--pull=missing); else build_args+=(--pull=never); fi
ca="${CA_CERTS:-${NODE_EXTRA_CA_CERTS:-$(npm config get cafile 2>/dev/null || true)}}"
if [ -n "$ca" ] && [ "$ca" != null ] && [ "$ca" != undefined ] && [ -s "$ca" ]; then
	build_args+=(--secret "id=ca_certs,src=$ca")
	log "build: CA bundle for npm ci: $ca"
fi
if [ -n "${NPMRC:-}" ]; then
	[ -s "$NPMRC" ] || die "NPMRC=$NPMRC is not a file"
	build_args+=(--secret "id=npmrc,src=$NPMRC")
fi
log "build: podman build $IMAGE (network for RUN steps: $BUILD_NETWORK)"
old_id="$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
build_log="$(mktemp /var/tmp/build-image.XXXXXX.log)"
if ! podman build "${build_args[@]}" "$ROOT" >"$build_log" 2>&1; then
	tail -n 40 "$build_log" >&2
	rm -f "$build_log"
	die "podman build failed"
fi
rm -f "$build_log"
# Disk, not speed: drop the image this tag had before and this Dockerfile's dangling intermediate
# images (npm ci reruns on every build anyway: a RUN with a secret mount is never cached).
if [ -n "$old_id" ] && [ "$old_id" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]; then
	podman rmi "$old_id" >/dev/null 2>&1 || true
fi
podman image prune --force --filter label=pg-restore-drill.build=true >/dev/null 2>&1 || true
log "build: $IMAGE $(podman image inspect --format '{{.Id}}' "$IMAGE" | cut -c1-12)," \
	"$(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
step_done "podman build"

# --- 3. smoke: the self-contained drill inside the image ------------------------------------------
if [ "$SMOKE" = 1 ]; then
	log "smoke: podman run --rm --read-only --tmpfs /tmp --user 10001 --network=none $IMAGE"
	out="$(mktemp /var/tmp/build-image-smoke.XXXXXX)"
	code=0
	podman run --rm --read-only --tmpfs /tmp --user 10001 --network=none "$IMAGE" >"$out" 2>&1 || code=$?
	cat "$out" >&2
	passed=0
	grep -q '^pg-restore-drill: PASSED' "$out" && passed=1
	rm -f "$out"
	if [ "$code" != 0 ] || [ "$passed" != 1 ]; then
		die "smoke: the drill in $IMAGE exited $code (PASSED printed: $passed)"
	fi
	step_done "smoke: self-contained drill PASSED"
fi
T_STEP="$T_START"
step_done "total"
echo "$IMAGE"
