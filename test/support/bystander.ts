import { createHash } from 'node:crypto';
import { withClient } from '../../lib/pg/databases.ts';
import type { TargetHandle } from '../../lib/targets/target.ts';
import { psql, toolOutput } from './cluster.ts';

// A database the drill must never touch, on the server it drills, and the means to prove it did not:
// its content as COPY text, table by table in a fixed order; its schema with owners and grants
// (`pg_dump -s`); the database's own row (owner, ACL, connection limit) and every database and role
// setting (pg_db_role_setting); and the server's roles with their attributes, memberships and password
// verifiers; each hashed.

export const BYSTANDER = 'bystander';

/** A role with a password in the live server: a drill that replayed the globals would reset it. */
export const BYSTANDER_ROLE = 'app';

/** Creates the bystander database (a table without a primary key and one with), its rows and the role. */
export async function createBystander(target: TargetHandle, rolePassword: string): Promise<void> {
  await psql(target, 'postgres', `CREATE DATABASE ${BYSTANDER}`);
  await psql(target, 'postgres', `CREATE ROLE ${BYSTANDER_ROLE} LOGIN PASSWORD '${rolePassword}'`);
  await psql(
    target,
    BYSTANDER,
    `CREATE TABLE events (at timestamptz, kind text, payload jsonb);
     INSERT INTO events
       SELECT timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute', 'k' || g % 7, jsonb_build_object('n', g)
         FROM generate_series(1, 500) g;
     INSERT INTO events VALUES (NULL, 'dup', NULL), (NULL, 'dup', NULL);
     CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12, 2) NOT NULL);
     INSERT INTO accounts SELECT g, 'owner ' || g, g * 1.25 FROM generate_series(1, 200) g;
     GRANT SELECT ON accounts TO ${BYSTANDER_ROLE};
     CREATE INDEX events_at ON events (at);
     CREATE VIEW recent AS SELECT * FROM events WHERE at > timestamptz '2026-01-01 08:00:00+00';
     CREATE FUNCTION balance_of(int) RETURNS numeric LANGUAGE sql STABLE AS 'SELECT balance FROM accounts WHERE id = $1';
     COMMENT ON TABLE accounts IS 'money: the drill must not touch it';
     GRANT SELECT ON recent TO ${BYSTANDER_ROLE};
     REVOKE EXECUTE ON FUNCTION balance_of(int) FROM PUBLIC;`,
  );
  // Settings a replayed globals section or a stray ALTER would change.
  await psql(target, 'postgres', `ALTER DATABASE ${BYSTANDER} SET work_mem = '7MB'`);
  await psql(target, 'postgres', `ALTER DATABASE ${BYSTANDER} CONNECTION LIMIT 40`);
  await psql(target, 'postgres', `REVOKE CONNECT ON DATABASE ${BYSTANDER} FROM PUBLIC`);
  await psql(target, 'postgres', `GRANT CONNECT ON DATABASE ${BYSTANDER} TO ${BYSTANDER_ROLE}`);
  await psql(target, 'postgres', `ALTER ROLE ${BYSTANDER_ROLE} SET statement_timeout = '9s'`);
  await psql(
    target,
    'postgres',
    `ALTER ROLE ${BYSTANDER_ROLE} IN DATABASE ${BYSTANDER} SET search_path = public`,
  );
}

export interface BystanderSnapshot {
  /** `-- schema.table` then its COPY text, for every table in name order. */
  content: Buffer;
  contentSha256: string;
  /** pg_authid rows (attributes, password verifier) and memberships, by name. */
  roles: Buffer;
  rolesSha256: string;
  /** `pg_dump -s` of the bystander: every object, owner, grant and comment. */
  schema: Buffer;
  schemaSha256: string;
  /** The bystander's pg_database row and every pg_db_role_setting row of the server, by name. */
  settings: Buffer;
  settingsSha256: string;
}

/** The hashes of a snapshot, for one exact comparison of before and after. */
export function fingerprint(
  snapshot: BystanderSnapshot,
): Record<'content' | 'roles' | 'schema' | 'settings', string> {
  return {
    content: snapshot.contentSha256,
    roles: snapshot.rolesSha256,
    schema: snapshot.schemaSha256,
    settings: snapshot.settingsSha256,
  };
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The bystander's content and the server's roles, as they are now. */
export async function snapshotBystander(target: TargetHandle): Promise<BystanderSnapshot> {
  const tables = await withClient(target.connection, BYSTANDER, async (client) => {
    const { rows } = await client.query<{ name: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        ORDER BY n.nspname, c.relname`,
    );
    return rows.map((r) => r.name);
  });
  const parts: string[] = [];
  for (const table of tables) {
    parts.push(
      `-- ${table}\n`,
      await toolOutput(target, 'psql', ['-X', '-d', BYSTANDER, '-c', `COPY ${table} TO STDOUT`]),
    );
  }
  const content = Buffer.from(parts.join(''));
  const { roles, settings } = await withClient(
    target.connection,
    target.connection.database,
    async (client) => {
      const lines = async (sql: string) =>
        (await client.query<{ line: string }>(sql)).rows.map((r) => `${r.line}\n`).join('');
      return {
        roles: Buffer.from(
          (await lines(
            `SELECT concat_ws(E'\\t', rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
                  rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil, coalesce(rolpassword, '\\N')) AS line
             FROM pg_authid ORDER BY rolname`,
          )) +
            (await lines(
              `SELECT concat_ws(E'\\t', 'member', r.rolname, m.rolname, a.admin_option) AS line
               FROM pg_auth_members a JOIN pg_authid r ON r.oid = a.roleid JOIN pg_authid m ON m.oid = a.member
              ORDER BY 1`,
            )),
        ),
        settings: Buffer.from(
          (await lines(
            `SELECT concat_ws(E'\\t', datname, pg_get_userbyid(datdba), datconnlimit, datallowconn, datistemplate,
                  coalesce(datacl::text, '\\N')) AS line
             FROM pg_database WHERE datname = '${BYSTANDER}'`,
          )) +
            (await lines(
              `SELECT concat_ws(E'\\t', coalesce(d.datname, '*'), coalesce(r.rolname, '*'), s.setconfig::text) AS line
               FROM pg_db_role_setting s
               LEFT JOIN pg_database d ON d.oid = s.setdatabase
               LEFT JOIN pg_authid r ON r.oid = s.setrole
              ORDER BY 1`,
            )),
        ),
      };
    },
  );
  // pg_dump 15.14 and later write a random \restrict key per run: not part of the schema.
  const schemaText = await toolOutput(target, 'pg_dump', ['-s', '-d', BYSTANDER]);
  const schema = Buffer.from(
    schemaText
      .split('\n')
      .filter((line) => !/^\\(un)?restrict /.test(line))
      .join('\n'),
  );
  return {
    content,
    contentSha256: sha256(content),
    roles,
    rolesSha256: sha256(roles),
    schema,
    schemaSha256: sha256(schema),
    settings,
    settingsSha256: sha256(settings),
  };
}

/** Bytes that differ between two snapshots (content, roles, schema and settings): differing positions plus the length change. */
export function bytesChanged(before: BystanderSnapshot, after: BystanderSnapshot): number {
  const diff = (a: Buffer, b: Buffer) => {
    let n = Math.abs(a.length - b.length);
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) n++;
    return n;
  };
  return (
    diff(before.content, after.content) +
    diff(before.roles, after.roles) +
    diff(before.schema, after.schema) +
    diff(before.settings, after.settings)
  );
}
