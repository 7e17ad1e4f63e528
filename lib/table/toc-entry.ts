/**
 * The table of contents a plain pg_dump writes as comments: every object it dumps is headed by
 * `-- Name: N; Type: T; Schema: S; Owner: O` (`-- Data for Name: …` before a table's rows), names raw
 * (newlines made spaces). The table drill picks objects by these headers and reads what each object's
 * statements name, pg_dump writing every name schema-qualified (its session's search_path is '').
 */

/** One header: the object's TOC type (`TABLE`, `TABLE DATA`, `SEQUENCE SET`, `FK CONSTRAINT`, …). */
export interface TocHeader {
  type: string;
  /** As the header writes it: `orders`, `orders orders_pkey`, `next_ref()`, `TABLE orders`. */
  name: string;
  /** `-` for objects outside a schema. */
  schema: string;
}

const HEADER = /^-- (?:Data for )?Name: (.*); Type: ([A-Z ]+); Schema: (.*); Owner: (.*)$/;

/** The header a comment line is, or undefined. */
export function parseTocHeader(line: string): TocHeader | undefined {
  const match = HEADER.exec(line);
  if (!match) return undefined;
  // "; Tablespace: x" follows the owner when the object has one.
  return { name: match[1] as string, type: match[2] as string, schema: match[3] as string };
}

/** A qualified name read from SQL text, unquoted: `["sales", "orders"]`, `["sales", "orders", "id"]`. */
export type QualifiedName = string[];

const IDENT = '(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)';
const QUALIFIED = new RegExp(`(?<![A-Za-z0-9_$."])${IDENT}(?:\\.${IDENT})+`, 'g');

function unquote(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1).replaceAll('""', '"') : ident.toLowerCase();
}

/** Splits one qualified name's text (`sales."Odd ""x"""`) into its unquoted parts. */
export function splitQualified(text: string): QualifiedName {
  const parts: string[] = [];
  const re = new RegExp(IDENT, 'y');
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) break;
    parts.push(unquote(m[0]));
    at = re.lastIndex;
    if (text[at] !== '.') break;
    at++;
  }
  return parts;
}

/**
 * Every dotted name in the text, strings included (a sequence is named inside `nextval('s.q'::regclass)`).
 * Over-reading is safe: a name that is no object of the dump is ignored; one that is makes the drill
 * create one more definition, never lose one.
 */
export function qualifiedNames(text: string): QualifiedName[] {
  return [...text.matchAll(QUALIFIED)].map((m) => splitQualified(m[0]));
}

/** The relation a statement works on: `ALTER TABLE [ONLY] x`, `CREATE [UNIQUE] INDEX n ON [ONLY] x`, `COPY x`, `INSERT INTO x`. */
export function statementTarget(statement: string): QualifiedName | undefined {
  const patterns = [
    new RegExp(`^ALTER (?:FOREIGN )?TABLE (?:IF EXISTS )?(?:ONLY )?(${IDENT}(?:\\.${IDENT})*)`),
    new RegExp(`^CREATE (?:UNIQUE )?INDEX ${IDENT} ON (?:ONLY )?(${IDENT}(?:\\.${IDENT})*)`),
    new RegExp(`^COPY (${IDENT}(?:\\.${IDENT})*)`),
    new RegExp(`^INSERT INTO (${IDENT}(?:\\.${IDENT})*)`),
    new RegExp(`^CREATE (?:CONSTRAINT )?TRIGGER ${IDENT} .*? ON (${IDENT}(?:\\.${IDENT})*)`, 's'),
    new RegExp(`^CREATE POLICY ${IDENT} ON (${IDENT}(?:\\.${IDENT})*)`),
  ];
  for (const re of patterns) {
    const m = re.exec(statement);
    if (m?.[1]) return splitQualified(m[1]);
  }
  return undefined;
}

/** The table a foreign key `REFERENCES x(…)` points at. */
export function referencedTable(statement: string): QualifiedName | undefined {
  const m = new RegExp(`REFERENCES (${IDENT}(?:\\.${IDENT})*)`).exec(statement);
  return m?.[1] ? splitQualified(m[1]) : undefined;
}

/** The header name's object name: a function's without its argument list. */
export function objectName(header: TocHeader): string {
  const paren = header.name.indexOf('(');
  return paren > 0 ? header.name.slice(0, paren) : header.name;
}

/** Session settings as pg_dump writes them; the tablespace always the scratch database's own. */
export function readSetting(text: string): { name: string; text: string } | undefined {
  if (/^(SET|RESET) SESSION AUTHORIZATION/.test(text)) return { name: '', text: '' };
  const set = /^SET (\w+) = /.exec(text);
  if (set?.[1])
    return { name: set[1], text: set[1] === 'default_tablespace' ? "SET default_tablespace = '';" : text };
  const config = /^SELECT pg_catalog\.set_config\('(\w+)'/.exec(text);
  return config?.[1] ? { name: config[1], text } : undefined;
}

/** An entry as the report lists it: `TYPE sales.order_state`, `SCHEMA sales`. */
export function showEntry(header: TocHeader): string {
  return `${header.type} ${header.schema === '-' ? '' : `${header.schema}.`}${header.name}`;
}

/** Ownership and privileges are left out: they name roles, which are cluster-wide. */
export const DROPPED = /^(ALTER [A-Z ]+ .* OWNER TO .*;$|GRANT |REVOKE |SECURITY LABEL )/;
export const CLUSTER_TRAILER = '-- PostgreSQL database cluster dump complete';
/** Entries never restored (other tables' rows are skipped, never buffered). */
export const SKIPPED_TYPES = new Set([
  'TABLE DATA',
  'BLOB',
  'BLOBS',
  'BLOB DATA',
  'LARGE OBJECT',
  'ACL',
  'DATABASE PROPERTIES',
]);
