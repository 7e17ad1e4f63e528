import { Transform, type TransformCallback } from 'node:stream';
import { createDumpLexer, type DumpLexer, type DumpLine, type LineKind } from '../dump/dump-lexer.ts';

/** What the dump lexer said of the line just written to it. */
export interface SeenLine {
  kind: LineKind;
  startsStatement: boolean;
  openAfter: boolean;
}

/** The replacement for a line, or undefined to keep it. */
export type LineRewriter = (current: string, line: number) => string | undefined;

/** The rewrites the filter applies: always the globals', and the kept database's in the sections. */
export interface Rewriters {
  globals: LineRewriter;
  /** Asked only of a statement's first line that begins with D(ROP) or C(REATE) and ends it. */
  sections: LineRewriter | undefined;
}

/** Where the filter is in the dump, and the number of the line it is at. */
interface FilterState {
  phase: 'globals' | 'sections' | 'through';
  line: number;
}

/**
 * The sections' pass (a database is kept): the lexer reads whole chunks and splits the lines itself;
 * the bytes go on as they came, up to each chunk's last newline, and are copied only around a line
 * that is rewritten. `onLine` follows the lexer's lines; `write` takes a chunk and gives what may go on.
 */
function sectionsPass(lexer: DumpLexer, rewrite: LineRewriter) {
  let cuts: { from: number; to: number; text: string }[] = [];
  // Stream offsets, counted from the first byte after the globals: the next line the lexer reports,
  // and the first byte held back (the start of a line whose newline has not come yet).
  let lineAt = 0;
  let heldAt = 0;
  let held: Buffer[] = [];
  const onLine = (l: DumpLine) => {
    const from = lineAt;
    lineAt += l.end - l.start + 1;
    if (l.kind !== 'sql' || !l.startsStatement || l.openAfter) return;
    const first = l.bytes[l.start];
    if (first !== 68 && first !== 67) return; // D(ROP), C(REATE)
    const text = rewrite(l.bytes.toString('utf8', l.start, l.end), l.number);
    if (text !== undefined) cuts.push({ from, to: from + l.end - l.start, text });
  };
  const write = (chunk: Buffer): Buffer[] => {
    lexer.write(chunk);
    const nl = chunk.lastIndexOf(10);
    if (nl < 0) {
      held.push(chunk);
      return [];
    }
    const pieces = [...held, chunk.subarray(0, nl + 1)];
    const start = heldAt;
    heldAt = start + pieces.reduce((n, p) => n + p.length, 0);
    held = nl + 1 < chunk.length ? [chunk.subarray(nl + 1)] : [];
    if (cuts.length === 0) return pieces;
    // Every line cut ended at a newline of these pieces: rewrite them (rare: a --clean dump's DROP).
    const whole = Buffer.concat(pieces);
    const out: Buffer[] = [];
    let at = 0;
    for (const cut of cuts) {
      out.push(whole.subarray(at, cut.from - start), Buffer.from(cut.text));
      at = cut.to - start;
    }
    out.push(whole.subarray(at));
    cuts = [];
    return out;
  };
  return { onLine, write, rest: () => held };
}

/**
 * The stream: each globals line goes through the lexer and `globals`; from the first `\connect` on,
 * bytes pass through untouched, or (a database kept) the lexer reads them chunk by chunk and only the
 * kept database's DROP and CREATE are rewritten. Lines are replaced, never removed.
 */
export function lineFilter(seen: SeenLine, rewriters: Rewriters): Transform {
  let follow: ((line: DumpLine) => void) | undefined;
  const lexer = createDumpLexer({
    line(l) {
      seen.kind = l.kind;
      seen.startsStatement = l.startsStatement;
      seen.openAfter = l.openAfter;
      follow?.(l);
    },
  });
  const sections = rewriters.sections && sectionsPass(lexer, rewriters.sections);
  const state: FilterState = { phase: 'globals', line: 0 };
  let partial: Buffer = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      if (state.phase === 'through') {
        done(null, chunk);
        return;
      }
      if (sections && state.phase === 'sections') {
        for (const piece of sections.write(chunk)) this.push(piece);
        done();
        return;
      }
      try {
        const data = partial.length ? Buffer.concat([partial, chunk]) : chunk;
        const after = sections ? 'sections' : 'through';
        const { out, rest } = globalsLines(data, { state, after, seen, lexer }, rewriters.globals);
        partial = Buffer.alloc(0);
        if (state.phase === 'globals') partial = Buffer.from(rest);
        else if (sections && state.phase === 'sections') {
          follow = sections.onLine;
          if (rest.length > 0) out.push(...sections.write(rest));
        } else out.push(rest);
        done(null, Buffer.concat(out));
      } catch (error) {
        done(error as Error);
      }
    },
    flush(done: TransformCallback) {
      if (sections && state.phase === 'sections') for (const piece of sections.rest()) this.push(piece);
      else this.push(partial);
      done();
    },
  });
}

/**
 * The globals lines of `data`, each written to the lexer and rewritten where `globals` says, up to the
 * first `\connect` (which moves the phase on to `after`) or the last newline. `rest`: the bytes after.
 */
function globalsLines(
  data: Buffer,
  at: { state: FilterState; after: FilterState['phase']; seen: SeenLine; lexer: DumpLexer },
  globals: LineRewriter,
): { out: Buffer[]; rest: Buffer } {
  const { state, seen, lexer } = at;
  const out: Buffer[] = [];
  let start = 0;
  for (let end = data.indexOf(10, start); end >= 0; end = data.indexOf(10, start)) {
    state.line++;
    lexer.write(data.subarray(start, end + 1));
    const current = data.toString('utf8', start, end);
    if (seen.kind === 'meta' && current.startsWith('\\connect ')) {
      state.phase = at.after;
      out.push(data.subarray(start, end + 1));
      return { out, rest: data.subarray(end + 1) };
    }
    const replacement = globals(current, state.line);
    out.push(replacement === undefined ? data.subarray(start, end + 1) : Buffer.from(`${replacement}\n`));
    start = end + 1;
  }
  return { out, rest: data.subarray(start) };
}
