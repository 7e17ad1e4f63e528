import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { pgDumpallText } from '../../test/support/dump-text.ts';
import { bootstrapRoleFilter, quoteIdent, type SkippedStatement } from './bootstrap-role-filter.ts';

/** Feeds `input` through the filter in the given pieces and collects what comes out. */
async function filter(
  role: string,
  input: Buffer,
  chunkSize = input.length,
): Promise<{ output: Buffer; skipped: SkippedStatement[] }> {
  const chunks: Buffer[] = [];
  for (let at = 0; at < input.length; at += chunkSize) chunks.push(input.subarray(at, at + chunkSize));
  const skipped: SkippedStatement[] = [];
  const output = await buffer(Readable.from(chunks).pipe(bootstrapRoleFilter(role, skipped)));
  return { output, skipped };
}

/** 1-based line numbers of the lines equal to `line`. */
function linesEqual(text: string, line: string): number[] {
  return text.split('\n').flatMap((l, i) => (l === line ? [i + 1] : []));
}

const skippedCreate = (ident: string) =>
  `-- pg-restore-drill: skipped the bootstrap role's CREATE ROLE ${ident}`;
const skippedAlter = (ident: string) =>
  `-- pg-restore-drill: skipped the bootstrap role's ALTER ROLE ${ident}`;

describe('quoteIdent', () => {
  it.each([
    ['postgres', 'postgres'],
    ['app_1$', 'app_1$'],
    ['_x', '_x'],
    ['Postgres', '"Postgres"'],
    ['my role', '"my role"'],
    ['1st', '"1st"'],
    ['say "hi"', '"say ""hi"""'],
    ['rôle', '"rôle"'],
  ])('writes %s as %s', (name, quoted) => {
    expect(quoteIdent(name)).toBe(quoted);
  });
});

