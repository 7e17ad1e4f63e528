#!/usr/bin/env bash
# Idempotent setup of a local container engine for the integration tests and CI:
# rootful podman + its Docker-compatible API socket (used by the `testcontainers` npm library),
# plus locally built PostgreSQL images, one per major, from Debian packages (no container registry is
# needed or contacted):
#   localhost/postgres:15  Debian bookworm  postgresql-15
#   localhost/postgres:17  Debian trixie    postgresql-17
#   localhost/postgres:18  Debian sid       postgresql-18  (the production major)
# Each is `debootstrap --variant=minbase --include=postgresql-N SUITE` + scripts/postgres-image/
# entrypoint.sh, imported with podman and labelled with its major and exact version.
#
# Usage (as root):
#   scripts/container-engine.sh                  # set up; print the client env at the end
#   scripts/container-engine.sh --rebuild        # also rebuild the images even if they are current
#   eval "$(scripts/container-engine.sh --print-env)"            # set up, export the env
#   scripts/container-engine.sh --print-env=plain >>"$GITHUB_ENV" # KEY=VALUE lines
#
# With --print-env, stdout carries only the environment lines; progress goes to stderr.
#
# Steps (each skipped when already done):
#   1. apt-get install podman runc catatonit debootstrap (apt-get update only if something is missing);
#      catatonit is only a Recommends of podman, and `podman pod create` needs it (its infra container)
#   2. write /etc/containers/containers.conf (managed file, see write_containers_conf)
#   3. start `podman system service` on unix:///run/podman/podman.sock, detached
#   4. build each image of PG_MAJORS, unless it exists with the same recipe (label
#      pg-restore-drill.recipe-sha256: this script's build function, the entrypoint, major and suite);
#      downloaded .debs are kept in $DEB_CACHE, so a rebuild downloads only what changed
#
# Environment overrides:
#   PG_MAJORS        majors to build                    (default "15 17 18")
#   SUITE_<N>        Debian suite for major N           (defaults: 15 bookworm, 17 trixie, 18 sid)
#   IMAGE_REPO       image name, tagged :<N>            (default localhost/postgres)
#   MIRROR           Debian mirror for debootstrap      (default: read from /etc/apt sources)
#   DEB_CACHE        debootstrap's package cache        (default /var/cache/pg-restore-drill/debootstrap)
#   PODMAN_LOG       log file of the API service        (default /var/log/podman-service.log)
#   SERVICE_TIMEOUT  seconds to wait for the socket     (default 30)
set -euo pipefail

PG_MAJORS="${PG_MAJORS:-15 17 18}"
IMAGE_REPO="${IMAGE_REPO:-localhost/postgres}"
DEB_CACHE="${DEB_CACHE:-/var/cache/pg-restore-drill/debootstrap}"
declare -A DEFAULT_SUITE=([15]=bookworm [17]=trixie [18]=sid)
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
	local pkgs=(podman runc catatonit debootstrap) missing=() p
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

# --- 4. images -----------------------------------------------------------------------------------
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
trap cleanup_rootfs EXIT

