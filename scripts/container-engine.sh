#!/usr/bin/env bash
# Idempotent setup of a local container engine for the integration tests and CI:
# rootful podman + its Docker-compatible API socket (used by the `testcontainers` npm library),
# plus a locally built PostgreSQL 15 image (no container registry is needed or contacted).
#
# Usage (as root):
#   scripts/container-engine.sh                  # set up; print the client env at the end
#   scripts/container-engine.sh --rebuild        # also rebuild the image even if it exists
#   eval "$(scripts/container-engine.sh --print-env)"            # set up, export the env
#   scripts/container-engine.sh --print-env=plain >>"$GITHUB_ENV" # KEY=VALUE lines
#
# With --print-env, stdout carries only the environment lines; progress goes to stderr.
#
# Steps (each skipped when already done):
#   1. apt-get install podman runc debootstrap (apt-get update only if something is missing)
#   2. write /etc/containers/containers.conf (managed file, see write_containers_conf)
#   3. start `podman system service` on unix:///run/podman/podman.sock, detached
#   4. build $IMAGE with debootstrap (Debian bookworm minbase + postgresql-15) + podman import
#
# Environment overrides:
#   IMAGE            image tag to build/check          (default localhost/postgres:15)
#   MIRROR           Debian mirror for debootstrap     (default: read from /etc/apt sources)
#   SUITE            Debian suite of the image         (default bookworm; has PostgreSQL 15)
#   PODMAN_LOG       log file of the API service       (default /var/log/podman-service.log)
#   SERVICE_TIMEOUT  seconds to wait for the socket    (default 30)
set -euo pipefail

IMAGE="${IMAGE:-localhost/postgres:15}"
SUITE="${SUITE:-bookworm}"
PG_MAJOR=15
SOCKET_PATH=/run/podman/podman.sock
SOCKET_URL="unix://${SOCKET_PATH}"
PODMAN_LOG="${PODMAN_LOG:-/var/log/podman-service.log}"
SERVICE_TIMEOUT="${SERVICE_TIMEOUT:-30}"
CONTAINERS_CONF=/etc/containers/containers.conf
CONF_MARKER="# Managed by pg-restore-drill scripts/container-engine.sh"
LOCK_FILE=/run/lock/pg-restore-drill-container-engine.lock
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGE_SRC="${SCRIPT_DIR}/postgres-image"

REBUILD=0
PRINT_ENV=""
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
for arg in "$@"; do
	case "$arg" in
	--rebuild) REBUILD=1 ;;
	--print-env | --print-env=export) PRINT_ENV="export" ;;
	--print-env=plain) PRINT_ENV=plain ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "unknown argument: $arg (see --help)" >&2
		exit 2
		;;
	esac
done

