import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { executorFor } from '../../../lib/targets/attach.ts';
import type { TargetHandle } from '../../../lib/targets/target.ts';
import { writeBackup } from '../cluster.ts';

// Real pg_dumpall output of a source cluster, in the variants real backup jobs use, written as the
// CronJob names its files; and the tampering a test applies to one, each in front of the real tools.

/** The pg_dumpall option sets of the corpus: each is a variant real backup jobs use. */
export const DUMP_VARIANTS = {
  copy: [],
  inserts: ['--inserts'],
  'column-inserts': ['--column-inserts'],
  'rows-per-insert': ['--rows-per-insert=2'],
  clean: ['--clean'],
  'clean-if-exists': ['--clean', '--if-exists'],
  'quote-all-identifiers': ['--quote-all-identifiers'],
} as const satisfies Record<string, readonly string[]>;

export type DumpVariant = keyof typeof DUMP_VARIANTS;

/** The cluster's pg_dumpall with the given options, as text (the corpus is UTF-8 throughout). */
export async function pgDumpall(handle: TargetHandle, options: readonly string[] = []): Promise<string> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  const executor = await executorFor(handle, process.env);
  const result = await executor.run('pg_dumpall', ['-w', ...options], { stdout: sink });
  if (result.exitCode !== 0) throw new Error(`pg_dumpall ${options.join(' ')} failed: ${result.stderr}`);
  return Buffer.concat(chunks).toString('utf8');
}

/** The time in the CronJob's file name (postgres-backup-YYYY-MM-DD-HHMMSS.sql.gz), UTC. */
export const BACKUP_STAMP = '2026-11-30-030000';

/**
 * Writes the SQL as the only backup of a fresh directory `root/name` (gzip, the CronJob's file name);
 * returns the directory, to pass as `--backups`.
 */
export async function writeCorpusBackup(root: string, name: string, sql: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeBackup(dir, BACKUP_STAMP, sql);
  return dir;
}

/** The banner pg_dump writes before one table's data, whether COPY or INSERTs. */
export function dataBanner(schema: string, table: string): string {
  return `-- Data for Name: ${table}; Type: TABLE DATA; Schema: ${schema}; Owner: `;
}

/**
 * The dump with `sql` inserted just before the comment block that opens one table's data (the `--`
 * line above pg_dump's `-- Data for Name: …` banner). Fails unless that banner occurs exactly once.
 */
export function insertBeforeData(dump: string, schema: string, table: string, sql: string): string {
  const banner = dataBanner(schema, table);
  const at = dump.indexOf(banner);
  if (at < 0 || dump.indexOf(banner, at + 1) >= 0) {
    throw new Error(`the dump has no single data banner for ${schema}.${table}`);
  }
  const opening = dump.lastIndexOf('--\n', at - 1);
  return `${dump.slice(0, opening)}${sql}\n\n${dump.slice(opening)}`;
}

/** Tamper (a): a rule that silently swallows every INSERT into the table (the restore "succeeds"). */
export function swallowInsertsRule(dump: string, schema: string, table: string): string {
  if (!dump.includes(`INSERT INTO ${schema}.${table} `)) {
    throw new Error(`${schema}.${table} has no INSERT data in this dump: use an --inserts variant`);
  }
  return insertBeforeData(
    dump,
    schema,
    table,
    `CREATE RULE corpus_swallow AS ON INSERT TO ${schema}.${table} DO INSTEAD NOTHING;`,
  );
}

/**
 * Tamper (b): a BEFORE INSERT trigger, created before the table's COPY, that rewrites one text column
 * of every row as it is loaded (COPY fires row triggers). pg_dump itself creates triggers after the data.
 */
export function copyRewritingTrigger(dump: string, schema: string, table: string, column: string): string {
  if (!dump.includes(`COPY ${schema}.${table} (`)) {
    throw new Error(`${schema}.${table} has no COPY data in this dump: use a COPY variant`);
  }
  return insertBeforeData(
    dump,
    schema,
    table,
    [
      `CREATE FUNCTION public.corpus_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$`,
      `BEGIN NEW.${column} := pg_catalog.upper(NEW.${column}); RETURN NEW; END $$;`,
      `CREATE TRIGGER corpus_rewrite BEFORE INSERT ON ${schema}.${table} FOR EACH ROW EXECUTE FUNCTION public.corpus_rewrite();`,
    ].join('\n'),
  );
}

/** The SQL of the one backup in a corpus case's directory (gunzipped). */
export async function readCorpusBackup(dir: string): Promise<string> {
  const files = (await readdir(dir)).filter((name) => name.endsWith('.sql.gz'));
  if (files.length !== 1) throw new Error(`${dir} holds ${files.length} backups, not one`);
  return gunzipSync(await readFile(join(dir, files[0] as string))).toString('utf8');
}
