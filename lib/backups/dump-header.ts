/** What a plain dump says about itself in its first lines and its last. */
import { type PgVersion, parseVersion } from '../pg/version.ts';

export type DumpKind = 'pg_dumpall' | 'pg_dump';

/** The banner each kind of plain dump opens with, and the trailer it closes with when complete. */
export const DUMP_KINDS: Record<DumpKind, { banner: string; trailer: string }> = {
  pg_dumpall: {
    banner: '-- PostgreSQL database cluster dump',
    trailer: '-- PostgreSQL database cluster dump complete',
  },
  pg_dump: {
    banner: '-- PostgreSQL database dump',
    trailer: '-- PostgreSQL database dump complete',
  },
};

/** Which kind of plain dump the first non-blank lines announce, if any. */
export function detectKind(head: string): DumpKind | undefined {
  for (const raw of head.split('\n', 20)) {
    const line = raw.trimEnd();
    if (line === '' || line === '--') continue;
    if (line === DUMP_KINDS.pg_dumpall.banner) return 'pg_dumpall';
    if (line === DUMP_KINDS.pg_dump.banner) return 'pg_dump';
    return undefined;
  }
  return undefined;
}

/** Reads `-- Dumped from database version X` / `-- Dumped by pg_dump version X` from a dump's head. */
export function readVersions(head: string): { from?: PgVersion; by?: PgVersion } {
  const from = /^-- Dumped from database version (\S+)/m.exec(head)?.[1];
  const by = /^-- Dumped by pg_dump version (\S+)/m.exec(head)?.[1];
  return { from: from ? parseVersion(from) : undefined, by: by ? parseVersion(by) : undefined };
}

/**
 * True when the tail holds the dump's trailer with nothing after it but blank lines, comment dashes and
 * `\unrestrict` lines (pg_dump ≥ 15.14 closes its restricted block after the trailer).
 */
export function endsWithTrailer(tail: string, kind: DumpKind): boolean {
  const lines = tail.split('\n').map((l) => l.trimEnd());
  let i = lines.length - 1;
  while (i >= 0 && (lines[i] === '' || lines[i] === '--' || /^\\unrestrict \S+$/.test(lines[i] ?? ''))) i--;
  return lines[i] === DUMP_KINDS[kind].trailer;
}

/** Releases whose psql understands `\restrict` (CVE-2025-8714 fixes); older ones fail on line 5. */
export function psqlKnowsRestrict(psql: PgVersion): boolean {
  const firstFixed: Record<number, number> = { 13: 22, 14: 19, 15: 14, 16: 10, 17: 6 };
  if (psql.major >= 18) return true;
  const fixed = firstFixed[psql.major];
  return fixed !== undefined && psql.minor >= fixed;
}