log() { printf '[container-engine] %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}
now_ms() { date +%s%3N; }
T_START="$(now_ms)"
T_STEP="$T_START"
step_done() {
	local t
	t="$(now_ms)"
	log "$(printf '%-34s %6.1fs' "$1" "$((t - T_STEP))e-3")"
	T_STEP="$t"
}

[ "$(id -u)" = 0 ] || die "must run as root (rootful podman is required here)"

# Serialise concurrent runs (parallel CI jobs). fd 9 must not leak into the service (see below).
mkdir -p "$(dirname "$LOCK_FILE")"
exec 9>"$LOCK_FILE"
flock -w 600 9 || die "could not acquire $LOCK_FILE within 600s"

# --- 1. packages ------------------------------------------------------------------------------
ensure_packages() {
	local pkgs=(podman runc debootstrap) missing=() p
	[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || pkgs+=(debian-archive-keyring)
	for p in "${pkgs[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	if [ "${#missing[@]}" -eq 0 ]; then
		log "packages: ${pkgs[*]} already installed"
		return
	fi
	log "packages: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Lock timeout: wait for a concurrent apt/dpkg run instead of failing.
	apt-get -o DPkg::Lock::Timeout=600 -qq update >&2
	apt-get -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends install "${missing[@]}" >&2
}

# --- 2. containers.conf --------------------------------------------------------------------------
# We own this file: it is rewritten as a whole (a foreign pre-existing file is backed up first).
#   default_ulimits = []       podman's built-in default sets a nofile rlimit that this kind of
#                              sandbox/VM refuses; use the service's own limits instead.
#   runtime = "runc"           crun is not installed; runc is.
#   cgroup_manager = "cgroupfs" there is no systemd (PID 1) to delegate cgroups to.
#   events_logger = "file"     no journald either; keep podman events in a file.
#   log_driver = "k8s-file"    container logs in files, so `podman logs`/log wait strategies work.
write_containers_conf() {
	local want
	want="$(
		cat <<-EOF
			${CONF_MARKER}; rewritten on every run. Do not edit.
			[containers]
			default_ulimits = []
			log_driver = "k8s-file"

			[engine]
			runtime = "runc"
			cgroup_manager = "cgroupfs"
			events_logger = "file"
		EOF
	)"
	if [ -f "$CONTAINERS_CONF" ] && [ "$(cat "$CONTAINERS_CONF")" = "$want" ]; then
		log "containers.conf: $CONTAINERS_CONF up to date"
		CONF_CHANGED=0
		return
	fi
	if [ -f "$CONTAINERS_CONF" ] && ! grep -qF "$CONF_MARKER" "$CONTAINERS_CONF"; then
		local bak
		bak="${CONTAINERS_CONF}.bak-$(date +%Y%m%d%H%M%S)"
		cp -p "$CONTAINERS_CONF" "$bak"
		log "containers.conf: existing foreign file backed up to $bak"
	fi
	mkdir -p "$(dirname "$CONTAINERS_CONF")"
	printf '%s\n' "$want" >"$CONTAINERS_CONF"
	log "containers.conf: wrote $CONTAINERS_CONF (runc, cgroupfs, no default ulimits, file logs)"
	CONF_CHANGED=1
}

# --- 3. API service ------------------------------------------------------------------------------
socket_ok() {
	if command -v curl >/dev/null; then
		[ "$(curl -fsS --max-time 3 --unix-socket "$SOCKET_PATH" http://d/_ping 2>/dev/null)" = OK ]
	else
		timeout 5 podman --remote --url "$SOCKET_URL" version >/dev/null 2>&1
	fi
}

ensure_service() {
	if socket_ok; then
		log "service: $SOCKET_URL already answering"
		if [ "$CONF_CHANGED" = 1 ]; then
			log "service: WARNING: containers.conf changed but the running service predates it;" \
				"restart it (kill its 'podman system service' process) to apply"
		fi
		return
	fi
	mkdir -p "$(dirname "$SOCKET_PATH")" "$(dirname "$PODMAN_LOG")"
	# A socket file nobody answers on is stale (the service died); remove it so we can bind.
	[ -S "$SOCKET_PATH" ] && rm -f "$SOCKET_PATH"
	log "service: starting podman system service (log: $PODMAN_LOG)"
	printf '\n=== %s podman system service --time=0 %s\n' "$(date -Is)" "$SOCKET_URL" >>"$PODMAN_LOG"
	# Detached: own session, no controlling terminal, survives this script; 9>&- so the
	# long-running service does not hold our lock.
	setsid nohup podman system service --time=0 "$SOCKET_URL" </dev/null >>"$PODMAN_LOG" 2>&1 9>&- &
	local pid=$! deadline=$((SECONDS + SERVICE_TIMEOUT))
	until socket_ok; do
		if ! kill -0 "$pid" 2>/dev/null; then
			die "podman system service exited early; see $PODMAN_LOG:
$(tail -n 20 "$PODMAN_LOG")"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			die "podman API socket $SOCKET_PATH not answering after ${SERVICE_TIMEOUT}s (service pid $pid); see $PODMAN_LOG"
		fi
		sleep 0.2
	done
	disown "$pid" 2>/dev/null || true
	log "service: up (pid $pid)"
}

# --- 4. image ------------------------------------------------------------------------------------
# shellcheck source=SCRIPTDIR/lib/debian-mirror.sh
. "$SCRIPT_DIR/lib/debian-mirror.sh"

ROOTFS=""
cleanup_rootfs() {
	[ -n "$ROOTFS" ] && [ -d "$ROOTFS" ] || return 0
	# debootstrap/chroot may leave /proc, /sys, ... mounted inside the tree: unmount first and
	# never let rm cross into another file system.
	local m
	awk -v root="$ROOTFS/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf --one-file-system "$ROOTFS"
}

build_image() {
	local mirror sha lang=C.UTF-8
	mirror="$(find_mirror)" || die "no Debian mirror for '$SUITE' found in /etc/apt sources; set MIRROR=http://..."
	[ -f "$IMAGE_SRC/entrypoint.sh" ] || die "missing $IMAGE_SRC/entrypoint.sh"
	ROOTFS="$(mktemp -d /var/tmp/pg-image-rootfs.XXXXXX)"
	trap cleanup_rootfs EXIT

	log "image: debootstrap $SUITE minbase + postgresql-$PG_MAJOR from $mirror"
	if ! debootstrap --variant=minbase --include="postgresql-${PG_MAJOR},locales" \
		"$SUITE" "$ROOTFS" "$mirror" >"$ROOTFS.debootstrap.log" 2>&1; then
		tail -n 30 "$ROOTFS.debootstrap.log" >&2 || true
		[ -f "$ROOTFS/debootstrap/debootstrap.log" ] && tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2
		rm -f "$ROOTFS.debootstrap.log"
		die "debootstrap failed"
	fi
	rm -f "$ROOTFS.debootstrap.log"
	step_done "image: debootstrap"

	# The postgresql-15 package creates a "main" cluster at install time; the container uses
	# $PGDATA instead, so drop it (and the apt caches) from the image.
	rm -rf "$ROOTFS/var/lib/postgresql/${PG_MAJOR}" "$ROOTFS/etc/postgresql/${PG_MAJOR}" \
		"$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS/debootstrap"
	# en_US.UTF-8 like the official image (cheap: ~1s); fall back to C.UTF-8 if that fails.
	if chroot "$ROOTFS" localedef -i en_US -c -f UTF-8 -A /usr/share/locale/locale.alias en_US.UTF-8; then
		lang=en_US.utf8
	else
		log "image: WARNING: localedef en_US.UTF-8 failed; LANG=C.UTF-8"
	fi
	# Slimmer image, faster import: docs, man pages and message translations (~70 MB).
	rm -rf "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
		"$ROOTFS"/usr/share/locale/*/
	install -D -m 0755 "$IMAGE_SRC/entrypoint.sh" "$ROOTFS/usr/local/bin/docker-entrypoint.sh"
	ln -sf usr/local/bin/docker-entrypoint.sh "$ROOTFS/docker-entrypoint.sh"
	mkdir -p "$ROOTFS/docker-entrypoint-initdb.d" "$ROOTFS/var/lib/postgresql/data"
	chroot "$ROOTFS" chown -R postgres:postgres /var/lib/postgresql
	chmod 0700 "$ROOTFS/var/lib/postgresql/data"
	# Sanity: everything the drill runs inside the container must be there.
	local bin
	for bin in postgres initdb pg_ctl psql pg_dump pg_dumpall pg_restore pg_isready; do
		[ -x "$ROOTFS/usr/lib/postgresql/${PG_MAJOR}/bin/$bin" ] || die "image lacks $bin"
	done
	for bin in gzip setpriv bash sh awk grep; do
		chroot "$ROOTFS" sh -c "command -v $bin" >/dev/null || die "image lacks $bin"
	done
	sha="$(sha256sum "$IMAGE_SRC/entrypoint.sh" | cut -d' ' -f1)"
	step_done "image: customise rootfs"

	log "image: podman import -> $IMAGE"
	tar -C "$ROOTFS" --numeric-owner -c . | podman import --quiet \
		--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
		--change 'CMD ["postgres"]' \
		--change "ENV PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		--change "ENV PG_MAJOR=${PG_MAJOR}" \
		--change 'ENV PGDATA=/var/lib/postgresql/data' \
		--change "ENV LANG=${lang}" \
		--change 'EXPOSE 5432/tcp' \
		--change 'STOPSIGNAL SIGINT' \
		--change "LABEL org.opencontainers.image.description=\"PostgreSQL ${PG_MAJOR} (Debian ${SUITE}) for pg-restore-drill\"" \
		--change "LABEL pg-restore-drill.entrypoint-sha256=${sha}" \
		--message "scripts/container-engine.sh: debootstrap $SUITE + postgresql-${PG_MAJOR}" \
		- "$IMAGE" >/dev/null
	step_done "image: podman import"
	cleanup_rootfs
	ROOTFS=""
}

ensure_image() {
	if [ "$REBUILD" = 0 ] && podman image exists "$IMAGE"; then
		local have want
		have="$(podman image inspect --format '{{index .Labels "pg-restore-drill.entrypoint-sha256"}}' "$IMAGE" 2>/dev/null || true)"
		want="$(sha256sum "$IMAGE_SRC/entrypoint.sh" | cut -d' ' -f1)"
		log "image: $IMAGE exists (use --rebuild to rebuild)"
		if [ "$have" != "$want" ]; then
			log "image: WARNING: $IMAGE was built from a different scripts/postgres-image/entrypoint.sh;" \
				"run with --rebuild to pick up the change"
		fi
		return
	fi
	local old_id=""
	old_id="$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
	build_image
	# Drop the previous build if it is now untagged and unused (ignore failure: in use).
	if [ -n "$old_id" ] && [ "$old_id" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]; then
		if podman rmi "$old_id" >/dev/null 2>&1; then
			log "image: removed previous build ${old_id:0:12}"
		fi
	fi
}

print_env() {
	local fmt="$1" prefix=""
	[ "$fmt" = export ] && prefix="export "
	printf '%sDOCKER_HOST=%s\n' "$prefix" "$SOCKET_URL"
	printf '%sTESTCONTAINERS_RYUK_DISABLED=true\n' "$prefix"
	printf '%sTESTCONTAINERS_HOST_OVERRIDE=127.0.0.1\n' "$prefix"
}

CONF_CHANGED=0
ensure_packages
step_done "packages"
write_containers_conf
step_done "containers.conf"
ensure_service
step_done "podman API service"
ensure_image
step_done "image $IMAGE"
T_STEP="$T_START"
step_done "total"

if [ -n "$PRINT_ENV" ]; then
	print_env "$PRINT_ENV"
else
	echo "# Environment for testcontainers/docker clients (eval, or drop 'export ' for \$GITHUB_ENV):"
	print_env export
fi
