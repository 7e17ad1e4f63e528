import { join } from 'node:path';
import { psql } from '../cluster.ts';
import { type LiveServer, startLiveServer } from '../live-server.ts';
import { type CorpusCase, type CorpusGroup, flags, honestCase } from './case.ts';
import {
  copyRewritingTrigger,
  DUMP_VARIANTS,
  type DumpVariant,
  pgDumpall,
  swallowInsertsRule,
  writeCorpusBackup,
} from './dumps.ts';
import {
  APP_DATABASE,
  appDatabaseSql,
  applyQuirks,
  buildSourceCluster,
  type CatalogTable,
  catalogTables,
  OPERATOR_CANARY,
  operatorCanarySql,
} from './source-cluster.ts';

// The corpus groups that vary what the source cluster holds and how it is dumped (see case.ts).

/**
 * The operator-shaped cluster (own canary columns, mixed-type app database) in the three INSERT
 * formats, each honest; a --inserts dump whose rule swallows one table's rows; a COPY dump whose
 * trigger rewrites one table's rows while they load.
 */
export async function insertFormatGroup(root: string): Promise<CorpusGroup & { tables: CatalogTable[] }> {
  const source = await buildSourceCluster();
  try {
    const tables = await catalogTables(source.handle);
    const cases: CorpusCase[] = [];
    for (const variant of ['inserts', 'column-inserts', 'rows-per-insert'] as const) {
      const sql = await pgDumpall(source.handle, DUMP_VARIANTS[variant]);
      cases.push(await honestCase(root, variant, `honest pg_dumpall ${flags(variant)}`, tables)(sql));
    }
    const inserts = await pgDumpall(source.handle, DUMP_VARIANTS.inserts);
    cases.push({
      name: 'rule-swallows-inserts',
      description:
        "pg_dumpall --inserts with a rule, created before public.loose's data, that swallows its INSERTs",
      backups: await writeCorpusBackup(
        root,
        'rule-swallows-inserts',
        swallowInsertsRule(inserts, 'public', 'loose'),
      ),
      args: [],
      env: {},
      verdict: 'failed',
      cause: { words: ['public.loose'], phase: 'verify' },
    });
    const copy = await pgDumpall(source.handle);
    cases.push({
      name: 'trigger-rewrites-copy',
      description:
        "pg_dumpall with a BEFORE INSERT trigger, created before app.events's COPY, that rewrites its rows",
      backups: await writeCorpusBackup(
        root,
        'trigger-rewrites-copy',
        copyRewritingTrigger(copy, 'app', 'events', 'note'),
      ),
      args: [],
      env: {},
      verdict: 'failed',
      cause: { words: ['app.events'], phase: 'verify' },
    });
    return { cases, tables, cleanup: async () => {} };
  } finally {
    await source.stop();
  }
}

/**
 * The cluster with the session quirks (reg* columns, `ALTER DATABASE app SET timezone`, the
 * superuser's own search_path) as the CronJob dumps it, with --quote-all-identifiers, --inserts,
 * --clean and --clean --if-exists: every one honest. `dump` is the plain one's text, `searchPath` what
 * the source's superuser sessions resolve names with.
 */
export async function sessionQuirkGroup(
  root: string,
): Promise<CorpusGroup & { tables: CatalogTable[]; dumps: Map<DumpVariant, string>; searchPath: string }> {
  const source = await buildSourceCluster({ quirks: true });
  try {
    const tables = await catalogTables(source.handle);
    const searchPath = (await psql(source.handle, OPERATOR_CANARY.database, 'SHOW search_path')).trim();
    const dumps = new Map<DumpVariant, string>();
    const cases: CorpusCase[] = [];
    const listed: Partial<Record<DumpVariant, string[]>> = {
      clean: ['DROP ROLE postgres', `DROP DATABASE ${APP_DATABASE}`],
      'clean-if-exists': ['DROP ROLE IF EXISTS postgres'],
    };
    for (const variant of ['copy', 'quote-all-identifiers', 'inserts', 'clean', 'clean-if-exists'] as const) {
      const sql = await pgDumpall(source.handle, DUMP_VARIANTS[variant]);
      dumps.set(variant, sql);
      const extra = listed[variant] ? { listed: listed[variant] } : {};
      cases.push(
        await honestCase(
          root,
          `quirks-${variant}`,
          `honest pg_dumpall ${flags(variant)} of the quirks cluster`,
          tables,
          extra,
        )(sql),
      );
    }
    return { cases, tables, dumps, searchPath, cleanup: async () => {} };
  } finally {
    await source.stop();
  }
}

/** The `record` step of the expectations group: writes the expectations file from the source. */
export type Recorder = (
  out: string,
  env: NodeJS.ProcessEnv,
) => Promise<{ code: number | null; stdout: string; stderr: string }>;

