# Shared by scripts/build-image.sh and the stand-in builders beside this file. Sourced, not run.
# shellcheck shell=bash

# Label on every stand-in image: build-image.sh never replaces an image without it (a real, pulled base
# image stays untouched), and `podman images --filter label=pg-restore-drill.standin` lists them.
STANDIN_LABEL=pg-restore-drill.standin
# On a stand-in layered on a local image: IMAGE@ID of that base. A stand-in whose base has since been
# rebuilt (or retagged) is out of date, and build-image.sh rebuilds it.
STANDIN_BASE_LABEL=pg-restore-drill.standin-base

log() { printf '[%s] %s\n' "${LOG_TAG:-build-image}" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}
now_ms() { date +%s%3N; }
T_STEP="$(now_ms)"
# step_done NAME: logs NAME with the seconds since the previous step_done.
step_done() {
	local t
	t="$(now_ms)"
	log "$(printf '%-44s %6.1fs' "$1" "$((t - T_STEP))e-3")"
	T_STEP="$t"
}

# shellcheck source=SCRIPTDIR/../lib/debian-mirror.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/debian-mirror.sh"

remove_rootfs() {
	local root="$1" m
	[ -n "$root" ] && [ -d "$root" ] || return 0
	awk -v root="$root/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf --one-file-system "$root"
}

# is_standin IMAGE: whether IMAGE exists and was built by one of our stand-in builders.
is_standin() {
	[ "$(podman image inspect --format "{{index .Labels \"$STANDIN_LABEL\"}}" "$1" 2>/dev/null)" = true ]
}

# standin_outdated IMAGE: the stand-in names a base (STANDIN_BASE_LABEL) that is now another image, or
# it holds no such label while its builder sets one (a stand-in built by an older recipe).
standin_outdated() {
	local recorded base id
	recorded="$(podman image inspect --format "{{index .Labels \"$STANDIN_BASE_LABEL\"}}" "$1" 2>/dev/null || true)"
	[ -n "$recorded" ] || return 0
	base="${recorded%@*}"
	id="$(podman image inspect --format '{{.Id}}' "$base" 2>/dev/null || true)"
	[ "$recorded" != "$base@$id" ]
}
