import { delimiter } from 'node:path';
import { ConfigError } from '../errors.ts';
import { DEFAULT_SEARCH_ROOTS } from '../pg/binaries.ts';
import { DEFAULT_POSTGRES_IMAGE } from '../targets/defaults.ts';
import { TARGET_CHOICES, TARGET_HELP } from '../targets/registry.ts';
import { flag, type Given, list, oneOf, path, type SettingTable, tcpPort, text } from './setting.ts';

export { DEFAULT_POSTGRES_IMAGE };

/** The URL is checked but never shown: it may hold a password. */
function databaseUrl(given: Given): string | undefined {
  const value = text(given);
  if (value !== undefined && !/^postgres(ql)?:\/\//.test(value)) {
    throw new ConfigError(
      given.name,
      `Expected ${given.label} to start with postgres:// or postgresql://${given.from ? ` (from ${given.from}; value not shown: it may hold a password)` : ''}.`,
    );
  }
  return value;
}

/** Where the backup is restored to, and the PostgreSQL tools that do it. */
export const TARGET_SETTINGS = {
  target: {
    field: 'target',
    env: 'DRILL_TARGET',
    default: 'auto',
    arg: 'KIND',
    parse: oneOf(TARGET_CHOICES),
    help: TARGET_HELP,
  },
  pod: {
    field: 'pod',
    env: 'DRILL_POD',
    arg: 'NS/POD',
    parse: text,
    help: "for --target pod: the database pod whose psql/pg_restore run the restore through the exec API (e.g. data/postgres-postgresql-0); the checks connect with --database-url, else through the drill's own port-forward to the pod's --pod-port",
  },
  'pod-port': {
    field: 'podPort',
    env: 'DRILL_POD_PORT',
    default: 5432,
    arg: 'PORT',
    parse: tcpPort,
    help: 'for --target pod without --database-url: the port PostgreSQL serves inside the pod (the Bitnami chart: 5432, or primary.containerPorts.postgresql); the port-forward goes to it and the tools run in the pod connect to it',
  },
  'pod-container': {
    field: 'podContainer',
    env: 'DRILL_POD_CONTAINER',
    default: 'postgresql',
    arg: 'NAME',
    parse: text,
    help: 'the container of --pod that has the PostgreSQL tools',
  },
  image: {
    field: 'image',
    env: 'DRILL_POSTGRES_IMAGE',
    default: DEFAULT_POSTGRES_IMAGE,
    arg: 'IMAGE',
    parse: text,
    help: 'PostgreSQL image for --target container; use the production major (or a registry mirror of it)',
  },
  'database-url': {
    field: 'databaseUrl',
    env: 'DATABASE_URL',
    arg: 'URL',
    parse: databaseUrl,
    help: "postgres://user@host:port/db of an existing server for --target url (the libpq PG* variables also work); prefer PGPASSWORD or a pgpass file to a password in the URL. Of its ?parameters it reads host, port, sslmode (libpq's: disable … verify-full; PGSSLMODE too) and sslrootcert (PGSSLROOTCERT), for its own sessions and the tools'; any other is refused",
  },
  scratch: {
    field: 'scratch',
    env: 'DRILL_SCRATCH',
    default: false,
    parse: flag,
    help: 'declare the --target url server disposable (like the CronJob sidecar): only then may a whole cluster be restored into it',
  },
  'pg-bindir': {
    field: 'pgBinDir',
    env: 'DRILL_PG_BINDIR',
    arg: 'DIR',
    parse: path,
    help: 'PostgreSQL bin directory (default: pg_config --bindir, initdb on PATH, then the newest under --pg-search-roots)',
  },
  'pg-search-roots': {
    field: 'pgSearchRoots',
    env: 'DRILL_PG_SEARCH_ROOTS',
    default: DEFAULT_SEARCH_ROOTS.join(delimiter),
    arg: 'DIRS',
    parse: list,
    help: `directories holding one folder per PostgreSQL major with a bin/ inside, separated by ${delimiter}`,
  },
  keep: {
    field: 'keep',
    env: 'DRILL_KEEP',
    default: false,
    parse: flag,
    help: 'leave the throwaway server running afterwards and print how to connect',
  },
  'initdb-cache': {
    field: 'initdbCache',
    env: 'DRILL_INITDB_CACHE',
    arg: 'DIR|off',
    parse: (given) => (text(given) === 'off' ? 'off' : path(given)),
    help: 'for --target local: initdb once per set of PostgreSQL binaries and keep the result here, copied for every later run (default: $XDG_CACHE_HOME/pg-restore-drill/initdb, else ~/.cache/pg-restore-drill/initdb); off: initdb every run',
  },
  'temp-dir': {
    field: 'tempDir',
    env: 'DRILL_TEMP_DIR',
    arg: 'DIR',
    parse: (given) => path(given),
    help: 'where throwaway clusters and self-made backups live (default: the system temp directory; a self-contained drill keeps its small cluster in /dev/shm when that is a tmpfs with room)',
  },
} as const satisfies SettingTable;
