/** An identifier as pg_dump writes it: bare (folded to lower case by the server) or double-quoted. */
export const IDENT_PATTERN = `(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")`;

/** The object name an identifier spells: `"My ""Db"""` → `My "Db"`, `appdb` → `appdb`. */
export function unquoteIdent(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1).replaceAll('""', '"') : ident.toLowerCase();
}
