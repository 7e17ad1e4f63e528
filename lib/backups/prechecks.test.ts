import { describe, expect, it } from 'vitest';
import type { DumpNeed, DumpRequirements } from '../dump/dump-requirements.ts';
import { ExtensionMissingError, TablespaceMissingError } from '../errors.ts';
import { checkExtensions, extensionProvider } from './extensions-check.ts';
import { checkTablespaces } from './tablespaces-check.ts';

const need = (name: string, line: number, statement: string, database?: string): DumpNeed => ({
  name,
  line,
  database,
  statement,
});

function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('did not throw');
}

describe('checkExtensions', () => {
  const target = { description: 'the target', major: 15 };

  it('fails naming each missing extension, its line and what provides it', () => {
    const needs = [
      need('postgis', 40, 'CREATE EXTENSION IF NOT EXISTS postgis WITH SCHEMA public;', 'gis'),
      need('pgcrypto', 41, 'CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public;', 'gis'),
      need('acme_magic', 90, 'CREATE EXTENSION IF NOT EXISTS acme_magic WITH SCHEMA public;', 'app'),
    ];
    const error = thrown(() => checkExtensions('b.sql.gz', needs, ['plpgsql', 'pgcrypto'], target));
    expect(error).toBeInstanceOf(ExtensionMissingError);
    expect((error as ExtensionMissingError).extensions).toEqual(['postgis', 'acme_magic']);
    expect(error.message).toBe(
      'b.sql.gz creates 2 extension(s) that the target does not offer (pg_available_extensions), so the restore was not started: postgis (line 40, database gis: `CREATE EXTENSION IF NOT EXISTS postgis WITH SCHEMA public;`) comes from the Debian package postgresql-15-postgis-3 (apt.postgresql.org), or an image that carries it (postgis/postgis:15-3.5); acme_magic (line 90, database app: `CREATE EXTENSION IF NOT EXISTS acme_magic WITH SCHEMA public;`) comes from its own package for PostgreSQL 15 (its acme_magic.control file goes to `pg_config --sharedir`/extension on the target), or an image that carries it. Install it on the target, or restore into a server that has it.',
    );
  });

  it('passes and says what it compared when the target offers every one', () => {
    expect(
      checkExtensions(
        'b',
        [need('pgcrypto', 1, 'x'), need('pgcrypto', 9, 'x')],
        ['pgcrypto', 'plpgsql'],
        target,
      ),
    ).toEqual({
      needed: ['pgcrypto'],
      available: 2,
    });
  });

  it('knows contrib and the well-known ones', () => {
    expect(extensionProvider('pg_trgm', 16)).toMatch(
      /^PostgreSQL's contrib modules \(Debian: part of postgresql-16/,
    );
    expect(extensionProvider('vector', 16)).toMatch(/postgresql-16-pgvector .*pgvector\/pgvector:pg16/);
    expect(extensionProvider('timescaledb', 16)).toMatch(/timescaledb-2-postgresql-16/);
  });
});

describe('checkTablespaces', () => {
  const requirements: DumpRequirements = {
    extensions: [],
    tablespacesCreated: [need('ts1', 30, "CREATE TABLESPACE ts1 OWNER app LOCATION '/srv/ts1';")],
    tablespacesUsed: [
      need('ts1', 200, 'SET default_tablespace = ts1;', 'backup_test'),
      need('ts1', 400, 'SET default_tablespace = ts1;', 'other'),
    ],
  };
  const server = { existing: ['pg_default', 'pg_global'], inPlace: true, description: 'the live server' };

  it('a whole cluster: the dump’s tablespaces are made in place', () => {
    expect(checkTablespaces('b', requirements, { cluster: true }, server)).toEqual({
      remapped: [{ name: 'ts1', line: 30 }],
      used: ['ts1'],
    });
  });

  it('a whole cluster: without allow_in_place_tablespaces it refuses rather than write to the source’s paths', () => {
    const error = thrown(() =>
      checkTablespaces('b', requirements, { cluster: true }, { ...server, inPlace: false }),
    );
    expect(error).toBeInstanceOf(TablespaceMissingError);
    expect(error.message).toMatch(/lacks allow_in_place_tablespaces/);
  });

  it('a section: fails naming the tablespace, its line and the fix when the server lacks it', () => {
    const error = thrown(() =>
      checkTablespaces('b', requirements, { cluster: false, database: 'backup_test' }, server),
    );
    expect(error).toBeInstanceOf(TablespaceMissingError);
    expect(error.message).toBe(
      "the section of backup_test needs tablespace(s) ts1 (line 200: `SET default_tablespace = ts1;`), which the live server does not have, so nothing was written. Create it on the server first (CREATE TABLESPACE ts1 LOCATION '<an empty directory the server owns>'), or drill the whole cluster into a throwaway server (--mode cluster --target local or container), where the drill makes every tablespace the dump creates inside the server's own directory.",
    );
  });

  it('a section: passes when the server has it, and looks only at that section', () => {
    expect(
      checkTablespaces(
        'b',
        requirements,
        { cluster: false, database: 'backup_test' },
        { ...server, existing: ['ts1'] },
      ),
    ).toEqual({
      remapped: [],
      used: ['ts1'],
    });
    expect(checkTablespaces('b', requirements, { cluster: false, database: 'third' }, server).used).toEqual(
      [],
    );
  });
});
