import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { pgDumpallText } from '../../test/support/dump-text.ts';
import { type GlobalsChanges, globalsFilter, TablespaceNotRemappableError } from './bootstrap-role-filter.ts';
import type { ServerObjects } from './clean-statements.ts';

/** pg_dumpall --clean's head (as PostgreSQL 15.18 writes it) and a tablespace, spliced into a dump. */
function cleanDump(extra: { drops?: string[]; tablespaces?: string[]; roleComment?: string } = {}): string {
  const drops = extra.drops ?? [
    'DROP DATABASE backup_test;',
    'DROP DATABASE "Weird ""Name"" db";',
    'DROP TABLESPACE ts1;',
    'DROP ROLE app;',
    'DROP ROLE postgres;',
  ];
  const head = ['--', '-- Drop databases (except postgres and template1)', '--', '', ...drops, '', ''];
  const tablespaces = extra.tablespaces ?? ["CREATE TABLESPACE ts1 OWNER app LOCATION '/srv/pg/ts1';"];
  let dump = pgDumpallText({ roles: [{ name: 'app', comment: extra.roleComment }] });
  dump = dump.replace(
    'SET standard_conforming_strings = on;\n',
    `SET standard_conforming_strings = on;\n\n${head.join('\n')}\n`,
  );
  return dump.replace(
    '--\n-- User Configurations\n--\n',
    `--\n-- User Configurations\n--\n\n${tablespaces.join('\n')}\n`,
  );
}

async function run(
  dump: string,
  options: { existing?: ServerObjects; remapTablespaces?: boolean; keepDatabase?: string },
  chunkSize = 7,
): Promise<{ output: string; changes: GlobalsChanges }> {
  const input = Buffer.from(dump);
  const chunks: Buffer[] = [];
  for (let at = 0; at < input.length; at += chunkSize) chunks.push(input.subarray(at, at + chunkSize));
  const changes: GlobalsChanges = { skipped: [], drops: [], tablespaces: [] };
  const output = await buffer(
    Readable.from(chunks).pipe(globalsFilter({ bootstrapRole: 'postgres', ...options }, changes)),
  );
  return { output: output.toString('utf8'), changes };
}

const lineOf = (text: string, line: string) => text.split('\n').indexOf(line) + 1;
const EMPTY: ServerObjects = {
  roles: ['postgres', 'pg_monitor'],
  databases: ['postgres', 'template0', 'template1'],
  tablespaces: ['pg_default', 'pg_global'],
};

describe('globalsFilter on pg_dumpall --clean', () => {
  it('comments out the DROPs an empty server cannot run, line for line, and lists them', async () => {
    const dump = cleanDump();
    const { output, changes } = await run(dump, { existing: EMPTY });
    const before = dump.split('\n');
    const after = output.split('\n');
    expect(after).toHaveLength(before.length);
    const changed = after.flatMap((l, i) => (l === before[i] ? [] : [before[i]]));
    expect(changed).toEqual([
      'DROP DATABASE backup_test;',
      'DROP DATABASE "Weird ""Name"" db";',
      'DROP TABLESPACE ts1;',
      'DROP ROLE app;',
      'DROP ROLE postgres;',
      'CREATE ROLE postgres;',
      expect.stringMatching(/^ALTER ROLE postgres WITH /),
    ]);
    expect(changes.drops).toEqual([
      {
        line: lineOf(dump, 'DROP DATABASE backup_test;'),
        statement: 'DROP DATABASE backup_test;',
        reason: 'the server has no database backup_test',
      },
      {
        line: lineOf(dump, 'DROP DATABASE "Weird ""Name"" db";'),
        statement: 'DROP DATABASE "Weird ""Name"" db";',
        reason: 'the server has no database Weird "Name" db',
      },
      {
        line: lineOf(dump, 'DROP TABLESPACE ts1;'),
        statement: 'DROP TABLESPACE ts1;',
        reason: 'the server has no tablespace ts1',
      },
      {
        line: lineOf(dump, 'DROP ROLE app;'),
        statement: 'DROP ROLE app;',
        reason: 'the server has no role app',
      },
      {
        line: lineOf(dump, 'DROP ROLE postgres;'),
        statement: 'DROP ROLE postgres;',
        reason: 'the role the drill connects as (a session can never drop its own role)',
      },
    ]);
    // Without remapping the tablespace is left as written.
    expect(output).toContain("CREATE TABLESPACE ts1 OWNER app LOCATION '/srv/pg/ts1';");
  });

  it('lets a DROP run when the server has the object, and IF EXISTS of the bootstrap role never', async () => {
    const dump = cleanDump({
      drops: [
        'DROP DATABASE IF EXISTS backup_test;',
        'DROP ROLE IF EXISTS app;',
        'DROP ROLE IF EXISTS postgres;',
      ],
    });
    const { output, changes } = await run(dump, { existing: { ...EMPTY, roles: ['postgres', 'app'] } });
    expect(output).toContain('\nDROP ROLE IF EXISTS app;\n');
    expect(changes.drops.map((d) => d.statement)).toEqual([
      'DROP DATABASE IF EXISTS backup_test;',
      'DROP ROLE IF EXISTS postgres;',
    ]);
  });

  it('without knowing the server, drops only the bootstrap role’s DROP', async () => {
    const { changes } = await run(cleanDump(), {});
    expect(changes.drops.map((d) => d.statement)).toEqual(['DROP ROLE postgres;']);
  });

  it('never takes a line inside a multi-line string for a statement', async () => {
    const dump = cleanDump({ drops: [], roleComment: 'keep\nDROP ROLE postgres;\nthis' });
    expect(dump).toContain('\nDROP ROLE postgres;\n');
    const { output, changes } = await run(dump, { existing: EMPTY });
    expect(changes.drops).toEqual([]);
    expect(output).toContain('\nDROP ROLE postgres;\n');
  });
});

