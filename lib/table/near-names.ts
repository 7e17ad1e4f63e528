import { showTableName, type TableName } from './table-name.ts';

/** Edit distance (Levenshtein), for the few hundred names of a dump. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      next[j] = Math.min((row[j] as number) + 1, (next[j - 1] as number) + 1, (row[j - 1] as number) + cost);
    }
    row = next;
  }
  return row[b.length] as number;
}

/**
 * The names of the backup nearest the one asked for, at most `limit`: first the same table (in any
 * case) in another schema or database, then names a typo away (an edit distance of at most a quarter
 * of the name), each group nearest first.
 */
export function nearNames(wanted: TableName, tables: readonly TableName[], limit = 5): string[] {
  const want = showTableName(wanted).toLowerCase();
  const cutoff = Math.max(2, Math.floor(want.length / 4));
  const scored = tables.map((t) => {
    const shown = showTableName(t);
    const sameTable = t.table.toLowerCase() === wanted.table.toLowerCase();
    const d = distance(want, shown.toLowerCase());
    return { shown, near: sameTable || d <= cutoff, score: (sameTable ? 0 : 1000) + d };
  });
  return [...new Map(scored.map((s) => [s.shown, s])).values()]
    .filter((s) => s.near)
    .sort((a, b) => a.score - b.score || a.shown.localeCompare(b.shown))
    .slice(0, limit)
    .map((s) => s.shown);
}
