#!/usr/bin/env bash
# Builds a LOCAL STAND-IN for the official PostgreSQL image (e.g. docker.io/library/postgres:18.1-bookworm)
# where no container registry can be reached, and tags it with that name, so the Dockerfile builds
# unchanged. Run as root (rootful podman); scripts/build-image.sh calls it when needed.
#
# Usage: scripts/image-standins/postgres.sh IMAGE
#
# It layers postgres.Containerfile (beside this script) on localhost/postgres:18, which
# scripts/container-engine.sh builds from Debian packages (postgresql-18 from Debian sid; the script is
# run here when the image is missing). The stand-in therefore holds real PostgreSQL 18, the production
# major, as the official image does (its minor and its Debian suite differ: sid, not bookworm).
#
# Environment:
#   BASE   the Debian-packaged PostgreSQL image to start from (default localhost/postgres:18)
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_TAG=standin-postgres
# shellcheck source=SCRIPTDIR/lib.sh
. "$SCRIPT_DIR/lib.sh"

IMAGE="${1:?usage: $0 IMAGE (e.g. docker.io/library/postgres:18.1-bookworm)}"
BASE="${BASE:-localhost/postgres:18}"
[ "$(id -u)" = 0 ] || die "must run as root (rootful podman)"

if ! podman image exists "$BASE"; then
	log "$BASE missing: building it with scripts/container-engine.sh"
	major="${BASE##*:}"
	case "$major" in '' | *[!0-9]*) die "$BASE is missing and its tag is not a major for scripts/container-engine.sh to build" ;; esac
	IMAGE_REPO="${BASE%:*}" PG_MAJORS="$major" bash "$SCRIPT_DIR/../container-engine.sh" >/dev/null
	step_done "scripts/container-engine.sh ($BASE)"
fi
description="$(podman image inspect --format '{{index .Labels "org.opencontainers.image.description"}}' "$BASE")"
podman build --quiet --pull=never --network=none --build-arg "BASE=$BASE" --build-arg "IMAGE=$IMAGE" \
	--build-arg "BASE_DESCRIPTION=$description" \
	--label "$STANDIN_BASE_LABEL=$BASE@$(podman image inspect --format '{{.Id}}' "$BASE")" \
	--file "$SCRIPT_DIR/postgres.Containerfile" --tag "$IMAGE" "$SCRIPT_DIR" >/dev/null
step_done "podman build $IMAGE (from $BASE)"
