import { describe, expect, it } from 'vitest';
import { pgDumpallText, pgDumpText } from '../../test/support/dump-text.ts';
import { parseVersion, versionFromNum } from '../pg/version.ts';
import { detectKind, endsWithTrailer, psqlKnowsRestrict, readVersions } from './dump-header.ts';

describe('detectKind', () => {
  it('recognises a pg_dumpall by its banner', () => {
    expect(detectKind(pgDumpallText())).toBe('pg_dumpall');
  });

  it('recognises a pg_dump by its banner', () => {
    expect(detectKind(pgDumpText())).toBe('pg_dump');
  });

  it('skips leading blank and bare comment lines, and CRLF line ends', () => {
    expect(detectKind('\n\n--\r\n-- PostgreSQL database cluster dump\r\n--\r\n')).toBe('pg_dumpall');
  });

  it.each([
    ['an empty head', ''],
    ['SQL before the banner', 'SET x = 1;\n-- PostgreSQL database cluster dump\n'],
    ['another comment', '--\n-- MySQL dump 10.13\n'],
    ['a custom-format archive', 'PGDMP\u0001\u000e\u0000'],
  ])('returns undefined for %s', (_, head) => {
    expect(detectKind(head)).toBeUndefined();
  });
});

describe('readVersions', () => {
  it('reads the first database section of a pg_dumpall', () => {
    expect(readVersions(pgDumpallText())).toEqual({
      from: { text: '15.18', major: 15, minor: 18 },
      by: { text: '15.18', major: 15, minor: 18 },
    });
  });

  it('reads server and pg_dump versions apart', () => {
    expect(
      readVersions(pgDumpText({ dumpedFrom: '15.18', dumpedBy: '18.1 (Debian 18.1-1.pgdg12+2)' })),
    ).toEqual({
      from: { text: '15.18', major: 15, minor: 18 },
      by: { text: '18.1', major: 18, minor: 1 },
    });
  });

  it('returns neither when the lines are missing', () => {
    expect(readVersions(pgDumpText({ dumpedFrom: null, dumpedBy: null }))).toEqual({
      from: undefined,
      by: undefined,
    });
  });

  it('ignores version text that is not at the start of a line', () => {
    expect(readVersions("SELECT '-- Dumped from database version 99.1';\n").from).toBeUndefined();
  });
});

describe('parseVersion', () => {
  it.each([
    ['15.18', { text: '15.18', major: 15, minor: 18 }],
    ['18.1', { text: '18.1', major: 18, minor: 1 }],
    ['9.6.24', { text: '9.6.24', major: 9, minor: 6 }],
    ['18beta1', { text: '18beta1', major: 18, minor: 0 }],
    ['17', { text: '17', major: 17, minor: 0 }],
  ])('parses %s', (text, version) => {
    expect(parseVersion(text)).toEqual(version);
  });

  it.each(['', 'devel', 'v15.1'])('returns undefined for %j', (text) => {
    expect(parseVersion(text)).toBeUndefined();
  });
});

describe('versionFromNum', () => {
  it.each([
    [150018, { text: '15.18', major: 15, minor: 18 }],
    [180001, { text: '18.1', major: 18, minor: 1 }],
    [100000, { text: '10.0', major: 10, minor: 0 }],
    [90624, { text: '9.6.24', major: 9, minor: 6 }],
  ])('reads server_version_num %d', (num, version) => {
    expect(versionFromNum(num)).toEqual(version);
  });
});

describe('endsWithTrailer', () => {
  it('accepts a whole pg_dumpall, whose trailer is followed by `--` and a blank line', () => {
    expect(endsWithTrailer(pgDumpallText(), 'pg_dumpall')).toBe(true);
  });

  it('accepts a whole pg_dump, whose trailer is followed by `\\unrestrict KEY` and blank lines', () => {
    const dump = pgDumpText();
    expect(dump.endsWith('--\n-- PostgreSQL database dump complete\n--\n\n')).toBe(false);
    expect(dump).toMatch(/-- PostgreSQL database dump complete\n--\n\n\\unrestrict [A-Za-z0-9]{63}\n\n$/);
    expect(endsWithTrailer(dump, 'pg_dump')).toBe(true);
  });

  it('accepts extra blank lines and CRLF line ends after the trailer', () => {
    expect(
      endsWithTrailer('x\r\n-- PostgreSQL database cluster dump complete\r\n--\r\n\r\n\r\n', 'pg_dumpall'),
    ).toBe(true);
  });

  it('rejects a pg_dumpall that holds only the per-database trailer', () => {
    const cut = pgDumpallText({ clusterTrailer: false });
    expect(cut).toMatch(/-- PostgreSQL database dump complete\n--\n\n\\unrestrict [A-Za-z0-9]{63}\n\n$/);
    expect(endsWithTrailer(cut, 'pg_dumpall')).toBe(false);
  });

  it('rejects a dump cut mid-way', () => {
    const dump = pgDumpallText();
    expect(endsWithTrailer(dump.slice(0, dump.indexOf('COPY public.users')), 'pg_dumpall')).toBe(false);
  });

  it('rejects statements after the trailer', () => {
    expect(endsWithTrailer(`${pgDumpallText()}DROP DATABASE backup_test;\n`, 'pg_dumpall')).toBe(false);
  });

  it('rejects the trailer quoted inside a line', () => {
    expect(endsWithTrailer("SELECT '-- PostgreSQL database dump complete';\n", 'pg_dump')).toBe(false);
  });
});

describe('psqlKnowsRestrict', () => {
  it.each([
    ['15.13', false],
    ['15.14', true],
    ['15.18', true],
    ['16.9', false],
    ['16.10', true],
    ['17.5', false],
    ['17.6', true],
    ['14.18', false],
    ['14.19', true],
    ['13.21', false],
    ['13.22', true],
    ['18.0', true],
    ['18beta1', true],
    ['19.0', true],
    ['12.22', false],
    ['9.6.24', false],
  ])('psql %s → %s', (text, knows) => {
    const version = parseVersion(text);
    if (!version) throw new Error(`cannot parse ${text}`);
    expect(psqlKnowsRestrict(version)).toBe(knows);
  });
});
