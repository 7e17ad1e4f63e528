import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.ts';
import { nearNames } from './near-names.ts';
import { parseTableName, showTableName, tableScratchDatabase } from './table-name.ts';
import { qualifiedNames, splitQualified, statementTarget } from './toc-entry.ts';

describe('--table DB.SCHEMA.TABLE', () => {
  it.each([
    ['shop.public.orders', { database: 'shop', schema: 'public', table: 'orders' }],
    ['Shop.Sales.Orders', { database: 'Shop', schema: 'Sales', table: 'Orders' }],
    ['shop.public."order.lines"', { database: 'shop', schema: 'public', table: 'order.lines' }],
    ['"my db"."My Schema"."say ""hi"""', { database: 'my db', schema: 'My Schema', table: 'say "hi"' }],
    ['shop.public.ördnung', { database: 'shop', schema: 'public', table: 'ördnung' }],
  ])('reads %s exactly as the catalog spells it, and shows it back the same way', (text, name) => {
    expect(parseTableName(text)).toEqual(name);
    expect(parseTableName(showTableName(name))).toEqual(name);
  });

  it.each([
    [
      'shop.orders',
      '2 part(s), expected 3 (database, schema, table); name the database first, e.g. shop.public.orders',
    ],
    ['a.b.c.d', '4 part(s), expected 3 (database, schema, table)'],
    ['shop..orders', 'an empty part at character 6'],
    ['shop.public.', 'it ends with a dot'],
    ['shop.public."orders', 'the quote opened at character 13 is never closed'],
    ['shop.public."a"b', '`b` follows the quoted part "a": only a dot may'],
    ['shop.public.my orders', '`my orders` holds a double quote or a space: double-quote that part'],
    ['shop.public.""', 'an empty quoted part at character 13'],
  ])('refuses %s, naming the setting and why', (text, why) => {
    const error = (() => {
      try {
        parseTableName(text);
      } catch (caught) {
        return caught;
      }
    })() as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.setting).toBe('table');
    expect(error.message).toMatch(
      /^Expected --table \/ DRILL_TABLE to be DB\.SCHEMA\.TABLE, each part as the catalog spells it/,
    );
    expect(error.message.endsWith(`; got \`${text}\`: ${why}.`)).toBe(true);
  });

  it('names its scratch database after the run, apart from every name the drill drops', () => {
    expect(tableScratchDatabase('20261201-152327-e7dfa0')).toBe(
      'pg_restore_drill_table_20261201_152327_e7dfa0',
    );
  });
});

describe('names in pg_dump statements', () => {
  it('reads every qualified name, quoted or in a regclass string, unquoted', () => {
    expect(
      qualifiedNames(
        `ALTER TABLE ONLY "Sales"."Odd ""x""" ALTER COLUMN id SET DEFAULT nextval('sales.orders_id_seq'::regclass);`,
      ),
    ).toEqual([
      ['Sales', 'Odd "x"'],
      ['sales', 'orders_id_seq'],
    ]);
    expect(splitQualified('sales.customers.id')).toEqual(['sales', 'customers', 'id']);
  });

  it.each([
    ['ALTER TABLE ONLY sales.orders', ['sales', 'orders']],
    ['CREATE UNIQUE INDEX o ON ONLY "S".t USING btree (a);', ['S', 't']],
    ['COPY public.t (a, b) FROM stdin;', ['public', 't']],
    ['INSERT INTO public.t VALUES (1);', ['public', 't']],
    [
      'CREATE TRIGGER trg BEFORE INSERT ON sales.orders FOR EACH ROW EXECUTE FUNCTION sales.f();',
      ['sales', 'orders'],
    ],
    ['CREATE SEQUENCE sales.s', undefined],
  ])('finds the relation %s works on', (statement, target) => {
    expect(statementTarget(statement)).toEqual(target);
  });
});

describe('near names', () => {
  const tables = [
    { database: 'shop', schema: 'sales', table: 'orders' },
    { database: 'shop', schema: 'public', table: 'orders' },
    { database: 'warehouse', schema: 'sales', table: 'orders' },
    { database: 'shop', schema: 'sales', table: 'customers' },
  ];
  it('lists the same table elsewhere and the typo first, and nothing far off', () => {
    expect(nearNames({ database: 'shop', schema: 'sales', table: 'Orders' }, tables)).toEqual([
      'shop.sales.orders',
      'shop.public.orders',
      'warehouse.sales.orders',
    ]);
    expect(nearNames({ database: 'crm', schema: 'x', table: 'invoices' }, tables)).toEqual([]);
  });
});
