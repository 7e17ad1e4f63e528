/**
 * `pg-restore-drill record [--all] [--database-url URL | --backups DIR] --out FILE`: its own small
 * option table (the drill's settings do not apply), validated before anything is read.
 */
import { writeFile } from 'node:fs/promises';
import { delimiter, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { directorySource, requireCandidates } from '../backups/directory-source.ts';
import { parseBackupPattern } from '../backups/naming.ts';
import { SETTINGS } from '../config.ts';
import { ConfigError, DrillError } from '../errors.ts';
import { hostExecutor } from '../exec/host.ts';
import type { Logger } from '../log.ts';
import { findPgBinDir } from '../pg/binaries.ts';
import { connectionFromUrl, describeConnection } from '../pg/connection.ts';
import { SESSION_OPTIONS } from '../pg/databases.ts';
import { parseExpectations } from './expectations.ts';
import { formatExpectations, RecordError, type RecordedExpectations, type RecordOptions } from './record.ts';
import { recordFromBackup } from './record-backup.ts';
import { recordFromServer } from './record-server.ts';

const OPTIONS = {
  out: { arg: 'FILE', help: 'the expectations file to write (required)' },
  all: { arg: undefined, help: 'every database, not only the canary' },
  'database-url': {
    arg: 'URL',
    help: 'record from this live server, read-only (default: DATABASE_URL, then PGHOST & co.)',
  },
  backups: {
    arg: 'DIR',
    help: 'record from the newest backup in DIR instead (its COPY data; nothing is restored)',
  },
  canary: {
    arg: 'DB',
    help: `the canary database (default ${SETTINGS.canary.default}; DRILL_CANARY); none: no canary (with --all)`,
  },
  'source-time-zone': {
    arg: 'ZONE',
    help: `TimeZone timestamptz values are read in (default ${SETTINGS['source-time-zone'].default}; DRILL_SOURCE_TIME_ZONE): the drill's --source-time-zone`,
  },
  'backup-pattern': {
    arg: 'PATTERN',
    help: `as the drill's (default ${SETTINGS['backup-pattern'].default})`,
  },
  'timestamp-format': {
    arg: 'FORMAT',
    help: `as the drill's (default ${SETTINGS['timestamp-format'].default})`,
  },
  'pg-bindir': {
    arg: 'DIR',
    help: 'PostgreSQL bin directory holding psql (as the drill finds it by default)',
  },
  help: { arg: undefined, help: 'print this help' },
} as const;

function helpText(): string {
  const lines = [
    'Usage: pg-restore-drill record [--all] [--database-url URL | --backups DIR] --out FILE',
    '',
    'Writes an expectations file (docs/expectations.md) for `--expect`: per table of the canary (with --all,',
    'of every database) its row count and content digest, the canary rows and keys, the discovered contract.',
    'Read-only: a live server is read in read-only transactions; a backup is only read.',
    '',
  ];
  for (const [name, o] of Object.entries(OPTIONS))
    lines.push(`  --${name}${o.arg ? ` ${o.arg}` : ''}`.padEnd(30) + o.help);
  return lines.join('\n');
}

type Values = Record<string, string | boolean | undefined>;
type Text = (name: keyof typeof OPTIONS, envName?: string) => string | undefined;
type RecordDeps = { out: NodeJS.WritableStream; log: Logger; now: () => Date };

/** record's own flags, strictly (an unknown flag is bad usage). */
function parseRecordArgs(argv: readonly string[]): Values {
  try {
    return parseArgs({
      args: [...argv],
      options: Object.fromEntries(
        Object.entries(OPTIONS).map(([n, o]) => [
          n,
          { type: o.arg ? ('string' as const) : ('boolean' as const) },
        ]),
      ),
      strict: true,
      allowPositionals: false,
    }).values as Values;
  } catch (error) {
    throw new ConfigError('argv', `${(error as Error).message}. See pg-restore-drill record --help.`);
  }
}

/** Records from the newest backup of --backups, never restoring it. */
async function fromBackups(
  backups: string,
  text: Text,
  cwd: string,
  deps: RecordDeps,
  options: RecordOptions,
) {
  const naming = parseBackupPattern(
    text('backup-pattern', 'DRILL_BACKUP_PATTERN') ?? SETTINGS['backup-pattern'].default,
    text('timestamp-format', 'DRILL_TIMESTAMP_FORMAT') ?? SETTINGS['timestamp-format'].default,
  );
  const source = directorySource(resolve(cwd, backups), naming);
  const backup = requireCandidates(await source.discover(), naming);
  deps.log.info(`recording from ${backup.name}`);
  return recordFromBackup(source, backup, options);
}

/** Records from a live server, read-only (psql's sessions too). */
async function fromServer(
  url: string | undefined,
  text: Text,
  env: NodeJS.ProcessEnv,
  cwd: string,
  deps: RecordDeps,
  options: RecordOptions,
): Promise<RecordedExpectations> {
  const connection = connectionFromUrl(url, env);
  const pgBinDir = text('pg-bindir', 'DRILL_PG_BINDIR');
  const { binDir } = await findPgBinDir({
    ...(pgBinDir ? { explicit: resolve(cwd, pgBinDir) } : {}),
    path: env.PATH ?? '',
    versionRoots: (env.DRILL_PG_SEARCH_ROOTS ?? SETTINGS['pg-search-roots'].default).split(delimiter),
    tools: ['psql'],
  });
  deps.log.info(`recording from ${describeConnection(connection)}, read-only`);
  // psql's sessions are read-only too: nothing of the recording can write to the server.
  const executor = hostExecutor(binDir, connection, env, {
    PGOPTIONS: `${SESSION_OPTIONS} -c default_transaction_read_only=on`,
  });
  try {
    return await recordFromServer(connection, executor, options);
  } catch (error) {
    if (error instanceof DrillError) throw error;
    // A connection refused, a password rejected: said once, without a stack trace.
    throw new RecordError(
      `cannot record from ${describeConnection(connection)}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/** Runs `record`; returns the exit status. Errors (bad usage: ConfigError) are the caller's to report. */
export async function runRecord(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  deps: RecordDeps,
): Promise<number> {
  const values = parseRecordArgs(argv);
  if (values.help) {
    deps.out.write(`${helpText()}\n`);
    return 0;
  }
  const text: Text = (name, envName) =>
    (values[name] as string | undefined) ?? (envName && env[envName] ? env[envName] : undefined);
  const outArg = text('out');
  if (!outArg) throw new ConfigError('out', 'record needs --out FILE: where to write the expectations.');
  const out = resolve(cwd, outArg);
  const backups = text('backups');
  const url = text('database-url', 'DATABASE_URL');
  if (backups && values['database-url'])
    throw new ConfigError('backups', 'Give record either --backups DIR or --database-url URL, not both.');
  const options = {
    canary: text('canary', 'DRILL_CANARY') ?? SETTINGS.canary.default,
    all: values.all === true,
    timeZone: text('source-time-zone', 'DRILL_SOURCE_TIME_ZONE') ?? SETTINGS['source-time-zone'].default,
    now: deps.now(),
  };
  const recorded = backups
    ? await fromBackups(backups, text, cwd, deps, options)
    : await fromServer(url, text, env, cwd, deps, options);
  const yaml = formatExpectations(recorded);
  // What record writes, the drill must accept: validated before it reaches the file.
  parseExpectations(yaml, out);
  await writeFile(out, yaml, { mode: 0o644 });
  const tables = Object.values(recorded.databases).reduce((n, d) => n + Object.keys(d.tables).length, 0);
  deps.out.write(
    `pg-restore-drill record: ${tables} table(s) in ${Object.keys(recorded.databases).length} database(s) from ${recorded.recordedFrom} written to ${out}\n`,
  );
  return 0;
}
