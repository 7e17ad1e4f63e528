import { describe, expect, it } from 'vitest';
import { pgDumpallText } from '../../test/support/dump-text.ts';
import { dumpRequirements, requirementsFromToc } from './dump-requirements.ts';

function collect(text: string, chunkSize = 5) {
  const needs = dumpRequirements();
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += chunkSize) needs.write(bytes.subarray(at, at + chunkSize));
  needs.end();
  return needs.result;
}

describe('dumpRequirements', () => {
  // A pg_dumpall with a tablespace in its globals and, in backup_test's section, an extension, a
  // table in that tablespace, and COPY rows and a multi-line string that merely look like statements.
  const base = pgDumpallText({ notes: ['CREATE EXTENSION evil;', 'SET default_tablespace = evil;'] });
  const dump = base
    .replace(
      '--\n-- User Configurations\n--\n',
      "--\n-- User Configurations\n--\n\nCREATE TABLESPACE ts1 OWNER postgres LOCATION '/srv/ts1';\n",
    )
    .replace(
      '\\connect backup_test\n',
      `\\connect backup_test\n\nCREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA public;\nSET default_tablespace = ts1;\nSET default_tablespace = '';\nCOMMENT ON SCHEMA public IS 'x\nCREATE EXTENSION hidden;\n';\n`,
    );
  const line = (text: string) => dump.split('\n').indexOf(text) + 1;

  it('finds extensions, tablespaces made and used, with their line and section, and nothing in data or strings', () => {
    expect(collect(dump)).toEqual({
      extensions: [
        {
          name: 'uuid-ossp',
          line: line('CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA public;'),
          database: 'backup_test',
          statement: 'CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA public;',
        },
      ],
      tablespacesCreated: [
        {
          name: 'ts1',
          line: line("CREATE TABLESPACE ts1 OWNER postgres LOCATION '/srv/ts1';"),
          database: undefined,
          statement: "CREATE TABLESPACE ts1 OWNER postgres LOCATION '/srv/ts1';",
        },
      ],
      tablespacesUsed: [
        {
          name: 'ts1',
          line: line('SET default_tablespace = ts1;'),
          database: 'backup_test',
          statement: 'SET default_tablespace = ts1;',
        },
      ],
    });
  });

  it('gives the same answer however the input is cut', () => {
    expect(collect(dump, 1)).toEqual(collect(dump, 4096));
  });

  it('reads a database created in a tablespace and a database default', () => {
    const text = [
      "CREATE DATABASE big WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE_PROVIDER = libc LOCALE = 'C' TABLESPACE = fast;",
      "ALTER DATABASE big SET default_tablespace TO 'slow';",
      '',
    ].join('\n');
    expect(collect(text).tablespacesUsed.map((u) => [u.name, u.line])).toEqual([
      ['fast', 1],
      ['slow', 2],
    ]);
  });
});

describe('requirementsFromToc', () => {
  it('reads the EXTENSION entries of pg_restore -l, as pg_restore 15 lists them', () => {
    const listing = [
      '; Archive created at 2026-12-01 09:30:00 UTC',
      ';     dbname: appdb',
      '2; 3079 16388 EXTENSION - pgcrypto ',
      '3390; 0 0 COMMENT - EXTENSION pgcrypto ',
      '215; 1259 16426 TABLE public t app',
    ].join('\n');
    expect(requirementsFromToc(listing, 'appdb').extensions).toEqual([
      { name: 'pgcrypto', line: 2, database: 'appdb', statement: '2; 3079 16388 EXTENSION - pgcrypto' },
    ]);
  });
});
