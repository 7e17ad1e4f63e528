#!/bin/bash
# Entrypoint of the locally built image localhost/postgres:15 (see scripts/container-engine.sh).
#
# Follows the contract of the official `postgres` Docker image closely enough for
# @testcontainers/postgresql and for `docker run`-style use:
#   POSTGRES_USER      superuser name                      (default: postgres)
#   POSTGRES_PASSWORD  superuser password; required unless POSTGRES_HOST_AUTH_METHOD=trust
#   POSTGRES_DB        database created at init            (default: $POSTGRES_USER)
#   PGDATA             data directory                      (default: /var/lib/postgresql/data)
#   POSTGRES_INITDB_ARGS, POSTGRES_INITDB_WALDIR, POSTGRES_HOST_AUTH_METHOD (default: scram-sha-256)
#   POSTGRES_PASSWORD_FILE / POSTGRES_USER_FILE / POSTGRES_DB_FILE / POSTGRES_INITDB_ARGS_FILE
#   /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz run once, on a fresh data directory.
# Arguments: `postgres -c fsync=off` or just `-c fsync=off` (passed to the server);
# any other command (e.g. `bash`) is executed as is.
#
# On a fresh data directory the cluster is initialised with a temporary server that only
# listens on the Unix socket; it is then stopped and the real server is exec'ed. As in the
# official image, "database system is ready to accept connections" is therefore logged twice
# on first start (once on a restart with an existing data directory).
set -Eeuo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
export PATH="/usr/lib/postgresql/${PG_MAJOR}/bin:${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}"
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
SOCKET_DIR=/var/run/postgresql

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*"; }
die() { log "error: $*" >&2; exit 1; }

# file_env VAR [DEFAULT]: VAR may be given directly or as VAR_FILE (Docker secrets style).
file_env() {
	local var="$1" def="${2:-}" fvar="${1}_FILE" val
	if [ -n "${!var:-}" ] && [ -n "${!fvar:-}" ]; then
		die "both $var and $fvar are set (but are exclusive)"
	fi
	val="$def"
	if [ -n "${!var:-}" ]; then
		val="${!var}"
	elif [ -n "${!fvar:-}" ]; then
		val="$(<"${!fvar}")"
	fi
	export "$var=$val"
	unset "$fvar"
}

# Normalise arguments: no args or leading option => run the server.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
	exec "$@"
fi
shift # drop "postgres"; the rest are server options

# Phase 1 (root): prepare directories, then re-exec this script as the postgres user.
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" "$SOCKET_DIR"
	chown postgres:postgres "$SOCKET_DIR"
	chmod 3777 "$SOCKET_DIR"
	# Only chown a data directory we own the contents of (don't fight bind mounts with other owners).
	find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
	chmod 0700 "$PGDATA"
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		mkdir -p "$POSTGRES_INITDB_WALDIR"
		find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres:postgres '{}' +
		chmod 0700 "$POSTGRES_INITDB_WALDIR"
	fi
	export HOME=/var/lib/postgresql USER=postgres LOGNAME=postgres
	exec setpriv --reuid=postgres --regid=postgres --init-groups -- "${BASH_SOURCE[0]}" postgres "$@"
fi

# Phase 2 (postgres user).
file_env POSTGRES_PASSWORD
file_env POSTGRES_USER postgres
file_env POSTGRES_DB "$POSTGRES_USER"
file_env POSTGRES_INITDB_ARGS
POSTGRES_HOST_AUTH_METHOD="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"

psql_init() {
	psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --username "$POSTGRES_USER" "$@"
}

if [ -s "$PGDATA/PG_VERSION" ]; then
	log "PostgreSQL data directory $PGDATA already contains a database; skipping initialization"
else
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		cat >&2 <<-'EOE'
			Error: Database is uninitialized and superuser password is not specified.
			       You must specify POSTGRES_PASSWORD to a non-empty value for the
			       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

			       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
			       connections without a password. This is *not* recommended.
		EOE
		exit 1
	fi

	initdb_args=(--username="$POSTGRES_USER" --auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD")
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		initdb_args+=(--waldir="$POSTGRES_INITDB_WALDIR")
	fi
	pwfile=
	if [ -n "$POSTGRES_PASSWORD" ]; then
		# The password goes through a private file, never through argv.
		pwfile="$(mktemp)"
		chmod 0600 "$pwfile"
		printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
		initdb_args+=(--pwfile="$pwfile")
	fi
	log "initdb: superuser=$POSTGRES_USER PGDATA=$PGDATA auth-host=$POSTGRES_HOST_AUTH_METHOD extra=${POSTGRES_INITDB_ARGS}"
	# Same semantics as the official image: POSTGRES_INITDB_ARGS is shell-split (quotes honoured).
	eval 'initdb "${initdb_args[@]}" '"$POSTGRES_INITDB_ARGS"
	if [ -n "$pwfile" ]; then
		rm -f "$pwfile"
	fi

	{
		printf '\n# Added by the container entrypoint: password auth from any address.\n'
		printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD"
	} >>"$PGDATA/pg_hba.conf"

	# Temporary server: Unix socket only, so nobody can connect over TCP before init is done.
	pg_ctl -D "$PGDATA" -w -t 60 -o "-c listen_addresses='' -p ${PGPORT:-5432}" start

	if [ "$POSTGRES_DB" != postgres ]; then
		log "creating database $POSTGRES_DB"
		psql_init --dbname postgres --set db="$POSTGRES_DB" <<-'EOSQL'
			CREATE DATABASE :"db" ;
		EOSQL
	fi

	shopt -s nullglob
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
		*.sh)
			if [ -x "$f" ]; then
				log "running $f"
				"$f"
			else
				log "sourcing $f"
				# shellcheck disable=SC1090
				. "$f"
			fi
			;;
		*.sql)
			log "running $f"
			psql_init --dbname "$POSTGRES_DB" -f "$f"
			;;
		*.sql.gz)
			log "running $f"
			gzip -dc "$f" | psql_init --dbname "$POSTGRES_DB"
			;;
		*) log "ignoring $f" ;;
		esac
	done
	shopt -u nullglob

	pg_ctl -D "$PGDATA" -m fast -w stop
	log "PostgreSQL init process complete; ready for start up."
fi

unset POSTGRES_PASSWORD
# listen_addresses first so that a user-supplied `-c listen_addresses=...` wins.
exec postgres -c listen_addresses='*' "$@"
