/** The table and column list of a `COPY … FROM stdin;` statement, as pg_dump writes them. */
export interface CopyTarget {
  /** The (qualified) table as written, e.g. `public.t` or `public."Odd ""name"""`. */
  table: string;
  /**
   * The column list as written, without its parentheses, e.g. `a, "B c"`; empty for a table without
   * columns. pg_dump leaves generated columns out, so reading back must name exactly these.
   */
  columns: string;
}

/** Reads `COPY <table> [(<columns>)] FROM stdin;`; undefined for anything else. */
export function parseCopyStatement(statement: string): CopyTarget | undefined {
  const text = statement.trim();
  if (!/^COPY\s/i.test(text)) return undefined;
  let i = 4;
  while (/\s/.test(text[i] ?? '')) i++;
  const tableStart = i;
  // A qualified name: identifiers (bare or double-quoted) joined by dots.
  for (;;) {
    if (text[i] === '"') {
      for (i++; i < text.length; i++) {
        if (text[i] === '"' && text[i + 1] === '"') i++;
        else if (text[i] === '"') break;
      }
      i++;
    } else {
      while (i < text.length && !/[\s.(;"]/.test(text[i] ?? '')) i++;
    }
    if (text[i] !== '.') break;
    i++;
  }
  const table = text.slice(tableStart, i);
  while (/\s/.test(text[i] ?? '')) i++;
  let columns = '';
  if (text[i] === '(') {
    const open = i;
    let quoted = false;
    for (i++; i < text.length; i++) {
      if (text[i] === '"') quoted = !quoted;
      else if (text[i] === ')' && !quoted) break;
    }
    columns = text.slice(open + 1, i).trim();
    i++;
  }
  const rest = text.slice(i);
  if (table === '' || !/^\s*FROM\s+stdin\s*;$/i.test(rest)) return undefined;
  return { table, columns };
}
