import { ConfigError } from '../errors.ts';

/** The table `--table DB.SCHEMA.TABLE` names: each part exactly as the catalog spells it. */
export interface TableName {
  database: string;
  schema: string;
  table: string;
}

/**
 * The quoting rules of `--table`, said once (the help and every error quote them): three parts joined
 * by dots, each exactly as the catalog spells it (no case folding: `Shop` is not `shop`); a part that
 * holds a dot, a double quote, a space or nothing bare is written in double quotes, with a double quote
 * inside doubled.
 */
export const TABLE_NAME_RULES =
  'DB.SCHEMA.TABLE, each part as the catalog spells it (case-sensitive, no folding); double-quote a part holding a dot, a double quote or a space, doubling a quote inside: shop.public."order.lines", shop."My Schema"."say ""hi"""';

/** One part, bare or quoted, from `at`; `end` is where it stopped. */
function readPart(text: string, at: number): { part: string; end: number } | { error: string } {
  if (text[at] !== '"') {
    let end = at;
    while (end < text.length && text[end] !== '.') end++;
    const part = text.slice(at, end);
    if (part === '') return { error: `an empty part at character ${at + 1}` };
    if (/["\s]/.test(part))
      return { error: `\`${part}\` holds a double quote or a space: double-quote that part` };
    return { part, end };
  }
  let part = '';
  let i = at + 1;
  for (;;) {
    if (i >= text.length) return { error: `the quote opened at character ${at + 1} is never closed` };
    if (text[i] === '"') {
      if (text[i + 1] === '"') {
        part += '"';
        i += 2;
        continue;
      }
      break;
    }
    part += text[i];
    i++;
  }
  if (part === '') return { error: `an empty quoted part at character ${at + 1}` };
  const end = i + 1;
  if (end < text.length && text[end] !== '.')
    return { error: `\`${text.slice(end)}\` follows the quoted part "${part}": only a dot may` };
  return { part, end };
}

/** Parses `--table`; a bad value is a ConfigError naming the setting, the value and the rules. */
export function parseTableName(value: string, label = '--table / DRILL_TABLE'): TableName {
  const parts: string[] = [];
  let at = 0;
  const bad = (why: string) =>
    new ConfigError('table', `Expected ${label} to be ${TABLE_NAME_RULES}; got \`${value}\`: ${why}.`);
  if (/[\0\n\r]/.test(value)) throw bad('it holds a newline or NUL, which no name can');
  for (;;) {
    const read = readPart(value, at);
    if ('error' in read) throw bad(read.error);
    parts.push(read.part);
    if (read.end >= value.length) break;
    at = read.end + 1;
    if (at >= value.length) throw bad('it ends with a dot');
  }
  if (parts.length !== 3)
    throw bad(
      `${parts.length} part(s), expected 3 (database, schema, table)${parts.length === 2 ? '; name the database first, e.g. shop.public.orders' : ''}`,
    );
  const [database, schema, table] = parts as [string, string, string];
  return { database, schema, table };
}

/** One part as `--table` takes it: bare when it can be, else quoted. */
function showPart(part: string): string {
  return /^[^."\s]+$/.test(part) ? part : `"${part.replaceAll('"', '""')}"`;
}

/** The name as the operator writes it (`shop.public.orders`): parseTableName reads it back. */
export function showTableName(name: TableName): string {
  return [name.database, name.schema, name.table].map(showPart).join('.');
}

/** The scratch database a table drill restores into: the run's own name, never the operator's. */
export function tableScratchDatabase(runId: string): string {
  return `pg_restore_drill_table_${runId.replaceAll('-', '_')}`;
}
