import type { Phase } from '../../../lib/report/steps.ts';
import { DUMP_VARIANTS, type DumpVariant, writeCorpusBackup } from './dumps.ts';
import type { CatalogTable } from './source-cluster.ts';

// The corpus, as data: each case is one directory holding one real pg_dumpall backup (gzip, the
// CronJob's file name), the CLI arguments to drill it with, and the verdict the truth demands. Built in
// groups, one source cluster per group (each group is what one test file needs; `buildCorpus` builds
// them all, for a benchmark or an adversarial run). Drill a case with drill.ts's `drillCase`.

export interface CorpusCase {
  /** Unique within the corpus; the backup directory's name. */
  name: string;
  /** What the backup is, in a sentence. */
  description: string;
  /** `--backups DIR`: a directory holding this one backup. */
  backups: string;
  /** Further CLI arguments (`--expect FILE`, `--temp-dir DIR`, `--mode canary` …). */
  args: string[];
  /** Environment of the CLI run (a `--target url` case's DATABASE_URL and PGPASSWORD). */
  env: NodeJS.ProcessEnv;
  /** The true verdict. */
  verdict: 'passed' | 'failed';
  /** A passing deep drill: every table the dump carries, from the source's catalog (N = M of these). */
  tables?: CatalogTable[];
  /** A failing drill: the words its failed check must name (the cause), and the check's phase. */
  cause?: { words: string[]; phase: Phase };
  /** Statements an honest restore could not run that the report must list (scope 5). */
  listed?: string[];
  /** The verdict must come before the restore writes the server (precheck failures). */
  beforeRestore?: boolean;
}

export interface CorpusGroup {
  cases: CorpusCase[];
  /** Removes what the group built (backups stay until `root` is removed). */
  cleanup(): Promise<void>;
}

/**
 * The case names of each group, known before anything is built (a test declares one `it` per case at
 * collection time and builds the group in beforeAll).
 */
export const CASES = {
  insertFormats: {
    honest: ['inserts', 'column-inserts', 'rows-per-insert'],
    tampered: ['rule-swallows-inserts', 'trigger-rewrites-copy'],
  },
  sessionQuirks: {
    honest: ['quirks-copy', 'quirks-quote-all-identifiers', 'quirks-inserts'],
    clean: ['quirks-clean', 'quirks-clean-if-exists'],
  },
  expectations: {
    honest: ['expect-honest'],
    tampered: ['expect-amount-changed', 'expect-transaction-moved'],
  },
  liveCanary: { honest: ['live-canary', 'live-canary-copy'] },
  tablespaces: { honest: ['tablespaces'] },
  extension: { tampered: ['extension-missing'] },
} as const;

/** The case of that name (fails the test naming what the group holds if there is none). */
export function caseNamed(group: CorpusGroup, name: string): CorpusCase {
  const found = group.cases.find((c) => c.name === name);
  if (!found)
    throw new Error(`no corpus case ${name}; the group holds ${group.cases.map((c) => c.name).join(', ')}`);
  return found;
}

/** Writes `sql` as the case `name` and declares it honest: PASS, every table of `tables` verified. */
export function honestCase(
  root: string,
  name: string,
  description: string,
  tables: CatalogTable[],
  extra: Partial<CorpusCase> = {},
) {
  return async (sql: string): Promise<CorpusCase> => ({
    name,
    description,
    backups: await writeCorpusBackup(root, name, sql),
    args: [],
    env: {},
    verdict: 'passed',
    tables,
    ...extra,
  });
}

/** A dump variant's pg_dumpall options, for a case's description. */
export function flags(variant: DumpVariant): string {
  return DUMP_VARIANTS[variant].join(' ') || 'as the CronJob runs it';
}
