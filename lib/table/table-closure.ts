import type { TableName } from './table-name.ts';
import {
  objectName,
  type QualifiedName,
  qualifiedNames,
  referencedTable,
  statementTarget,
  type TocHeader,
} from './toc-entry.ts';

/** One TOC entry of the drilled database's section, its statements kept (never its rows). */
export interface TocEntry {
  /** Its place in the section, so what is included keeps the dump's order. */
  index: number;
  header: TocHeader;
  /** Dump line of the header. */
  line: number;
  /** Its statements' lines, as text, each with its dump line; OWNER TO / GRANT lines already left out. */
  lines: { text: string; line: number }[];
}

/** Something of the table the drill does not create, and why. */
export interface LeftOut {
  type: string;
  name: string;
  why: string;
}

/** Objects that define what the table (or a definition it needs) names: created when named. */
const DEFINITIONS = new Set([
  'TYPE',
  'SHELL TYPE',
  'DOMAIN',
  'FUNCTION',
  'PROCEDURE',
  'AGGREGATE',
  'COLLATION',
  'SEQUENCE',
  'TABLE',
]);

/** What attaches to the drilled table and is restored with it (its own entries, after its data). */
const ATTACHED = new Set(['DEFAULT', 'CONSTRAINT', 'CHECK CONSTRAINT', 'INDEX', 'SEQUENCE', 'FK CONSTRAINT']);

/** What attaches to the table and is left out, with the reason the report gives. */
const LEFT_OUT: Record<string, string> = {
  TRIGGER:
    'triggers are left out: their functions may write other tables, and a recovered table is copied back by hand',
  POLICY:
    'row security policies name roles the scratch database may not have; the rows are read with row_security off',
  'ROW SECURITY': 'row security is left off in the scratch database (its policies are left out)',
  RULE: 'rules rewrite statements into other tables',
  ACL: 'grants name roles: ownership and privileges are not restored (the roles are cluster-wide, never written)',
  'TABLE ATTACH':
    'the partitioned table it belongs to is not restored: the partition is restored as a table of its own',
  'INDEX ATTACH': 'the partitioned index it belongs to is not restored',
  'STATISTICS DATA': 'planner statistics are not restored (ANALYZE the table after a real recovery)',
  STATISTICS: 'extended statistics objects are not restored',
  'PUBLICATION TABLE': "publications are the source's replication set-up",
  'SECURITY LABEL': 'security labels need their provider',
};

const key = (schema: string, name: string) => `${schema}\0${name}`;
const same = (a: QualifiedName | undefined, schema: string, name: string) =>
  a !== undefined && a.length === 2 && a[0] === schema && a[1] === name;
const textOf = (entry: TocEntry) => entry.lines.map((l) => l.text).join('\n');

/** The entries the table's restore needs and what it leaves out (see docs/how-it-works.md). */
export class TableClosure {
  readonly included = new Set<TocEntry>();
  readonly leftOut: LeftOut[] = [];
  readonly #defs = new Map<string, TocEntry[]>();
  readonly #schemas = new Map<string, TocEntry>();
  readonly #extensions: { entry: TocEntry; schema: string | undefined }[] = [];
  readonly #table: TableName;
  /** Qualified names no entry of the dump defines (built-ins, or an extension's). */
  readonly unresolved = new Set<string>();

  constructor(table: TableName) {
    this.#table = table;
  }

  /** Files an entry of the section, as it is read. */
  add(entry: TocEntry): void {
    const { type, schema } = entry.header;
    if (type === 'SCHEMA') this.#schemas.set(entry.header.name, entry);
    else if (type === 'EXTENSION')
      this.#extensions.push({ entry, schema: /\sWITH SCHEMA (\S+?);?$/m.exec(textOf(entry))?.[1] });
    else if (DEFINITIONS.has(type)) {
      const k = key(schema, objectName(entry.header));
      this.#defs.set(k, [...(this.#defs.get(k) ?? []), entry]);
    }
  }

  /** Is this the drilled table's own entry, or one attached to it that is restored with it? */
  attaches(entry: TocEntry): boolean {
    const { type, schema, name } = entry.header;
    const { schema: s, table: t } = this.#table;
    if (type === 'TABLE') return schema === s && name === t;
    // A partition's attachment names its parent first: it is ours by the header.
    if (type === 'TABLE ATTACH' && schema === s && name === t) {
      this.leftOut.push({ type, name, why: LEFT_OUT[type] as string });
      return false;
    }
    if (type === 'COMMENT') return schema === s && (name === `TABLE ${t}` || name.startsWith(`COLUMN ${t}.`));
    const first = entry.lines[0]?.text ?? '';
    const target = statementTarget(first);
    if (!same(target, s, t)) return false;
    if (type === 'FK CONSTRAINT') {
      const to = referencedTable(textOf(entry));
      if (same(to, s, t)) return true;
      this.leftOut.push({ type, name, why: `it references ${to?.join('.') ?? '?'}, which is not restored` });
      return false;
    }
    if (ATTACHED.has(type)) return true;
    this.leftOut.push({ type, name, why: LEFT_OUT[type] ?? `a ${type} is not part of a table's recovery` });
    return false;
  }

  /** Includes `entry` and, transitively, every definition it names; returns what was newly included. */
  include(entry: TocEntry): TocEntry[] {
    const added: TocEntry[] = [];
    const queue = [entry];
    for (let next = queue.pop(); next; next = queue.pop()) {
      if (this.included.has(next)) continue;
      this.included.add(next);
      added.push(next);
      const ext = this.#extensions.find((e) => e.entry === next);
      const schema = this.#schemas.get(ext ? (ext.schema ?? '') : next.header.schema);
      if (schema) queue.push(schema);
      for (const named of qualifiedNames(textOf(next))) queue.push(...this.#named(named));
    }
    return added.sort((a, b) => a.index - b.index);
  }

  /** The definitions a name may be (each consecutive pair of its parts: `s.t.col` names `s.t`). */
  #named(parts: QualifiedName): TocEntry[] {
    const out: TocEntry[] = [];
    for (let i = 0; i + 1 < parts.length; i++) {
      const [schema, name] = [parts[i] as string, parts[i + 1] as string];
      if (schema === 'pg_catalog') continue;
      const defs = this.#defs.get(key(schema, name));
      if (defs) {
        out.push(...defs);
        continue;
      }
      if (i > 0) continue;
      this.unresolved.add(`${schema}.${name}`);
      // Not the dump's own: an extension's object (citext, uuid_generate_v4) lives in the schema it
      // was created in.
      for (const ext of this.#extensions) if (ext.schema === schema) out.push(ext.entry);
    }
    return out;
  }

  /** The sequences included, by `schema\0name`: their SEQUENCE SET and OWNED BY go with them. */
  includedSequences(): Set<string> {
    const out = new Set<string>();
    for (const e of this.included) {
      if (e.header.type === 'SEQUENCE') out.add(key(e.header.schema, e.header.name));
    }
    return out;
  }

  /** SEQUENCE SET / OWNED BY of an included sequence. */
  followsSequence(entry: TocEntry): boolean {
    const { type, schema, name } = entry.header;
    if (type !== 'SEQUENCE SET' && type !== 'SEQUENCE OWNED BY') return false;
    return this.includedSequences().has(key(schema, name));
  }
}
