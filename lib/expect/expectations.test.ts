import { describe, expect, it } from 'vitest';
import { thrown } from '../../test/support/thrown.ts';
import { ExpectationsError } from './errors.ts';
import { parseExpectations } from './expectations.ts';

const FILE = '/etc/drill/expect.yaml';

const GOOD = `
version: 1
recordedAt: "2026-12-01T03:00:00Z"
recordedFrom: "postgres@db:5432/postgres"
canary:
  database: backup_test
  users: { table: public.users, nameColumn: name, expected: [alice, bob, charlie] }
  transactions: { table: public.transactions, rows: 5, foreignKey: transactions_user_id_fkey }
databases:
  backup_test:
    tables:
      public.users: { rows: 1, digest: "0123456789abcdef", key: [id], columns: [id, name], rowsText: ["1\\talice"] }
  app:
    tables:
      public.events: { rows: { min: 1000, max: 5000 } }
      public.orders: { rows: 120000, tolerance: "5%" }
assertions:
  - name: orders are not empty
    database: app
    sql: SELECT count(*) FROM public.orders
    min: 1
  - name: pgcrypto is installed
    database: app
    sql: SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pgcrypto')
    value: true
    timeoutSeconds: 5
allow:
  - sqlstate: "42704"
    match: 'role "legacy" does not exist'
    max: 1
`;

function errorOf(text: string): ExpectationsError {
  const error = thrown(() => parseExpectations(text, FILE));
  expect(error).toBeInstanceOf(ExpectationsError);
  return error as ExpectationsError;
}

describe('parseExpectations', () => {
  it('reads the agreed format', () => {
    const e = parseExpectations(GOOD, FILE);
    expect(e.canary?.users.nameColumn).toBe('name');
    expect(e.databases.app?.tables['public.events']).toEqual({ rows: { min: 1000, max: 5000 } });
    expect(e.databases.app?.tables['public.orders']).toEqual({ rows: 120000, tolerance: '5%' });
    expect(e.databases.backup_test?.tables['public.users']?.rowsText).toEqual(['1\talice']);
    expect(e.assertions.map((a) => [a.name, a.value ?? a.min])).toEqual([
      ['orders are not empty', 1],
      ['pgcrypto is installed', 't'],
    ]);
    expect(e.allow).toEqual([{ sqlstate: '42704', match: 'role "legacy" does not exist', max: 1 }]);
  });

  it('reads JSON too, and an empty list of everything', () => {
    expect(parseExpectations('{"version": 1}', FILE)).toEqual({
      file: FILE,
      version: 1,
      databases: {},
      assertions: [],
      allow: [],
    });
  });

  const bad: [string, string, string][] = [
    ['a missing version', 'databases: {}', 'version'],
    ['an unknown key (a typo)', 'version: 1\ndatabse: {}', 'databse'],
    [
      'rows that are not a count',
      'version: 1\ndatabases: { app: { tables: { public.t: { rows: -1 } } } }',
      'databases.app.tables.public.t.rows',
    ],
    [
      'a digest and a tolerance together',
      'version: 1\ndatabases: { app: { tables: { public.t: { rows: 5, digest: "0123456789abcdef", tolerance: "5%" } } } }',
      'databases.app.tables.public.t.tolerance',
    ],
    [
      'a tolerance that is not a percentage',
      'version: 1\ndatabases: { app: { tables: { public.t: { rows: 5, tolerance: "five" } } } }',
      'databases.app.tables.public.t.tolerance',
    ],
    [
      'a tolerance of 100% (a table that lost every row would pass)',
      'version: 1\ndatabases: { app: { tables: { public.t: { rows: 100, tolerance: "100%" } } } }',
      'databases.app.tables.public.t.tolerance',
    ],
    [
      'a tolerance of 0%',
      'version: 1\ndatabases: { app: { tables: { public.t: { rows: 100, tolerance: "0%" } } } }',
      'databases.app.tables.public.t.tolerance',
    ],
    [
      'a range of rows without its min (an emptied table would pass)',
      'version: 1\ndatabases: { app: { tables: { public.t: { rows: { max: 5000 } } } } }',
      'databases.app.tables.public.t.rows',
    ],
    [
      'an assertion with two expectations',
      'version: 1\nassertions: [{ name: x, database: app, sql: SELECT 1, value: 1, rows: 1 }]',
      'assertions[0]',
    ],
    [
      'an assertion without sql',
      'version: 1\nassertions: [{ name: x, database: app, rows: 1 }]',
      'assertions[0].sql',
    ],
    [
      'an allow rule with a 4-character sqlstate',
      'version: 1\nallow: [{ sqlstate: "4270" }]',
      'allow[0].sqlstate',
    ],
    ['an allow rule whose match does not compile', "version: 1\nallow: [{ match: '(' }]", 'allow[0].match'],
    ['an allow rule with max 0', 'version: 1\nallow: [{ sqlstate: "42704", max: 0 }]', 'allow[0].max'],
    ['an allow rule that accepts everything', 'version: 1\nallow: [{ max: 3 }]', 'allow[0]'],
    [
      'rowsText that disagrees with rows',
      'version: 1\ndatabases: { d: { tables: { public.t: { rows: 2, rowsText: ["1"] } } } }',
      'databases.d.tables.public.t.rowsText',
    ],
  ];
  it.each(bad)('rejects %s, naming the file and the key', (_, text, key) => {
    const error = errorOf(text);
    expect(error.key).toBe(key);
    expect(error.message.startsWith(`expectations file ${FILE}: ${key} `)).toBe(true);
    expect(error.exitCode).toBe(2);
  });

  it('says so when the text is not YAML at all', () => {
    expect(errorOf('version: [1').message).toMatch(
      /^expectations file \/etc\/drill\/expect\.yaml: is not valid YAML: /,
    );
  });

  it('an unquoted sqlstate that YAML read as a number is explained', () => {
    expect(errorOf('version: 1\nallow: [{ sqlstate: 01000 }]').message).toMatch(/quote it/);
  });
});
