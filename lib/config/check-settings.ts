import { parseTableName, TABLE_NAME_RULES } from '../table/table-name.ts';
import { MODE_CHOICES, VERIFY_CHOICES } from './drill-config.ts';
import {
  flag,
  type Given,
  invalid,
  oneOf,
  path,
  type SettingTable,
  seconds,
  text,
  wholeNumber,
} from './setting.ts';

/** `none` passes too: it means "no canary" (drills/restore.drill.ts); readConfig checks what it allows. */
function databaseName(given: Given): string {
  const value = text(given) ?? '';
  if (!/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/.test(value)) {
    throw invalid(given, 'a database name of at most 63 plain characters');
  }
  return value;
}

/**
 * A TimeZone as PostgreSQL takes it. An Area/Location name (the form `SHOW TimeZone` prints) must be one
 * the tz database knows, as Node's Intl reads it: a typo (`Europe/Berln`) would otherwise fail every
 * table of a deep verification, as if the backup differed. Other forms (UTC, EST5EDT, a POSIX rule such
 * as `<+03>-3`) are PostgreSQL's to judge and pass as they are.
 */
function timeZoneName(given: Given): string {
  const value = text(given) ?? '';
  if (value.includes('/')) {
    try {
      // posix/ and right/ are the tz database's own variants of every zone (PostgreSQL takes them).
      new Intl.DateTimeFormat('en', { timeZone: value.replace(/^(posix|right)\//, '') });
    } catch {
      throw invalid(
        given,
        'a time zone of the tz database, as `SHOW TimeZone` prints it on the source server (Europe/Berlin, America/New_York, UTC)',
      );
    }
  }
  if (value === '') throw invalid(given, 'a time zone name');
  return value;
}

/** How the backup is restored, how long it may take, and what is checked afterwards. */
export const CHECK_SETTINGS = {
  mode: {
    field: 'mode',
    env: 'DRILL_MODE',
    default: 'cluster',
    arg: 'MODE',
    parse: oneOf(MODE_CHOICES),
    help: "cluster: replay the whole pg_dumpall (only into a scratch server) | canary: drop the canary and restore only its section (safe on a live server) | canary-copy: restore the canary's section as drill_<run id> next to it, drop nothing",
  },
  jobs: {
    field: 'jobs',
    env: 'DRILL_JOBS',
    default: 2,
    arg: 'N',
    parse: wholeNumber,
    help: 'parallel pg_restore jobs for custom/directory archives the tools can read as files (1 through stdin)',
  },
  rto: {
    field: 'rtoSeconds',
    env: 'DRILL_RTO',
    default: 300,
    arg: 'SECONDS',
    parse: seconds,
    help: 'restore time budget (RTO); a slower restore fails `restore: within the RTO budget`, saying how long it took',
  },
  'rto-ceiling': {
    field: 'rtoCeilingSeconds',
    env: 'DRILL_RTO_CEILING',
    arg: 'SECONDS',
    // Unset: 3 × --rto, filled in by readConfig, which also keeps it at or above the budget.
    parse: (given) => (given.value === undefined ? undefined : seconds(given)),
    help: "hard ceiling: a restore over the budget runs on until this, so the real RTO is measured, and is stopped there; each pass over the data after it (the precheck's whole read, deep verification) is bounded the same (default: 3 × --rto)",
  },
  canary: {
    field: 'canary',
    env: 'DRILL_CANARY',
    default: 'backup_test',
    arg: 'DB',
    parse: databaseName,
    help: 'canary database: dropped, restored and checked; `none` for a backup without one (an archive of an application database)',
  },
  verify: {
    field: 'verify',
    env: 'DRILL_VERIFY',
    default: 'canary',
    arg: 'LEVEL',
    parse: oneOf(VERIFY_CHOICES),
    help: 'canary: the canary checks | deep: also every table of the backup, row count and content digest read back from the restored server',
  },
  'source-time-zone': {
    field: 'sourceTimeZone',
    env: 'DRILL_SOURCE_TIME_ZONE',
    default: 'UTC',
    arg: 'ZONE',
    parse: timeZoneName,
    help: 'TimeZone of the server the backup was taken from (pg_dump writes timestamptz in it and does not record it); deep verification reads back in it wherever the restored database and role set none of their own',
  },
  'allow-unverified': {
    field: 'allowUnverified',
    env: 'DRILL_ALLOW_UNVERIFIED',
    default: false,
    parse: flag,
    help: "with --verify deep: tables whose dump data cannot be digested (an INSERT not in pg_dump's form) are listed as not verified instead of failing the drill",
  },
  expect: {
    field: 'expect',
    env: 'DRILL_EXPECT',
    arg: 'FILE',
    parse: path,
    help: 'expectations file (YAML, written by `pg-restore-drill record`; docs/expectations.md): the tables, counts and digests the backup must hold, the canary contract, your own SQL assertions; read and checked before any work',
  },
  'self-test': {
    field: 'selfTest',
    env: 'DRILL_SELF_TEST',
    default: false,
    parse: flag,
    help: "prove the checks can go red before trusting a green run (needs --verify deep): a truncated and a bit-flipped copy of the backup must fail the precheck, one row changed must fail deep verification, a canary missing a user must fail its check; each fault made in a stream of the file or in a transaction of the check's own session, rolled back: the backup and the restored data stay as they are",
  },
  table: {
    field: 'table',
    env: 'DRILL_TABLE',
    arg: 'DB.SCHEMA.TABLE',
    parse: (given) =>
      given.value === undefined ? undefined : parseTableName(String(given.value), given.label),
    help: `the table-level recovery drill ("someone ran DELETE without WHERE"), a mode of its own: only this table (its definition, its rows, the types, domains, functions and sequences it uses) out of the newest pg_dumpall into a scratch database pg_restore_drill_table_<run id>, verified against the dump's digest, timed as phase "table", dropped at the end; never the original. ${TABLE_NAME_RULES}`,
  },
  'assertion-timeout': {
    field: 'assertionTimeoutSeconds',
    env: 'DRILL_ASSERTION_TIMEOUT',
    default: 30,
    arg: 'SECONDS',
    parse: seconds,
    help: "statement_timeout of each assertion of the expectations file (an assertion's timeoutSeconds wins)",
  },
} as const satisfies SettingTable;
