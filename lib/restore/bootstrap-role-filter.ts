import { Transform, type TransformCallback } from 'node:stream';
import { createDumpLexer, type LineKind } from '../dump/dump-lexer.ts';
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
   * --clean. This reads the whole dump through the lexer (not only the globals part).
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
 * and from there bytes pass through untouched.
 */
export function globalsFilter(options: GlobalsFilterOptions, changes: GlobalsChanges): Transform {
  const seen: SeenLine = { kind: 'sql', startsStatement: false, openAfter: false };
  const lexer = createDumpLexer({
    line(l) {
      seen.kind = l.kind;
      seen.startsStatement = l.startsStatement;
      seen.openAfter = l.openAfter;
    },
  });
  return lineFilter(lexer, seen, {
    globals: globalsRewriter(options, changes, seen),
    sections:
      options.keepDatabase === undefined ? undefined : keptDatabaseRewriter(options.keepDatabase, changes),
  });
}

/** What the dump lexer said of the line just written to it. */
interface SeenLine {
  kind: LineKind;
  startsStatement: boolean;
  openAfter: boolean;
}

/** The replacement for a line, or undefined to keep it. */
type LineRewriter = (current: string, line: number) => string | undefined;

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

/** Where the filter is in the dump, and the number of the line it is at. */
interface FilterState {
  phase: 'globals' | 'sections' | 'through';
  line: number;
}

/** The rewrites the filter applies: always the globals', and the kept database's in the sections. */
interface Rewriters {
  globals: LineRewriter;
  sections: LineRewriter | undefined;
}

/**
 * The replacement for the line at data[start, end), or undefined to keep it. The first `\connect`
 * moves the phase on: to the sections when a database is kept, else through.
 */
function replacementOf(
  state: FilterState,
  seen: SeenLine,
  rewriters: Rewriters,
  data: Buffer,
  start: number,
  end: number,
): string | undefined {
  if (state.phase === 'globals') {
    const current = data.toString('utf8', start, end);
    if (seen.kind === 'meta' && current.startsWith('\\connect ')) {
      state.phase = rewriters.sections === undefined ? 'through' : 'sections';
      return undefined;
    }
    return rewriters.globals(current, state.line);
  }
  if (
    rewriters.sections &&
    seen.kind === 'sql' &&
    seen.startsStatement &&
    !seen.openAfter &&
    (data[start] === 68 || data[start] === 67) // D(ROP), C(REATE)
  ) {
    return rewriters.sections(data.toString('utf8', start, end), state.line);
  }
  return undefined;
}

/**
 * The stream: each line goes through the lexer and, in the globals part, through `globals`; from the
 * first `\connect` on, through `sections` when a database is kept, else bytes pass through untouched.
 */
function lineFilter(
  lexer: ReturnType<typeof createDumpLexer>,
  seen: SeenLine,
  rewriters: Rewriters,
): Transform {
  const state: FilterState = { phase: 'globals', line: 0 };
  let partial: Buffer = Buffer.alloc(0);
  // Split on the newline byte: it never occurs inside a multi-byte UTF-8 character, so a line's bytes
  // are handed on exactly as read.
  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      if (state.phase === 'through') {
        done(null, chunk);
        return;
      }
      const data = partial.length ? Buffer.concat([partial, chunk]) : chunk;
      const out: Buffer[] = [];
      let start = 0;
      try {
        for (let end = data.indexOf(10, start); end >= 0; end = data.indexOf(10, start)) {
          state.line++;
          lexer.write(data.subarray(start, end + 1));
          const replacement = replacementOf(state, seen, rewriters, data, start, end);
          // replacementOf moves the phase on at the first `\connect` (the cast undoes the narrowing above).
          if ((state.phase as FilterState['phase']) === 'through') {
            // Globals end here; the rest passes through untouched.
            out.push(data.subarray(start));
            partial = Buffer.alloc(0);
            done(null, Buffer.concat(out));
            return;
          }
          out.push(
            replacement === undefined ? data.subarray(start, end + 1) : Buffer.from(`${replacement}\n`),
          );
          start = end + 1;
        }
      } catch (error) {
        done(error as Error);
        return;
      }
      partial = Buffer.from(data.subarray(start));
      done(null, Buffer.concat(out));
    },
    flush(done: TransformCallback) {
      done(null, partial);
    },
  });
}
