import type { DumpNeed, DumpRequirements } from '../dump/dump-requirements.ts';
import { parseCreateTablespace } from '../dump/tablespace-remap.ts';
import { TablespaceMissingError } from '../errors.ts';

/** Tablespaces every server has. */
const BUILT_IN = new Set(['pg_default', 'pg_global']);

/** What the target offers for tablespaces. */
export interface TargetTablespaces {
  /** pg_tablespace's names. */
  existing: string[];
  /** The server knows allow_in_place_tablespaces (15+, and the 10–14 minors of August 2022 on). */
  inPlace: boolean;
}

/** What the check decided and compared, for the step's facts. */
export interface TablespacesChecked {
  /** The dump's CREATE TABLESPACEs, to be made in place (whole-cluster restores only). */
  remapped: { name: string; line: number }[];
  /** Tablespaces the restored part uses, each of which the target has or the dump makes. */
  used: string[];
}

/**
 * Before anything is written: can the target hold the tablespaces the restored part needs?
 * - A whole cluster (`scope.cluster`): each `CREATE TABLESPACE` of the dump will be made in place
 *   (never at the source's LOCATION), which needs allow_in_place_tablespaces and a statement in the
 *   form pg_dumpall writes; anything else it uses must exist on the target.
 * - One database's section (canary modes, a live or scratch server): every tablespace the section uses
 *   (`SET default_tablespace`, `CREATE DATABASE … TABLESPACE =`) must already exist there; the drill
 *   never creates one on a server it did not start.
 */
export function checkTablespaces(
  file: string,
  requirements: DumpRequirements,
  scope: { cluster: true } | { cluster: false; database: string },
  target: TargetTablespaces & { description: string },
): TablespacesChecked {
  const inScope = (need: DumpNeed) => scope.cluster || need.database === scope.database;
  const created = scope.cluster ? requirements.tablespacesCreated : [];
  if (created.length > 0) {
    const odd = created.find((c) => !parseCreateTablespace(c.statement));
    if (odd) {
      throw new TablespaceMissingError(
        file,
        [odd.name],
        `${file} line ${odd.line} creates tablespace ${odd.name} in a form the drill cannot remap (\`${odd.statement}\`); replayed as written it would write to a directory outside the throwaway server, so the restore was not started.`,
      );
    }
    if (!target.inPlace) {
      throw new TablespaceMissingError(
        file,
        created.map((c) => c.name),
        `${file} creates tablespace(s) ${created.map((c) => `${c.name} (line ${c.line})`).join(', ')}, and ${target.description} lacks allow_in_place_tablespaces, so the drill cannot keep them inside the server's own directory; replayed as written they would write to the source's paths. Restore into PostgreSQL 15 or newer (or a minor release from August 2022 on).`,
      );
    }
  }
  const have = new Set([...BUILT_IN, ...target.existing, ...created.map((c) => c.name)]);
  const uses = requirements.tablespacesUsed.filter(inScope);
  const missing = [...new Set(uses.filter((u) => !have.has(u.name)).map((u) => u.name))];
  if (missing.length > 0) {
    const each = missing.map((name) => {
      const first = uses.find((u) => u.name === name) as DumpNeed;
      return `${name} (line ${first.line}: \`${first.statement}\`)`;
    });
    const what = scope.cluster ? 'the restore' : `the section of ${scope.database}`;
    throw new TablespaceMissingError(
      file,
      missing,
      `${what} needs tablespace(s) ${each.join(', ')}, which ${target.description} does not have, so nothing was written. Create ${missing.length > 1 ? 'them' : 'it'} on the server first (CREATE TABLESPACE ${missing[0]} LOCATION '<an empty directory the server owns>'), or drill the whole cluster into a throwaway server (--mode cluster --target local or container), where the drill makes every tablespace the dump creates inside the server's own directory.`,
    );
  }
  return {
    remapped: created.map((c) => ({ name: c.name, line: c.line })),
    used: [...new Set(uses.map((u) => u.name))],
  };
}