/**
 * Expectations recorded once from the honest source (`record`), then three backups drilled with
 * `--expect`: the honest one (PASS); one whose canary transaction 4 reads 1000000.00 instead of -20.00
 * (FAIL naming the table, the key and both values); one whose transaction 5 moved from bob to charlie.
 */
export async function expectationsGroup(
  root: string,
  record: Recorder,
): Promise<
  CorpusGroup & { expectFile: string; recorded: Awaited<ReturnType<Recorder>>; tables: CatalogTable[] }
> {
  const { database: canary, transactions: tx } = OPERATOR_CANARY;
  const source = await buildSourceCluster();
  try {
    const tables = await catalogTables(source.handle);
    const expectFile = join(root, 'expectations.yaml');
    const recorded = await record(expectFile, source.cliEnv);
    const args = ['--expect', expectFile];
    const cases: CorpusCase[] = [];
    cases.push(
      await honestCase(
        root,
        'expect-honest',
        'honest pg_dumpall drilled against its recorded expectations',
        tables,
        {
          args,
        },
      )(await pgDumpall(source.handle)),
    );
    await psql(
      source.handle,
      canary,
      `UPDATE ${tx.table} SET ${tx.amountColumn} = 1000000.00 WHERE ${tx.key} = 4`,
    );
    cases.push({
      name: 'expect-amount-changed',
      description:
        'pg_dumpall after canary transaction 4 changed from -20.00 to 1000000.00, against the expectations',
      backups: await writeCorpusBackup(root, 'expect-amount-changed', await pgDumpall(source.handle)),
      args,
      env: {},
      verdict: 'failed',
      cause: {
        words: ['transactions', tx.key, '4', tx.amountColumn, '-20.00', '1000000.00'],
        phase: 'verify',
      },
    });
    await psql(
      source.handle,
      canary,
      `UPDATE ${tx.table} SET ${tx.amountColumn} = -20.00 WHERE ${tx.key} = 4`,
    );
    await psql(
      source.handle,
      canary,
      `UPDATE ${tx.table} SET ${tx.userColumn} = (SELECT uid FROM ${OPERATOR_CANARY.users.table} WHERE login = 'charlie') WHERE ${tx.key} = 5`,
    );
    cases.push({
      name: 'expect-transaction-moved',
      description:
        'pg_dumpall after canary transaction 5 moved from bob to charlie, against the expectations',
      backups: await writeCorpusBackup(root, 'expect-transaction-moved', await pgDumpall(source.handle)),
      args,
      env: {},
      verdict: 'failed',
      cause: { words: ['transactions', tx.key, '5', tx.userColumn], phase: 'verify' },
    });
    return { cases, expectFile, recorded, tables, cleanup: async () => {} };
  } finally {
    await source.stop();
  }
}

/**
 * Canary modes on a live server (not scratch, not started by the drill) whose canary has the operator's
 * own columns and whose superuser has its own search_path (the quirks): its own pg_dumpall, drilled
 * `--target url --mode canary` and `--mode canary-copy` (canary verification). `logins()` reads the
 * live canary's users, to show it is whole after each drill. The server runs until cleanup.
 */
export async function liveCanaryGroup(
  root: string,
): Promise<CorpusGroup & { live: LiveServer; logins(): Promise<string[]> }> {
  const live = await startLiveServer();
  try {
    await psql(live.handle, 'postgres', `CREATE DATABASE ${OPERATOR_CANARY.database}`);
    await psql(live.handle, OPERATOR_CANARY.database, operatorCanarySql());
    await psql(live.handle, 'postgres', `CREATE DATABASE ${APP_DATABASE}`);
    await psql(live.handle, APP_DATABASE, appDatabaseSql());
    await applyQuirks(live.handle);
    const dump = await pgDumpall(live.handle);
    const cases: CorpusCase[] = [];
    for (const mode of ['canary', 'canary-copy'] as const) {
      const name = `live-${mode}`;
      cases.push({
        name,
        description: `the live server's own pg_dumpall, drilled --mode ${mode} on it`,
        backups: await writeCorpusBackup(root, name, dump),
        args: ['--target', 'url', '--mode', mode, '--verify', 'canary'],
        env: live.cliEnv,
        verdict: 'passed',
      });
    }
    const logins = async () =>
      (
        await psql(
          live.handle,
          OPERATOR_CANARY.database,
          `SELECT ${OPERATOR_CANARY.users.nameColumn} FROM ${OPERATOR_CANARY.users.table} ORDER BY 1`,
        )
      )
        .split('\n')
        .filter(Boolean);
    return { cases, live, logins, cleanup: () => live.stop() };
  } catch (error) {
    await live.stop();
    throw error;
  }
}
