import { createDumpLexer, type DumpLexer } from './dump-lexer.ts';
import { IDENT_PATTERN, unquoteIdent } from './sql-ident.ts';

/** An extension, tablespace or other object a dump needs the target to have or to make. */
export interface DumpNeed {
  name: string;
  /** Dump line of the statement. */
  line: number;
  /** The pg_dumpall section (database banner) it stands in; undefined in the globals part or a pg_dump. */
  database: string | undefined;
  /** The statement's first line, shortened. */
  statement: string;
}

/** What a dump needs of the server it replays into, beyond its own SQL. */
export interface DumpRequirements {
  /** `CREATE EXTENSION`s: the server must offer each in pg_available_extensions. */
  extensions: DumpNeed[];
  /** `CREATE TABLESPACE`s of the globals part: each names a directory of the source's host. */
  tablespacesCreated: DumpNeed[];
  /** `SET default_tablespace = x`, `CREATE DATABASE … TABLESPACE = x`, `ALTER DATABASE … SET default_tablespace`. */
  tablespacesUsed: DumpNeed[];
}

const IDENT = IDENT_PATTERN;
const CREATE_EXTENSION = new RegExp(`^CREATE EXTENSION (?:IF NOT EXISTS )?(${IDENT})`);
const CREATE_TABLESPACE = new RegExp(`^CREATE TABLESPACE (${IDENT})`);
const DATABASE_TABLESPACE = new RegExp(`^CREATE DATABASE .* TABLESPACE = (${IDENT})`);
const SET_DEFAULT = new RegExp(`^SET default_tablespace = (${IDENT});`);
const ALTER_DEFAULT = /^ALTER DATABASE .* SET default_tablespace TO '((?:[^']|'')+)';/;

/**
 * Collects, while the dump streams past (the precheck reads it whole once anyway), what it needs of
 * the target: extensions, and tablespaces made or used. Only statement-starting SQL lines whose first
 * letter can begin one of these statements are decoded, so COPY data costs nothing beyond the lexer.
 */
export function dumpRequirements(): {
  write(chunk: Buffer): void;
  end(): void;
  readonly result: DumpRequirements;
} {
  const result: DumpRequirements = { extensions: [], tablespacesCreated: [], tablespacesUsed: [] };
  const need = (name: string, line: number, text: string): DumpNeed => ({
    name,
    line,
    database: lexer.section,
    statement: text.length > 160 ? `${text.slice(0, 159)}…` : text,
  });
  const lexer: DumpLexer = createDumpLexer({
    // Given, so that the lexer tracks the section banners (`lexer.section`).
    section() {},
    line(l) {
      if (l.kind !== 'sql' || !l.startsStatement) return;
      const first = l.bytes[l.start];
      // C(REATE), S(ET), A(LTER)
      if (first !== 67 && first !== 83 && first !== 65) return;
      const text = l.bytes.toString('utf8', l.start, l.end);
      const grab = (re: RegExp) => re.exec(text)?.[1];
      const add = (list: DumpNeed[], name: string | undefined, decode = unquoteIdent) => {
        if (name === undefined) return false;
        list.push(need(decode(name), l.number, text));
        return true;
      };
      if (first === 67) {
        add(result.extensions, grab(CREATE_EXTENSION)) ||
          add(result.tablespacesCreated, grab(CREATE_TABLESPACE)) ||
          add(result.tablespacesUsed, grab(DATABASE_TABLESPACE));
      } else if (first === 83) {
        add(result.tablespacesUsed, grab(SET_DEFAULT));
      } else {
        add(result.tablespacesUsed, grab(ALTER_DEFAULT), (n) => n.replaceAll("''", "'"));
      }
    },
  });
  return {
    write: (chunk) => lexer.write(chunk),
    end: () => lexer.end(),
    result,
  };
}

/** The names, once each, in the order first met. */
export function uniqueNames(needs: readonly DumpNeed[]): string[] {
  return [...new Set(needs.map((n) => n.name))];
}

/**
 * What a pg_dump archive needs, from its table of contents (`pg_restore -l`): its EXTENSION entries
 * (`230; 3079 16385 EXTENSION - pgcrypto`). An archive has no lines: `line` is the TOC entry's id.
 */
export function requirementsFromToc(listing: string, database: string | undefined): DumpRequirements {
  const extensions = [...listing.matchAll(/^(\d+); \d+ \d+ EXTENSION - (\S+)/gm)].map((m) => ({
    name: m[2] ?? '',
    line: Number(m[1]),
    database,
    statement: m[0],
  }));
  return { extensions, tablespacesCreated: [], tablespacesUsed: [] };
}