# build_image MAJOR SUITE IMAGE RECIPE: debootstrap SUITE with postgresql-MAJOR, podman import as IMAGE.
build_image() {
	local major="$1" suite="$2" image="$3" recipe="$4" mirror sha lang=C.UTF-8 version dlog
	SUITE="$suite"
	mirror="$(find_mirror)" || die "no Debian mirror for '$suite' found in /etc/apt sources; set MIRROR=http://..."
	[ -f "$IMAGE_SRC/entrypoint.sh" ] || die "missing $IMAGE_SRC/entrypoint.sh"
	ROOTFS="$(mktemp -d /var/tmp/pg-image-rootfs.XXXXXX)"
	dlog="$ROOTFS.debootstrap.log"
	mkdir -p "$DEB_CACHE"

	log "image: debootstrap $suite minbase + postgresql-$major from $mirror"
	if ! debootstrap --variant=minbase --cache-dir="$DEB_CACHE" --include="postgresql-${major},locales" \
		"$suite" "$ROOTFS" "$mirror" >"$dlog" 2>&1; then
		if grep -q "Couldn't find these debs:.*postgresql-${major}" "$dlog"; then
			rm -f "$dlog"
			die "Debian suite '$suite' ($mirror) no longer carries postgresql-${major}: set SUITE_${major} to a suite that does (https://packages.debian.org/postgresql-${major} lists them), or drop ${major} from PG_MAJORS"
		fi
		tail -n 30 "$dlog" >&2 || true
		[ -f "$ROOTFS/debootstrap/debootstrap.log" ] && tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2
		rm -f "$dlog"
		die "debootstrap of $suite + postgresql-${major} failed"
	fi
	rm -f "$dlog"
	step_done "image :$major: debootstrap $suite"

	# The postgresql-N package creates a "main" cluster at install time; the container uses
	# $PGDATA instead, so drop it (and the apt caches) from the image.
	rm -rf "$ROOTFS/var/lib/postgresql/${major}" "$ROOTFS/etc/postgresql/${major}" \
		"$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS/debootstrap"
	# en_US.UTF-8 like the official image (cheap: ~1s); fall back to C.UTF-8 if that fails. (Newer
	# suites ship no locale.alias.)
	local alias=()
	[ -f "$ROOTFS/usr/share/locale/locale.alias" ] && alias=(-A /usr/share/locale/locale.alias)
	if chroot "$ROOTFS" localedef -i en_US -c -f UTF-8 "${alias[@]}" en_US.UTF-8; then
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
	# Sanity: everything the drill runs inside the container must be there, of the major asked for.
	local bin
	for bin in postgres initdb pg_ctl psql pg_dump pg_dumpall pg_restore pg_isready; do
		[ -x "$ROOTFS/usr/lib/postgresql/${major}/bin/$bin" ] || die "image lacks $bin"
	done
	for bin in gzip setpriv bash sh awk grep; do
		chroot "$ROOTFS" sh -c "command -v $bin" >/dev/null || die "image lacks $bin"
	done
	version="$(chroot "$ROOTFS" "/usr/lib/postgresql/${major}/bin/postgres" --version | sed -n 's/^postgres (PostgreSQL) \([0-9][0-9.]*\).*/\1/p')"
	[ "${version%%.*}" = "$major" ] || die "postgresql-${major} of $suite says it is PostgreSQL '${version}'"
	sha="$(sha256sum "$IMAGE_SRC/entrypoint.sh" | cut -d' ' -f1)"
	step_done "image :$major: customise rootfs ($version)"

	log "image: podman import -> $image"
	tar -C "$ROOTFS" --numeric-owner -c . | podman import --quiet \
		--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
		--change 'CMD ["postgres"]' \
		--change "ENV PATH=/usr/lib/postgresql/${major}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		--change "ENV PG_MAJOR=${major}" \
		--change "ENV PG_VERSION=${version}" \
		--change 'ENV PGDATA=/var/lib/postgresql/data' \
		--change "ENV LANG=${lang}" \
		--change 'EXPOSE 5432/tcp' \
		--change 'STOPSIGNAL SIGINT' \
		--change "LABEL org.opencontainers.image.description=\"PostgreSQL ${version} (Debian ${suite}) for pg-restore-drill\"" \
		--change "LABEL org.opencontainers.image.version=${version}" \
		--change "LABEL pg-restore-drill.pg-major=${major}" \
		--change "LABEL pg-restore-drill.debian-suite=${suite}" \
		--change "LABEL pg-restore-drill.entrypoint-sha256=${sha}" \
		--change "LABEL pg-restore-drill.recipe-sha256=${recipe}" \
		--message "scripts/container-engine.sh: debootstrap $suite + postgresql-${major} (${version})" \
		- "$image" >/dev/null
	step_done "image :$major: podman import"
	cleanup_rootfs
	ROOTFS=""
}

label_of() { podman image inspect --format "{{index .Labels \"$2\"}}" "$1" 2>/dev/null || true; }

# What an image is made from: a change to any of it means a rebuild. (Package versions are not in
# it: --rebuild picks up a new point release of the suite.)
recipe_of() {
	{
		printf 'major=%s suite=%s\n' "$1" "$2"
		declare -f build_image
		cat "$IMAGE_SRC/entrypoint.sh"
	} | sha256sum | cut -d' ' -f1
}

ensure_image() {
	local major="$1" suite_var="SUITE_$1" suite image recipe old_id=""
	suite="${!suite_var:-${DEFAULT_SUITE[$major]:-}}"
	[ -n "$suite" ] || die "no Debian suite known for PostgreSQL $major: set $suite_var (e.g. $suite_var=sid)"
	image="${IMAGE_REPO}:${major}"
	recipe="$(recipe_of "$major" "$suite")"
	if [ "$REBUILD" = 0 ] && podman image exists "$image"; then
		if [ "$(label_of "$image" pg-restore-drill.recipe-sha256)" = "$recipe" ]; then
			log "image: $image current (PostgreSQL $(label_of "$image" org.opencontainers.image.version), Debian $suite; --rebuild to rebuild)"
			return
		fi
		log "image: $image was built from another recipe: rebuilding"
	fi
	old_id="$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
	build_image "$major" "$suite" "$image" "$recipe"
	# Drop the previous build if it is now untagged and unused (ignore failure: in use).
	if [ -n "$old_id" ] && [ "$old_id" != "$(podman image inspect --format '{{.Id}}' "$image")" ]; then
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
for major in $PG_MAJORS; do
	case "$major" in '' | *[!0-9]*) die "PG_MAJORS holds '$major', not a major version number" ;; esac
	ensure_image "$major"
	step_done "image ${IMAGE_REPO}:${major}"
done
T_STEP="$T_START"
step_done "total"

if [ -n "$PRINT_ENV" ]; then
	print_env "$PRINT_ENV"
else
	echo "# Environment for testcontainers/docker clients (eval, or drop 'export ' for \$GITHUB_ENV):"
	print_env export
fi
