import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { pgDumpallText } from '../../test/support/dump-text.ts';
import { DatabaseNotInDumpError } from './errors.ts';
import { type DatabaseSection, originalLine, splitDatabase } from './split-database.ts';

const DATABASES = ['Weird "Name" db', 'ünïcødé', "back\\slash 'q'"];
const NOTES = ['-- Database "postgres" dump', '\\\\connect evil', 'BEGIN;', 'ü日本'];

/** A dump whose Weird "Name" db holds large objects, as pg_dump writes them, before its trailer. */
function dumpWithBlobs(): string {
  const dump = pgDumpallText({ databases: DATABASES, notes: NOTES });
  const blobs = [
    'BEGIN;',
    '',
    "SELECT pg_catalog.lo_open('16400', 131072);",
    "SELECT pg_catalog.lowrite(0, '\\x6869');",
    'SELECT pg_catalog.lo_close(0);',
    '',
    'COMMIT;',
    '',
  ].join('\n');
  const marker = '\n--\n-- PostgreSQL database dump complete\n--\n';
  const inWeird = dump.indexOf(marker, dump.indexOf('-- Database "Weird'));
  return `${dump.slice(0, inWeird)}\n${blobs}${dump.slice(inWeird)}`;
}

async function split(
  dump: string | Buffer,
  database: string,
  options: { renameTo?: string; chunk?: number } = {},
): Promise<{ section: DatabaseSection; output: string }> {
  const bytes = Buffer.from(dump);
  const step = options.chunk ?? bytes.length;
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += step) chunks.push(bytes.subarray(i, i + step));
  const splitter = splitDatabase({ database, renameTo: options.renameTo });
  const out: Buffer[] = [];
  const sink = new PassThrough().on('data', (c: Buffer) => out.push(c));
  await pipeline(Readable.from(chunks), splitter, sink);
  return { section: await splitter.section, output: Buffer.concat(out).toString('utf8') };
}

describe('splitDatabase', () => {
  const dump = dumpWithBlobs();
  const lines = dump.split('\n');

  it("emits one database's section, \\connect, CREATE DATABASE and BEGIN/COMMIT turned into comments", async () => {
    const { section, output } = await split(dump, 'Weird "Name" db');
    const banner = lines.indexOf('-- Database "Weird "Name" db" dump') + 1;
    const next = lines.indexOf('-- Database "back\\slash \'q\'" dump') + 1;
    expect(section).toEqual({
      name: 'Weird "Name" db',
      createDatabase: `CREATE DATABASE "Weird ""Name"" db" WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE_PROVIDER = libc LOCALE = 'C.UTF-8';`,
      firstLine: banner,
    });
    // The section runs to the line before the next banner (its opening `--` included).
    const expected = lines.slice(banner - 1, next - 1).map((line, i) => {
      if (line.startsWith('\\connect '))
        return '-- pg-restore-drill: \\connect removed (one database, one transaction)';
      if (line.startsWith('CREATE DATABASE '))
        return '-- pg-restore-drill: CREATE DATABASE left to the caller';
      // BEGIN; among the notes is COPY data and stays; the one two lines before lo_open is pg_dump's.
      const blobs = line === 'COMMIT;' || lines[banner + i + 1]?.startsWith('SELECT pg_catalog.lo_open');
      if ((line === 'BEGIN;' || line === 'COMMIT;') && blobs) {
        return `-- pg-restore-drill: ${line} removed (psql -1 holds the transaction)`;
      }
      return line;
    });
    expect(output.split('\n')).toEqual([...expected, '']);
    expect(output).toContain('\n-- Database "postgres" dump\n\\\\connect evil\nBEGIN;\nü日本\n\\.\n');
    // Line numbers: output line N is dump line originalLine(section, N).
    const copyAt = output.split('\n').indexOf('COPY public.notes (body) FROM stdin;') + 1;
    expect(lines[originalLine(section, copyAt) - 1]).toBe('COPY public.notes (body) FROM stdin;');
  });

  it('gives the same bytes whatever the chunking, multi-byte characters split across chunks included', async () => {
    const whole = await split(dump, 'ünïcødé');
    expect(await split(dump, 'ünïcødé', { chunk: 1 })).toEqual(whole);
    expect(await split(dump, 'ünïcødé', { chunk: 5 })).toEqual(whole);
    expect(whole.output.startsWith('-- Database "ünïcødé" dump\n--\n')).toBe(true);
  });

  it('renames the database in its database-level statements, and only there', async () => {
    const { output } = await split(dump, "back\\slash 'q'", { renameTo: 'drill_1' });
    expect(output.split('\n').filter((l) => l.includes('DATABASE'))).toEqual([
      "-- Name: back\\slash 'q'; Type: DATABASE; Schema: -; Owner: postgres",
      '-- pg-restore-drill: CREATE DATABASE left to the caller',
      'ALTER DATABASE "drill_1" OWNER TO postgres;',
    ]);
  });

  it('keeps template1 and postgres, which come without CREATE DATABASE', async () => {
    const { section, output } = await split(dump, 'postgres');
    expect(section).toEqual({
      name: 'postgres',
      createDatabase: undefined,
      // The first such line is COPY data in another database.
      firstLine: lines.lastIndexOf('-- Database "postgres" dump') + 1,
    });
    expect(output.split('\n').slice(0, 5)).toEqual([
      '-- Database "postgres" dump',
      '--',
      '',
      '-- pg-restore-drill: \\connect removed (one database, one transaction)',
      '',
    ]);
  });

  it('ends the last section at the cluster trailer', async () => {
    const { output } = await split(dump, 'ünïcødé');
    expect(output).toMatch(/\n\\unrestrict \S+\n\n--\n$/);
    expect(output).not.toContain('cluster dump complete');
  });

  it('names the databases the dump holds when the one asked for is not there', async () => {
    const splitter = splitDatabase({ database: 'nope' });
    const piping = pipeline(Readable.from([Buffer.from(dump)]), splitter, new PassThrough().resume());
    await expect(piping).rejects.toThrow(DatabaseNotInDumpError);
    const error = await splitter.section.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatabaseNotInDumpError);
    expect(error).toMatchObject({
      code: 'DRILL_DATABASE_NOT_IN_DUMP',
      database: 'nope',
      found: ['template1', 'Weird "Name" db', "back\\slash 'q'", 'postgres', 'ünïcødé'],
      message: `The dump has no section for database "nope"; it holds "template1", "Weird \\"Name\\" db", "back\\\\slash 'q'", "postgres", "ünïcødé".`,
    });
  });
});
