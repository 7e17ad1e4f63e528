import { parseCopyStatement } from '../dump/copy-statement.ts';
import { createDumpLexer, lexerSink } from '../dump/dump-lexer.ts';
import type { CanaryContract } from '../verify/canary-contract.ts';
import { baseName, columnNames, ROWS_TEXT_LIMIT } from './record.ts';

export interface CapturedTable {
  table: string;
  columns: string[];
  lines: string[];
  tooMany: boolean;
}

/** What the canary's section declares besides data: primary keys and foreign keys. */
export interface SectionConstraints {
  primaryKeys: Map<string, string[]>;
  foreignKeys: { name: string; table: string; columns: string[]; references: string; referenced: string[] }[];
}

/** A sink that keeps the canary tables' COPY rows and the constraints its section declares. */
export function canaryCapture(canary: string, contract: CanaryContract) {
  const captured = new Map<string, CapturedTable>();
  const constraints: SectionConstraints = { primaryKeys: new Map(), foreignKeys: [] };
  const sections: string[] = [];
  const inserts: { first?: number } = {};
  let current: CapturedTable | undefined;
  let statement: string | undefined;
  const wanted = [contract.users.table, contract.transactions.table];
  const lexer = createDumpLexer({
    section(name) {
      sections.push(name);
    },
    copy(text) {
      current = undefined;
      if (lexer.database !== canary) return;
      const target = parseCopyStatement(text);
      if (!target || !wanted.includes(baseName(target.table))) return;
      current = { table: target.table, columns: columnNames(target.columns), lines: [], tooMany: false };
      if (!captured.has(target.table)) captured.set(target.table, current);
    },
    line(line) {
      if (line.kind === 'copy-data') {
        if (!current) return;
        if (current.lines.length >= ROWS_TEXT_LIMIT) current.tooMany = true;
        else current.lines.push(line.bytes.toString('utf8', line.start, line.end));
        return;
      }
      if (line.kind === 'copy-end') {
        current = undefined;
        return;
      }
      if (line.kind !== 'sql') return;
      // `INSERT INTO` data (pg_dump --inserts / --column-inserts / --rows-per-insert) is not digested here.
      if (line.startsStatement && line.bytes[line.start] === 73 && inserts.first === undefined) {
        if (line.bytes.toString('latin1', line.start, line.start + 12) === 'INSERT INTO ')
          inserts.first = line.number;
      }
      if (lexer.database !== canary) return;
      if (line.startsStatement) statement = '';
      if (statement !== undefined && statement.length < 4000)
        statement += `${line.bytes.toString('utf8', line.start, line.end)}\n`;
      if (!line.openAfter && statement !== undefined) {
        readConstraint(statement, constraints);
        statement = undefined;
      }
    },
  });
  const sink = lexerSink(lexer);
  return { sink, captured, constraints, sections, inserts };
}

/** pg_dump's `ALTER TABLE ONLY t ADD CONSTRAINT c PRIMARY KEY (…)` / `FOREIGN KEY (…) REFERENCES p(…)`. */
function readConstraint(statement: string, into: SectionConstraints): void {
  const m =
    /^ALTER TABLE ONLY (\S+)\s+ADD CONSTRAINT (\S+) (PRIMARY KEY|FOREIGN KEY) \(([^)]*)\)(?: REFERENCES (\S+?)\(([^)]*)\))?/s.exec(
      statement.trim(),
    );
  if (!m) return;
  const [, table, name, kind, columns, references, referenced] = m as unknown as string[];
  if (kind === 'PRIMARY KEY') into.primaryKeys.set(table as string, columnNames(columns as string));
  else if (references)
    into.foreignKeys.push({
      name: baseName(name as string),
      table: table as string,
      columns: columnNames(columns as string),
      references,
      referenced: columnNames(referenced ?? ''),
    });
}
