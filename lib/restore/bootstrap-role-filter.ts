import type { Transform } from 'node:stream';
import { IDENT_PATTERN, unquoteIdent } from '../dump/sql-ident.ts';
import { inPlaceStatement, parseCreateTablespace, type TablespaceRemap } from '../dump/tablespace-remap.ts';
import { DrillError } from '../errors.ts';
import {
  type DropStatement,
  type ExpectedDrop,
  expectedDropReason,
  parseDrop,
  type ServerObjects,
} from './clean-statements.ts';
import { type LineRewriter, lineFilter, type SeenLine } from './line-filter.ts';

/** A statement the filter turned into a comment, with the dump line it stood on. */
export interface SkippedStatement {
  line: number;
  statement: string;
}

/** How a role name appears in a dump: bare when lower-case identifier, else double-quoted. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

/** What the globals filter is to do besides skipping the bootstrap role's CREATE and ALTER. */
export interface GlobalsFilterOptions {
  /** The role the drill connects as. */
  bootstrapRole: string;
  /**
   * What the server holds when the restore starts: a `--clean` dump's DROPs of objects it lacks (and
   * the DROP of the bootstrap role, always) are commented out and listed. Undefined: DROPs run as
   * written, except the bootstrap role's, which can never succeed.
   */
  existing?: ServerObjects;
  /** Make every `CREATE TABLESPACE … LOCATION` in place (whole-cluster restores; see tablespace-remap). */
  remapTablespaces?: boolean;
  /**
   * A database the drill holds a session in during the restore (its lock on a `--target url --scratch`
   * server): a `--clean` dump's `DROP DATABASE` of it would fail (55006, in use), so its DROP and CREATE
   * are commented out and listed, and its objects restore into it as they do from a dump without
   * --clean. The lexer then reads the whole dump (it must know where COPY data is), chunk by chunk;
   * bytes are copied only around a rewritten line (see line-filter.ts).
   */
  keepDatabase?: string;
}

/** What the globals filter changed, line by line, for the report. */
export interface GlobalsChanges {
  skipped: SkippedStatement[];
  drops: ExpectedDrop[];
  tablespaces: TablespaceRemap[];
}

/** A CREATE TABLESPACE the filter cannot rewrite: replaying it as written could write outside. */
export class TablespaceNotRemappableError extends DrillError {
  static override readonly code = 'DRILL_TABLESPACE_NOT_REMAPPABLE';
  readonly line: number;
  constructor(line: number, statement: string) {
    super(
      `Line ${line} creates a tablespace in a form the drill cannot remap in place (\`${statement.length > 120 ? `${statement.slice(0, 119)}…` : statement}\`); replayed as written it would write outside the throwaway server's directory, so the restore was not started.`,
    );
    this.line = line;
  }
}

/** Comments out the bootstrap role's CREATE and ALTER (see globalsFilter); nothing else. */
export function bootstrapRoleFilter(role: string, skipped: SkippedStatement[]): Transform {
  return globalsFilter({ bootstrapRole: role }, { skipped, drops: [], tablespaces: [] });
}

/**
 * Rewrites the globals part of a pg_dumpall (everything before the first `\connect`) for the server it
 * replays into, and records every change in `changes`:
 * - the bootstrap role's `CREATE ROLE x;` and `ALTER ROLE x WITH … PASSWORD …` are commented out: on a
 *   fresh server that role already exists (so the CREATE fails, and under ON_ERROR_STOP stops the
 *   restore), and replaying its ALTER would swap the password the drill connects with for the backup's;
 * - a `--clean` dump's DROP of the bootstrap role (never possible) and, given `existing`, its DROPs of
 *   roles, databases and tablespaces the server does not have, are commented out;
 * - with `remapTablespaces`, each `CREATE TABLESPACE … LOCATION '/path'` is made in place.
 * - with `keepDatabase`, that database's DROP and CREATE DATABASE in its section are commented out.
 * Every other statement stays, so every other error is a real one.
 *
 * Lines are replaced, never removed, so psql's line numbers still point into the backup file. Each
 * globals line goes through the dump lexer, so a line inside a multi-line string (a role's COMMENT)
 * is never taken for a statement. The globals part ends at the first `\connect`, before any COPY data,
 * and from there bytes pass through untouched (with `keepDatabase`, as they came, see line-filter.ts).
 */
