import { describe, expect, it } from 'vitest';
import { parseBanner, parseConnect, splitMeta } from './psql-meta.ts';

describe('parseConnect', () => {
  // The lines a real pg_dumpall 15.18 wrote for these names.
  it.each([
    ['plain_db', 'plain_db'],
    ['"Upper"', 'Upper'],
    ['"with.dot"', 'with.dot'],
    ['"select"', 'select'],
    [`-reuse-previous=on "dbname='Weird ""Name"" db'"`, 'Weird "Name" db'],
    [`-reuse-previous=on "dbname='back\\\\slash \\'q\\''"`, "back\\slash 'q'"],
    [`-reuse-previous=on "dbname='ünïcødé'"`, 'ünïcødé'],
  ])('\\connect %s → %s', (args, database) => {
    expect(parseConnect(args)).toBe(database);
  });

  it('keeps the current database for \\connect alone or \\connect - user', () => {
    expect(parseConnect('')).toBeUndefined();
    expect(parseConnect('- postgres')).toBeUndefined();
  });

  it('splits a meta-command from its arguments', () => {
    expect(splitMeta('\\connect -reuse-previous=on "dbname=\'x\'"')).toEqual({
      command: 'connect',
      args: '-reuse-previous=on "dbname=\'x\'"',
    });
    expect(splitMeta('\\restrict abc ')).toEqual({ command: 'restrict', args: 'abc' });
  });
});

describe('parseBanner', () => {
  it('reads the name raw, quotes and all', () => {
    expect(parseBanner('-- Database "Weird "Name" db" dump')).toBe('Weird "Name" db');
    expect(parseBanner('-- Database "" dump')).toBe('');
    expect(parseBanner('-- Database "x" dump complete')).toBeUndefined();
    expect(parseBanner('-- Name: x; Type: DATABASE')).toBeUndefined();
  });
});