describe('globalsFilter remapping tablespaces', () => {
  it('makes each CREATE TABLESPACE in place on its own line and records the original LOCATION', async () => {
    const dump = cleanDump({
      drops: [],
      tablespaces: [
        "CREATE TABLESPACE ts1 OWNER app LOCATION '/srv/pg/ts1';",
        `CREATE TABLESPACE "Odd ts" OWNER postgres LOCATION '/srv/o''brien';`,
      ],
    });
    const { output, changes } = await run(dump, { existing: EMPTY, remapTablespaces: true }, 3);
    expect(output.split('\n')).toHaveLength(dump.split('\n').length);
    expect(output).not.toContain('/srv/');
    expect(output).toContain(
      "\nSET allow_in_place_tablespaces = on; CREATE TABLESPACE ts1 OWNER app LOCATION ''; RESET allow_in_place_tablespaces; -- pg-restore-drill: LOCATION made in place (the dump's is kept in the report)\n",
    );
    expect(changes.tablespaces).toEqual([
      {
        line: lineOf(dump, "CREATE TABLESPACE ts1 OWNER app LOCATION '/srv/pg/ts1';"),
        name: 'ts1',
        original: '/srv/pg/ts1',
      },
      {
        line: lineOf(dump, `CREATE TABLESPACE "Odd ts" OWNER postgres LOCATION '/srv/o''brien';`),
        name: 'Odd ts',
        original: "/srv/o'brien",
      },
    ]);
  });

  it('refuses a CREATE TABLESPACE it cannot rewrite instead of replaying it', async () => {
    const dump = cleanDump({
      drops: [],
      tablespaces: ["CREATE TABLESPACE ts1 OWNER app LOCATION '/srv/pg/ts1' WITH (seq_page_cost = 2);"],
    });
    await expect(run(dump, { remapTablespaces: true })).rejects.toBeInstanceOf(TablespaceNotRemappableError);
  });
});

describe('globalsFilter keeping the drill’s own session database', () => {
  it('comments out its DROP and CREATE in its section, never a COPY row that reads the same', async () => {
    const base = pgDumpallText({ notes: ['DROP DATABASE postgres;'] });
    const create =
      "CREATE DATABASE postgres WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE_PROVIDER = libc LOCALE = 'C';";
    const dump = base.replace(
      '\\connect postgres\n',
      `DROP DATABASE postgres;\n${create}\n\n\\connect postgres\n`,
    );
    expect(dump.split('\n').filter((l) => l === 'DROP DATABASE postgres;')).toHaveLength(2);
    const { output, changes } = await run(dump, { existing: EMPTY, keepDatabase: 'postgres' }, 11);
    expect(output.split('\n')).toHaveLength(dump.split('\n').length);
    expect(changes.drops.map((d) => [d.line, d.statement])).toEqual([
      [dump.split('\n').lastIndexOf('DROP DATABASE postgres;') + 1, 'DROP DATABASE postgres;'],
      [dump.split('\n').indexOf(create) + 1, create],
    ]);
    // The COPY row (in backup_test's section, before postgres's) stays.
    expect(output.split('\n').indexOf('DROP DATABASE postgres;')).toBe(
      dump.split('\n').indexOf('DROP DATABASE postgres;'),
    );
    expect(output.split('\n').filter((l) => l === 'DROP DATABASE postgres;')).toHaveLength(1);
  });
});

describe('globalsFilter keeping a database, whatever the chunks', () => {
  const base = pgDumpallText({ notes: ['DROP DATABASE postgres;', 'CREATE DATABASE postgres x;'] });
  const create =
    "CREATE DATABASE postgres WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE_PROVIDER = libc LOCALE = 'C';";
  const dump = base.replace(
    '\\connect postgres\n',
    `DROP DATABASE postgres;\n${create}\n\n\\connect postgres\n`,
  );
  // 1: every byte its own chunk; 97 and 4096: rewritten lines cut at odd places; the whole dump at once.
  it.each([1, 3, 97, 4096, dump.length])('rewrites the same lines at chunks of %i bytes', async (size) => {
    const { output, changes } = await run(dump, { existing: EMPTY, keepDatabase: 'postgres' }, size);
    const before = dump.split('\n');
    const after = output.split('\n');
    expect(after).toHaveLength(before.length);
    // The globals' bootstrap role lines aside, only the kept database's own DROP and CREATE change;
    // the COPY rows that read the same stay.
    const changed = after.flatMap((l, i) =>
      l === before[i] || before[i]?.includes(' ROLE postgres') ? [] : [[i + 1, before[i], l]],
    );
    expect(changed).toEqual([
      [
        before.lastIndexOf('DROP DATABASE postgres;') + 1,
        'DROP DATABASE postgres;',
        "-- pg-restore-drill: DROP DATABASE of the drill's own session database commented out",
      ],
      [
        before.indexOf(create) + 1,
        create,
        "-- pg-restore-drill: CREATE DATABASE of the drill's own session database commented out",
      ],
    ]);
    expect(changes.drops.map((d) => d.line)).toEqual([changed[0]?.[0], changed[1]?.[0]]);
  });
});