describe('bootstrapRoleFilter', () => {
  const dump = pgDumpallText({ roles: [{ name: 'app' }, { name: 'zeta', comment: 'owner of postgres' }] });

  it('comments out exactly the bootstrap role’s CREATE and ALTER, keeping every other line in place', async () => {
    const { output, skipped } = await filter('postgres', Buffer.from(dump));
    const before = dump.split('\n');
    const after = output.toString('utf8').split('\n');
    const create = linesEqual(dump, 'CREATE ROLE postgres;');
    const alter = before.flatMap((l, i) =>
      l.startsWith('ALTER ROLE postgres WITH SUPERUSER ') ? [i + 1] : [],
    );
    expect(create).toHaveLength(1);
    expect(alter).toHaveLength(1);

    expect(after).toHaveLength(before.length);
    expect(after.flatMap((l, i) => (l === before[i] ? [] : [i + 1]))).toEqual([...create, ...alter]);
    expect(after[(create[0] ?? 0) - 1]).toBe(skippedCreate('postgres'));
    expect(after[(alter[0] ?? 0) - 1]).toBe(skippedAlter('postgres'));
    expect(skipped).toEqual([
      { line: create[0], statement: 'CREATE ROLE postgres;' },
      { line: alter[0], statement: 'ALTER ROLE postgres WITH …' },
    ]);
  });

  it('reports the lines where psql would see them in a real dump (16 and 17)', async () => {
    const { skipped } = await filter('postgres', Buffer.from(pgDumpallText()));
    expect(skipped).toEqual([
      { line: 16, statement: 'CREATE ROLE postgres;' },
      { line: 17, statement: 'ALTER ROLE postgres WITH …' },
    ]);
  });

  it('leaves other roles’ statements alone', async () => {
    const { output } = await filter('postgres', Buffer.from(dump));
    const text = output.toString('utf8');
    expect(linesEqual(text, 'CREATE ROLE app;')).toEqual(linesEqual(dump, 'CREATE ROLE app;'));
    expect(linesEqual(text, 'CREATE ROLE zeta;')).toEqual(linesEqual(dump, 'CREATE ROLE zeta;'));
    expect(text.match(/^ALTER ROLE (app|zeta) WITH .*$/gm)).toEqual(
      dump.match(/^ALTER ROLE (app|zeta) WITH .*$/gm),
    );
    expect(text).toMatch(/^COMMENT ON ROLE zeta IS 'owner of postgres';$/m);
  });

  it('matches a bootstrap role that needs quoting in its quoted form only', async () => {
    const quoted = pgDumpallText({ bootstrapRole: 'Postgres', roles: [{ name: 'postgres' }] });
    const { output, skipped } = await filter('Postgres', Buffer.from(quoted));
    const text = output.toString('utf8');

    expect(skipped.map((s) => s.statement)).toEqual([
      'CREATE ROLE "Postgres";',
      'ALTER ROLE "Postgres" WITH …',
    ]);
    expect(linesEqual(text, skippedCreate('"Postgres"'))).toEqual(
      linesEqual(quoted, 'CREATE ROLE "Postgres";'),
    );
    // The lower-case role of the same name is another role and stays.
    expect(linesEqual(text, 'CREATE ROLE postgres;')).toEqual(linesEqual(quoted, 'CREATE ROLE postgres;'));
    expect(text).toMatch(/^ALTER ROLE postgres WITH NOSUPERUSER /m);
  });

  it('changes nothing after the first \\connect, even data rows that read like role statements', async () => {
    const rows = [
      'CREATE ROLE postgres;',
      "ALTER ROLE postgres WITH SUPERUSER PASSWORD 'x';",
      '\\connect evil',
    ];
    const tricky = pgDumpallText({ notes: rows });
    const { output, skipped } = await filter('postgres', Buffer.from(tricky));
    const text = output.toString('utf8');
    const firstConnect = tricky.indexOf('\n\\connect ');

    expect(text.slice(text.indexOf('\n\\connect '))).toBe(tricky.slice(firstConnect));
    expect(linesEqual(text, 'CREATE ROLE postgres;')).toHaveLength(1);
    expect(linesEqual(text, 'CREATE ROLE postgres;')[0]).toBeGreaterThan(
      tricky.slice(0, firstConnect).split('\n').length,
    );
    expect(skipped.map((s) => s.line)).toEqual([16, 17]);
  });

  it('leaves a dump without the bootstrap role untouched', async () => {
    const other = pgDumpallText({ bootstrapRole: 'admin' });
    const { output, skipped } = await filter('postgres', Buffer.from(other));
    expect(output.equals(Buffer.from(other))).toBe(true);
    expect(skipped).toEqual([]);
  });

  it('handles a globals-only dump with no \\connect and no final newline', async () => {
    const globals = 'SET x = 1;\nCREATE ROLE postgres;\nCREATE ROLE app;';
    const { output, skipped } = await filter('postgres', Buffer.from(globals), 3);
    expect(output.toString('utf8')).toBe(`SET x = 1;\n${skippedCreate('postgres')}\nCREATE ROLE app;`);
    expect(skipped).toEqual([{ line: 2, statement: 'CREATE ROLE postgres;' }]);
  });

  describe('gives the same bytes however the input is cut', () => {
    const role = 'pöstgres🐘';
    const multiByte = pgDumpallText({
      bootstrapRole: role,
      roles: [{ name: 'app', comment: 'café 🐘 — ünïcode' }, { name: 'élan' }],
      databases: ['backup_test', 'Café 🐘'],
      notes: ['naïve 🐘 row', `CREATE ROLE "${role}";`],
    });
    const input = Buffer.from(multiByte);
    const createLine = linesEqual(multiByte, `CREATE ROLE "${role}";`)[0] ?? 0;
    const expected = multiByte
      .split('\n')
      .map((l, i) =>
        i + 1 === createLine ? skippedCreate(`"${role}"`) : i === createLine ? skippedAlter(`"${role}"`) : l,
      )
      .join('\n');

    it.each([1, 2, 3, 5, 7, 64, 4096, input.length])('in pieces of %d bytes', async (size) => {
      // Pieces of 1 to 3 bytes cut through the two- and four-byte characters.
      expect(input.length).toBeGreaterThan(multiByte.length);
      const { output, skipped } = await filter(role, input, size);

      expect(output.toString('utf8')).toBe(expected);
      expect(output.equals(Buffer.from(expected))).toBe(true);
      expect(skipped).toEqual([
        { line: createLine, statement: `CREATE ROLE "${role}";` },
        { line: createLine + 1, statement: `ALTER ROLE "${role}" WITH …` },
      ]);
    });
  });
});
