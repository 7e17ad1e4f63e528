import { describe, expect, it } from 'vitest';
import { renameCreateDatabase, renameDatabaseReference } from './database-statements.ts';
import { DumpStatementError } from './errors.ts';

describe('renameCreateDatabase', () => {
  it('changes the name only, quoting the new one', () => {
    expect(
      renameCreateDatabase(
        `CREATE DATABASE "Weird ""Name"" db" WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE_PROVIDER = libc LOCALE = 'en_US.UTF-8';`,
        'Weird "Name" db',
        'drill_ab12',
      ),
    ).toBe(
      `CREATE DATABASE "drill_ab12" WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE_PROVIDER = libc LOCALE = 'en_US.UTF-8';`,
    );
    expect(
      renameCreateDatabase('CREATE DATABASE plain_db WITH TEMPLATE = template0;', 'plain_db', 'a "b"'),
    ).toBe('CREATE DATABASE "a ""b""" WITH TEMPLATE = template0;');
  });

  it('refuses a statement that is not a CREATE DATABASE of that database', () => {
    expect(() => renameCreateDatabase('CREATE DATABASE other;', 'plain_db', 'x')).toThrow(DumpStatementError);
    expect(() => renameCreateDatabase('ALTER DATABASE plain_db OWNER TO x;', 'plain_db', 'x')).toThrow(
      'Not a CREATE DATABASE of "plain_db": ALTER DATABASE plain_db OWNER TO x;',
    );
  });
});

describe('renameDatabaseReference', () => {
  // Statements a real pg_dumpall 15.18 wrote inside the section of "Upper".
  it.each([
    ['ALTER DATABASE "Upper" OWNER TO postgres;', 'ALTER DATABASE "drill" OWNER TO postgres;'],
    ['ALTER DATABASE "Upper" CONNECTION LIMIT = 5;', 'ALTER DATABASE "drill" CONNECTION LIMIT = 5;'],
    [
      `COMMENT ON DATABASE "Upper" IS 'DATABASE "Upper"';`,
      `COMMENT ON DATABASE "drill" IS 'DATABASE "Upper"';`,
    ],
    [
      `ALTER ROLE "role ""x""" IN DATABASE "Upper" SET work_mem TO '2MB';`,
      `ALTER ROLE "role ""x""" IN DATABASE "drill" SET work_mem TO '2MB';`,
    ],
    [
      'REVOKE CONNECT,TEMPORARY ON DATABASE "Upper" FROM PUBLIC;',
      'REVOKE CONNECT,TEMPORARY ON DATABASE "drill" FROM PUBLIC;',
    ],
    [
      'GRANT CONNECT ON DATABASE "Upper" TO "role ""x""";',
      'GRANT CONNECT ON DATABASE "drill" TO "role ""x""";',
    ],
  ])('%s', (line, renamed) => {
    expect(renameDatabaseReference(line, 'Upper', 'drill')).toBe(renamed);
  });

  it('leaves other statements and other databases alone', () => {
    expect(
      renameDatabaseReference('ALTER DATABASE upper OWNER TO postgres;', 'Upper', 'drill'),
    ).toBeUndefined();
    expect(renameDatabaseReference('GRANT SELECT ON TABLE public.t TO x;', 'Upper', 'drill')).toBeUndefined();
    expect(
      renameDatabaseReference('ALTER ROLE "x DATABASE plain" SET a = 1;', 'plain', 'drill'),
    ).toBeUndefined();
    expect(renameDatabaseReference('ALTER DATABASE plain SET search_path = x;', 'plain', 'drill')).toBe(
      'ALTER DATABASE "drill" SET search_path = x;',
    );
  });
});
