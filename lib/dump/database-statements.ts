import { DumpStatementError } from './errors.ts';

/** A SQL identifier, always double-quoted: valid for any name, keywords and capitals included. */
export function quoteIdentAlways(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The spellings pg_dump may use for a name: bare when it is a plain lower-case word, and quoted. */
function spellings(name: string): string[] {
  const quoted = quoteIdentAlways(name);
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? [name, quoted] : [quoted];
}

interface Token {
  text: string;
  start: number;
  end: number;
}

/**
 * The leading words of a statement up to its first string literal: bare words and double-quoted
 * identifiers (with `""` inside), each with its span. Enough to find `DATABASE <name>` in the
 * database-level statements pg_dump writes.
 */
function leadingTokens(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] ?? '';
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '$' || c === ';') {
      break;
    } else if (c === '"') {
      const start = i;
      for (i++; i < text.length; i++) {
        if (text[i] === '"' && text[i + 1] === '"') i++;
        else if (text[i] === '"') break;
      }
      i++;
      tokens.push({ text: text.slice(start, i), start, end: i });
    } else {
      const start = i;
      while (i < text.length && !/[\s";']/.test(text[i] ?? '')) i++;
      tokens.push({ text: text.slice(start, i), start, end: i });
    }
  }
  return tokens;
}

/** The span of the name after the first bare `DATABASE` keyword, if it is `name` in any spelling. */
function databaseNameSpan(text: string, name: string): Token | undefined {
  const tokens = leadingTokens(text);
  const at = tokens.findIndex((t) => t.text.toUpperCase() === 'DATABASE');
  const token = at >= 0 ? tokens[at + 1] : undefined;
  return token && spellings(name).includes(token.text) ? token : undefined;
}

/**
 * `CREATE DATABASE old WITH …;` as the dump wrote it, for a database of another name (the drill
 * restores into `drill_<runid>` next to the original). Only the name changes: template, encoding,
 * locale and the rest stay as the dump says.
 */
export function renameCreateDatabase(statement: string, from: string, to: string): string {
  const head = leadingTokens(statement);
  const span = databaseNameSpan(statement, from);
  if (head[0]?.text.toUpperCase() !== 'CREATE' || head[1]?.text.toUpperCase() !== 'DATABASE' || !span) {
    throw new DumpStatementError(statement, `Not a CREATE DATABASE of ${JSON.stringify(from)}: ${statement}`);
  }
  return statement.slice(0, span.start) + quoteIdentAlways(to) + statement.slice(span.end);
}

/** Statements about the database itself that pg_dump --create writes inside its section. */
const DATABASE_LEVEL = /^(ALTER DATABASE|COMMENT ON DATABASE|SECURITY LABEL|GRANT|REVOKE|ALTER ROLE)\s/i;

/**
 * A line that starts one of the database-level statements of a section (`ALTER DATABASE x OWNER TO`,
 * `ALTER DATABASE x SET …`, `COMMENT ON DATABASE x`, `GRANT … ON DATABASE x`, `REVOKE …`,
 * `ALTER ROLE r IN DATABASE x SET …`, `SECURITY LABEL … ON DATABASE x`) with the database's name
 * replaced; undefined when the line is not one of them or names another database. Restoring a section
 * under a new name must not alter the original database, which may well be on the same server.
 */
export function renameDatabaseReference(line: string, from: string, to: string): string | undefined {
  if (!DATABASE_LEVEL.test(line)) return undefined;
  const span = databaseNameSpan(line, from);
  if (!span) return undefined;
  return line.slice(0, span.start) + quoteIdentAlways(to) + line.slice(span.end);
}
