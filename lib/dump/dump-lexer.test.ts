import { describe, expect, it } from 'vitest';
import { pgDumpallText } from '../../test/support/dump-text.ts';
import { createDumpLexer, type LineKind } from './dump-lexer.ts';

interface Seen {
  lines: [number, LineKind, string, boolean, boolean][];
  events: string[];
}

/** Runs the lexer over `text` cut into chunks of `size` bytes (0: one chunk) and records everything. */
function lex(text: string | Buffer, size = 0): Seen {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const seen: Seen = { lines: [], events: [] };
  const lexer = createDumpLexer({
    line: (l) =>
      seen.lines.push([
        l.number,
        l.kind,
        l.bytes.toString('utf8', l.start, l.end),
        l.startsStatement,
        l.openAfter,
      ]),
    section: (name, line) => seen.events.push(`${line}: section ${name}`),
    connect: (db, line) => seen.events.push(`${line}: connect ${db} (current ${lexer.database})`),
    copy: (statement, line) => seen.events.push(`${line}: copy ${statement} in ${lexer.database}`),
  });
  const step = size || bytes.length || 1;
  for (let i = 0; i < bytes.length; i += step) lexer.write(bytes.subarray(i, i + step));
  lexer.end();
  return seen;
}

const TRICKY = [
  "COMMENT ON TABLE public.t IS 'multi", // 1
  '-- Database "y" dump', // 2: inside the string
  "\\connect q';", // 3: still inside, then closes
  'CREATE FUNCTION public.f() RETURNS text', // 4
  '    LANGUAGE sql', // 5
  '    AS $_$', // 6
  "SELECT $x$it's", // 7
  '\\connect postgres', // 8
  '\\.', // 9
  '$x$ || $$a$$', // 10
  '$_$;', // 11
  '', // 12
  '-- Database "plain" dump', // 13
  'COPY public."Odd (x)" (a, "b c") FROM stdin;', // 14
  '-- Database "x" dump', // 15
  '\\connect evil', // 16
  "it's $$ not a quote", // 17
  '\\.', // 18
  "SELECT E'a\\'b', 'c''d', \"q\"\"x\", $1, a$b$c FROM x; -- comment 'x", // 19
  'SET standard_conforming_strings = off;', // 20
  "SELECT 'a\\'", // 21: backslash escapes the quote now
  "';", // 22
  '/* block /* nested */', // 23
  "still ' comment */ SELECT 1;", // 24
  '\\unrestrict abc', // 25
].join('\n');

describe('createDumpLexer', () => {
  it('knows for each line whether it is SQL, string, dollar body, COPY data, meta-command or comment', () => {
    expect(lex(`${TRICKY}\n`).lines.map(([n, kind, , starts, open]) => [n, kind, starts, open])).toEqual([
      [1, 'sql', true, true],
      [2, 'string', false, true],
      [3, 'string', false, false],
      [4, 'sql', true, true],
      [5, 'sql', false, true],
      [6, 'sql', false, true],
      [7, 'dollar', false, true],
      [8, 'dollar', false, true],
      [9, 'dollar', false, true],
      [10, 'dollar', false, true],
      [11, 'dollar', false, false],
      [12, 'sql', false, false],
      [13, 'comment', false, false],
      [14, 'sql', true, false],
      [15, 'copy-data', false, false],
      [16, 'copy-data', false, false],
      [17, 'copy-data', false, false],
      [18, 'copy-end', false, false],
      [19, 'sql', true, false],
      [20, 'sql', true, false],
      [21, 'sql', true, true],
      [22, 'string', false, false],
      [23, 'sql', false, true],
      [24, 'block-comment', true, false],
      [25, 'meta', false, false],
    ]);
  });

  it('is fooled by nothing that merely looks like a banner, a \\connect or a COPY', () => {
    expect(lex(TRICKY).events).toEqual([
      '13: section plain',
      '14: copy COPY public."Odd (x)" (a, "b c") FROM stdin; in undefined',
    ]);
  });

  it('follows pg_dumpall sections and every \\connect form pg_dump writes', () => {
    const dump = pgDumpallText({
      databases: ['Weird "Name" db', 'ünïcødé', "back\\slash 'q'", 'Upper', 'plain'],
      notes: ['-- Database "postgres" dump', '\\\\connect evil', '\\\\.'],
    });
    const { events } = lex(dump);
    expect(events.map((e) => e.replace(/^\d+: /, ''))).toEqual([
      'section template1',
      'connect template1 (current template1)',
      'section Upper',
      'connect Upper (current Upper)',
      'section Weird "Name" db',
      'connect Weird "Name" db (current Weird "Name" db)',
      'copy COPY public.notes (body) FROM stdin; in Weird "Name" db',
      'copy COPY public.transactions (id, user_id, amount) FROM stdin; in Weird "Name" db',
      'copy COPY public.users (id, name) FROM stdin; in Weird "Name" db',
      "section back\\slash 'q'",
      "connect back\\slash 'q' (current back\\slash 'q')",
      'section plain',
      'connect plain (current plain)',
      'section postgres',
      'connect postgres (current postgres)',
      'section ünïcødé',
      'connect ünïcødé (current ünïcødé)',
    ]);
  });

  it('gives the same lines whatever the chunking, multi-byte characters split across chunks included', () => {
    const dump = Buffer.from(
      `${pgDumpallText({ databases: ['ünïcødé'], notes: ['日本語\\tü', '-- Database "x" dump'] })}${TRICKY}`,
    );
    const whole = lex(dump);
    expect(lex(dump, 1)).toEqual(whole);
    expect(lex(dump, 7)).toEqual(whole);
    expect(lex(dump, 4096)).toEqual(whole);
    expect(whole.lines.at(-1)).toEqual([whole.lines.length, 'meta', '\\unrestrict abc', false, false]);
  });
});
