/**
 * The psql meta-commands and banners pg_dumpall writes between statements, read the way psql and the
 * dump's reader (a human) read them. Only what decides which database a line belongs to lives here.
 */

const BANNER_PREFIX = '-- Database "';
const BANNER_SUFFIX = '" dump';

/**
 * The database named by pg_dumpall's section banner `-- Database "NAME" dump`, written raw (no quote
 * doubling), or undefined for any other line. pg_dumpall refuses names with newlines, so a banner is
 * always one line.
 */
export function parseBanner(line: string): string | undefined {
  if (!line.startsWith(BANNER_PREFIX) || !line.endsWith(BANNER_SUFFIX)) return undefined;
  if (line.length < BANNER_PREFIX.length + BANNER_SUFFIX.length) return undefined;
  return line.slice(BANNER_PREFIX.length, line.length - BANNER_SUFFIX.length);
}

/** The meta-command's name (`connect`, `c`, `restrict`, …) and its raw argument text. */
export function splitMeta(line: string): { command: string; args: string } {
  const match = /^\\([A-Za-z_!?.]+)\s*(.*)$/s.exec(line);
  return { command: match?.[1] ?? '', args: match?.[2]?.trimEnd() ?? '' };
}

/**
 * Splits psql meta-command arguments as psql does for `\connect`: whitespace separates them, a
 * double-quoted part keeps its case and spaces (`""` is a quote), a single-quoted part keeps its text
 * (`''` is a quote, backslash escapes the next character).
 */
export function metaArgs(args: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < args.length) {
    while (i < args.length && /\s/.test(args[i] ?? '')) i++;
    if (i >= args.length) break;
    let word = '';
    while (i < args.length && !/\s/.test(args[i] ?? '')) {
      const c = args[i] ?? '';
      if (c === '"' || c === "'") {
        i++;
        for (; i < args.length; i++) {
          const d = args[i] ?? '';
          if (d === c && args[i + 1] === c) {
            word += c;
            i++;
          } else if (d === c) {
            break;
          } else if (c === "'" && d === '\\' && i + 1 < args.length) {
            word += args[++i];
          } else {
            word += d;
          }
        }
        i++;
      } else {
        word += c;
        i++;
      }
    }
    out.push(word);
  }
  return out;
}

/**
 * The `dbname` of a libpq connection string (`dbname='Weird \'Name\''`): values are bare up to
 * whitespace, or single-quoted with backslash escaping `\` and `'`.
 */
export function conninfoDbname(conninfo: string): string | undefined {
  let found: string | undefined;
  const re = /\s*([A-Za-z_]+)\s*=\s*/y;
  let i = 0;
  while (i < conninfo.length) {
    re.lastIndex = i;
    const key = re.exec(conninfo);
    if (!key) return found;
    i = re.lastIndex;
    let value = '';
    if (conninfo[i] === "'") {
      for (i++; i < conninfo.length && conninfo[i] !== "'"; i++) {
        if (conninfo[i] === '\\' && i + 1 < conninfo.length) i++;
        value += conninfo[i];
      }
      i++;
    } else {
      for (; i < conninfo.length && !/\s/.test(conninfo[i] ?? ''); i++) value += conninfo[i];
    }
    if (key[1] === 'dbname') found = value;
  }
  return found;
}

/**
 * The database a `\connect` (or `\c`) line switches to, as pg_dump's appendPsqlMetaConnect writes it:
 * `\connect name`, `\connect "Name"` or `\connect -reuse-previous=on "dbname='any name'"`.
 * Undefined when the line keeps the current database (`\connect` alone, `\connect - user`).
 */
export function parseConnect(args: string): string | undefined {
  const words = metaArgs(args).filter((w) => !w.startsWith('-reuse-previous'));
  const first = words[0];
  if (first === undefined || first === '-' || first === '') return undefined;
  if (first.includes('=')) return conninfoDbname(first);
  return first;
}
