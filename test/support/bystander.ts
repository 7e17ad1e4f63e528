import { createHash } from 'node:crypto';
import { withClient } from '../../lib/pg/databases.ts';
import type { TargetHandle } from '../../lib/targets/target.ts';
import { psql, toolOutput } from './cluster.ts';

// A database the drill must never touch, on the server it drills, and the means to prove it did not:
// its content as COPY text, table by table in a fixed order, and the server's roles with their password
// verifiers, each hashed.

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
     GRANT SELECT ON accounts TO ${BYSTANDER_ROLE};`,
  );
}

export interface BystanderSnapshot {
  /** `-- schema.table` then its COPY text, for every table in name order. */
  content: Buffer;
  contentSha256: string;
  /** `rolname<TAB>rolpassword` lines of pg_authid, by name. */
  roles: Buffer;
  rolesSha256: string;
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
  const roles = Buffer.from(
    await withClient(target.connection, target.connection.database, async (client) => {
      const { rows } = await client.query<{ rolname: string; rolpassword: string | null }>(
        'SELECT rolname, rolpassword FROM pg_authid ORDER BY 1',
      );
      return rows.map((r) => `${r.rolname}\t${r.rolpassword ?? '\\N'}\n`).join('');
    }),
  );
  return { content, contentSha256: sha256(content), roles, rolesSha256: sha256(roles) };
}

/** Bytes that differ between two snapshots (content and roles): differing positions plus the length change. */
export function bytesChanged(before: BystanderSnapshot, after: BystanderSnapshot): number {
  const diff = (a: Buffer, b: Buffer) => {
    let n = Math.abs(a.length - b.length);
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) n++;
    return n;
  };
  return diff(before.content, after.content) + diff(before.roles, after.roles);
}