export function globalsFilter(options: GlobalsFilterOptions, changes: GlobalsChanges): Transform {
  const seen: SeenLine = { kind: 'sql', startsStatement: false, openAfter: false };
  return lineFilter(seen, {
    globals: globalsRewriter(options, changes, seen),
    sections:
      options.keepDatabase === undefined ? undefined : keptDatabaseRewriter(options.keepDatabase, changes),
  });
}

/** The globals part's rewrites: the bootstrap role's CREATE and ALTER, expected DROPs, tablespaces. */
function globalsRewriter(
  options: GlobalsFilterOptions,
  changes: GlobalsChanges,
  seen: SeenLine,
): LineRewriter {
  const role = options.bootstrapRole;
  const ident = quoteIdent(role);
  // pg_dump also quotes plain names that are keywords (`"user"`): accept either spelling.
  const spellings = [...new Set([ident, `"${role.replaceAll('"', '""')}"`])];
  const creates = spellings.map((s) => `CREATE ROLE ${s};`);
  const alters = spellings.map((s) => `ALTER ROLE ${s} WITH `);
  // Without what the server holds, only the bootstrap role's DROP is known to be hopeless.
  const existing = options.existing;
  const dropReason = (drop: DropStatement) =>
    existing
      ? expectedDropReason(drop, existing, role)
      : drop.kind === 'ROLE' && drop.name === role
        ? expectedDropReason(drop, { roles: [role], databases: [], tablespaces: [] }, role)
        : undefined;
  return (current, line) => {
    if (seen.kind !== 'sql' || !seen.startsStatement) return undefined;
    const alter = alters.find((prefix) => current.startsWith(prefix));
    if (alter || creates.includes(current)) {
      const verb = alter ? 'ALTER' : 'CREATE';
      changes.skipped.push({ line, statement: alter ? `${alter}…` : current });
      return `-- pg-restore-drill: skipped the bootstrap role's ${verb} ROLE ${ident}`;
    }
    if (seen.openAfter) return undefined;
    if (current.startsWith('DROP ')) {
      const drop = parseDrop(current);
      const reason = drop && dropReason(drop);
      if (!reason) return undefined;
      changes.drops.push({ line, statement: current, reason });
      return `-- pg-restore-drill: expected DROP commented out (${reason})`;
    }
    if (options.remapTablespaces && current.startsWith('CREATE TABLESPACE ')) {
      const create = parseCreateTablespace(current);
      if (!create) throw new TablespaceNotRemappableError(line, current);
      changes.tablespaces.push({ line, name: unquoteIdent(create.ident), original: create.location });
      return inPlaceStatement(create);
    }
    return undefined;
  };
}

/** In the sections: the kept database's DROP and CREATE become comments; the rest stays. */
function keptDatabaseRewriter(keep: string, changes: GlobalsChanges): LineRewriter {
  const createKept = new RegExp(`^CREATE DATABASE (${IDENT_PATTERN}) `);
  return (current, line) => {
    const drop = parseDrop(current);
    const create = drop ? undefined : createKept.exec(current)?.[1];
    const name = drop?.kind === 'DATABASE' ? drop.name : create && unquoteIdent(create);
    if (name !== keep) return undefined;
    const reason = `the database the drill holds its session in: kept, and restored into as from a dump without --clean`;
    changes.drops.push({
      line,
      statement: current.length > 160 ? `${current.slice(0, 159)}…` : current,
      reason,
    });
    return `-- pg-restore-drill: ${drop ? 'DROP' : 'CREATE'} DATABASE of the drill's own session database commented out`;
  };
}
