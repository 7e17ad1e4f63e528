# shellcheck shell=bash
# Sourced by scripts/container-engine.sh and scripts/image-standins/lib.sh: both debootstrap a Debian
# tree of $SUITE and need the mirror this machine's apt already uses (no other network is reachable).

# Debian mirror: MIRROR env, else the first enabled "deb" source of $SUITE (or, on a Debian host,
# of the host's own codename) in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list(.d/*.list).
find_mirror() {
	if [ -n "${MIRROR:-}" ]; then
		echo "$MIRROR"
		return
	fi
	local suites=("$SUITE") host_id="" host_codename="" s f uri
	if [ -r /etc/os-release ]; then
		# shellcheck disable=SC1091
		host_id="$(. /etc/os-release && echo "${ID:-}")"
		# shellcheck disable=SC1091
		host_codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
	fi
	if [ "$host_id" = debian ] && [ -n "$host_codename" ] && [ "$host_codename" != "$SUITE" ]; then
		suites+=("$host_codename")
	fi
	for s in "${suites[@]}"; do
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] || continue
			uri="$(awk -v suite="$s" '
				BEGIN { RS = ""; FS = "\n" }
				{
					types = ""; uris = ""; suites = ""; enabled = "yes"
					for (i = 1; i <= NF; i++) {
						line = $i
						if (line ~ /^[ \t]*#/) continue
						key = tolower(line); sub(/:.*/, "", key)
						val = line; sub(/^[^:]*:[ \t]*/, "", val)
						if (key == "types") types = val
						else if (key == "uris") uris = val
						else if (key == "suites") suites = val
						else if (key == "enabled") enabled = tolower(val)
					}
					if ((" " types " ") ~ / deb / && enabled != "no" && (" " suites " ") ~ (" " suite " ")) {
						split(uris, u, /[ \t]+/); print u[1]; exit
					}
				}' "$f")"
			if [ -n "$uri" ]; then
				echo "$uri"
				return
			fi
		done
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[ -f "$f" ] || continue
			# deb [options] URI SUITE COMPONENTS...
			uri="$(sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$s" '$1 == "deb" && $3 == suite { print $2; exit }')"
			if [ -n "$uri" ]; then
				echo "$uri"
				return
			fi
		done
	done
	return 1
}
