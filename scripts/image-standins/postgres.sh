#!/usr/bin/env bash
# Builds a LOCAL STAND-IN for the official PostgreSQL image (e.g. docker.io/library/postgres:18.1-bookworm)
# where no container registry can be reached, and tags it with that name, so the Dockerfile builds
# unchanged. Run as root (rootful podman); scripts/build-image.sh calls it when needed.
#
# Usage: scripts/image-standins/postgres.sh IMAGE
#
# It layers postgres.Containerfile (beside this script) on localhost/postgres:15, which
# scripts/container-engine.sh builds from Debian packages (and is run here when the image is missing).
# The stand-in therefore holds PostgreSQL 15, not the 18 of the real image: the drill finds the tools
# by directory, never by major.
#
# Environment:
#   BASE   the Debian-packaged PostgreSQL image to start from (default localhost/postgres:15)
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_TAG=standin-postgres
# shellcheck source=SCRIPTDIR/lib.sh
. "$SCRIPT_DIR/lib.sh"

IMAGE="${1:?usage: $0 IMAGE (e.g. docker.io/library/postgres:18.1-bookworm)}"
BASE="${BASE:-localhost/postgres:15}"
[ "$(id -u)" = 0 ] || die "must run as root (rootful podman)"

if ! podman image exists "$BASE"; then
	log "$BASE missing: building it with scripts/container-engine.sh"
	IMAGE="$BASE" bash "$SCRIPT_DIR/../container-engine.sh" >/dev/null
	step_done "scripts/container-engine.sh ($BASE)"
fi
podman build --quiet --pull=never --network=none --build-arg "BASE=$BASE" --build-arg "IMAGE=$IMAGE" \
	--file "$SCRIPT_DIR/postgres.Containerfile" --tag "$IMAGE" "$SCRIPT_DIR" >/dev/null
step_done "podman build $IMAGE (from $BASE)"
