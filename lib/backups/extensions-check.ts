import type { DumpNeed } from '../dump/dump-requirements.ts';
import { ExtensionMissingError } from '../errors.ts';

/** Extensions of PostgreSQL's own contrib tree: in the server package (Debian) or -contrib (RPM). */
const CONTRIB = new Set(
  'adminpack amcheck autoinc bloom btree_gin btree_gist citext cube dblink dict_int dict_xsyn earthdistance file_fdw fuzzystrmatch hstore insert_username intagg intarray isn lo ltree moddatetime old_snapshot pageinspect pg_buffercache pg_freespacemap pg_prewarm pg_stat_statements pg_surgery pg_trgm pg_visibility pg_walinspect pgcrypto pgrowlocks pgstattuple postgres_fdw refint seg sslinfo tablefunc tcn tsm_system_rows tsm_system_time unaccent uuid-ossp xml2'.split(
    ' ',
  ),
);

/** Well-known extensions outside PostgreSQL itself: their Debian package (apt.postgresql.org) and image. */
function knownProvider(name: string, major: number): string | undefined {
  const deb = (pkg: string) => `the Debian package postgresql-${major}-${pkg} (apt.postgresql.org)`;
  if (name.startsWith('postgis') || name.startsWith('address_standardizer')) {
    return `${deb('postgis-3')}, or an image that carries it (postgis/postgis:${major}-3.5)`;
  }
  const debian: Record<string, string> = {
    vector: 'pgvector',
    pg_cron: 'cron',
    pg_partman: 'partman',
    pgaudit: 'pgaudit',
    pg_repack: 'repack',
    hypopg: 'hypopg',
    pg_hint_plan: 'pg-hint-plan',
    orafce: 'orafce',
    pgrouting: 'pgrouting',
    h3: 'h3',
    pg_squeeze: 'squeeze',
    pgtap: 'pgtap',
    ip4r: 'ip4r',
    pg_similarity: 'similarity',
    periods: 'periods',
    plpgsql_check: 'plpgsql-check',
    tds_fdw: 'tds-fdw',
    mysql_fdw: 'mysql-fdw',
    oracle_fdw: 'oracle-fdw',
  };
  const pkg = debian[name];
  if (pkg) {
    return `${deb(pkg)}${name === 'vector' ? `, or an image that carries it (pgvector/pgvector:pg${major})` : ', or an image that carries it'}`;
  }
  if (name === 'timescaledb') {
    return `TimescaleDB's package timescaledb-2-postgresql-${major} (packagecloud.io/timescale), or the timescale/timescaledb image`;
  }
  if (name === 'plpython3u') return `the Debian package postgresql-plpython3-${major}`;
  if (name === 'plperl' || name === 'plperlu') return `the Debian package postgresql-plperl-${major}`;
  if (name === 'pltcl' || name === 'pltclu') return `the Debian package postgresql-pltcl-${major}`;
  return undefined;
}

/** What provides an extension, for the operator's next step. */
export function extensionProvider(name: string, major: number): string {
  if (CONTRIB.has(name)) {
    return `PostgreSQL's contrib modules (Debian: part of postgresql-${major}; RPM: postgresql${major}-contrib; the official postgres image has them)`;
  }
  return (
    knownProvider(name, major) ??
    `its own package for PostgreSQL ${major} (its ${name}.control file goes to \`pg_config --sharedir\`/extension on the target), or an image that carries it`
  );
}

/** What the check compared, for the step's facts. */
export interface ExtensionsChecked {
  needed: string[];
  /** How many extensions the target offers. */
  available: number;
}

/**
 * Fails before any server database is written when the dump creates an extension the target does
 * not offer: the restore would stop at that line (or, worse, leave the tables that need it behind).
 * Names each missing extension, the dump line that creates it, and what provides it.
 */
export function checkExtensions(
  file: string,
  needs: readonly DumpNeed[],
  available: readonly string[],
  target: { description: string; major: number },
): ExtensionsChecked {
  const offered = new Set(available);
  const needed = [...new Set(needs.map((n) => n.name))];
  const missing = needed.filter((name) => !offered.has(name));
  if (missing.length > 0) {
    const each = missing.map((name) => {
      const first = needs.find((n) => n.name === name) as DumpNeed;
      const where = `line ${first.line}${first.database ? `, database ${first.database}` : ''}`;
      return `${name} (${where}: \`${first.statement}\`) comes from ${extensionProvider(name, target.major)}`;
    });
    throw new ExtensionMissingError(
      file,
      missing,
      `${file} creates ${missing.length} extension(s) that ${target.description} does not offer (pg_available_extensions), so the restore was not started: ${each.join('; ')}. Install it on the target, or restore into a server that has it.`,
    );
  }
  return { needed, available: offered.size };
}
