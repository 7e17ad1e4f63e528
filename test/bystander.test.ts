/**
 * The bystander snapshot has teeth: each kind of change a drill could make to a database it must not
 * touch (rows, schema, grants, database and role settings, roles) changes exactly its part of the
 * snapshot, and a snapshot taken twice with no change between is the same.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StartedTarget } from '../lib/targets/target.ts';
import {
  BYSTANDER,
  BYSTANDER_ROLE,
  type BystanderSnapshot,
  bytesChanged,
  createBystander,
  fingerprint,
  snapshotBystander,
} from './support/bystander.ts';
import { psql, startTestCluster } from './support/cluster.ts';

let server: StartedTarget;
let last: BystanderSnapshot;

beforeAll(async () => {
  server = await startTestCluster();
  await createBystander(server.handle, 'bystander-test-password');
  last = await snapshotBystander(server.handle);
});
afterAll(async () => {
  await server?.stop();
});

/** Which parts of the snapshot changed since the last call. */
async function changedParts(): Promise<string[]> {
  const now = await snapshotBystander(server.handle);
  const [before, after] = [fingerprint(last), fingerprint(now)];
  const changed = Object.keys(after).filter(
    (k) => after[k as keyof typeof after] !== before[k as keyof typeof before],
  );
  expect(bytesChanged(last, now) > 0).toBe(changed.length > 0);
  last = now;
  return changed;
}

describe('the bystander snapshot', () => {
  it('is the same when nothing changed, and covers every object, grant and setting it was given', async () => {
    expect(await changedParts()).toEqual([]);
    const schema = last.schema.toString('utf8');
    for (const made of [
      'CREATE TABLE public.accounts',
      'CREATE VIEW public.recent',
      'CREATE FUNCTION public.balance_of(integer)',
      'CREATE INDEX events_at',
      "COMMENT ON TABLE public.accounts IS 'money: the drill must not touch it';",
      `GRANT SELECT ON TABLE public.accounts TO ${BYSTANDER_ROLE};`,
      'REVOKE ALL ON FUNCTION public.balance_of(integer) FROM PUBLIC;',
    ]) {
      expect(schema).toContain(made);
    }
    expect(schema).not.toMatch(/^\\(un)?restrict /m);
    // The database's row (owner, connection limit, allowconn, istemplate, ACL), then its settings.
    expect(last.settings.toString('utf8').split('\n')).toEqual([
      `${BYSTANDER}\tpostgres\t40\tt\tf\t{=T/postgres,postgres=CTc/postgres,${BYSTANDER_ROLE}=c/postgres}`,
      `*\t${BYSTANDER_ROLE}\t{statement_timeout=9s}`,
      `${BYSTANDER}\t*\t{work_mem=7MB}`,
      `${BYSTANDER}\t${BYSTANDER_ROLE}\t{search_path=public}`,
      '',
    ]);
  });

  it.each([
    ['a row', `UPDATE accounts SET balance = balance + 1 WHERE id = 1`, BYSTANDER, ['content']],
    ['a grant', `GRANT INSERT ON accounts TO ${BYSTANDER_ROLE}`, BYSTANDER, ['schema']],
    ['an index', 'CREATE INDEX accounts_owner ON accounts (owner)', BYSTANDER, ['schema']],
    ['a comment', "COMMENT ON VIEW recent IS 'changed'", BYSTANDER, ['schema']],
    ['a database setting', `ALTER DATABASE ${BYSTANDER} SET work_mem = '8MB'`, 'postgres', ['settings']],
    [
      'a database grant',
      `GRANT CREATE ON DATABASE ${BYSTANDER} TO ${BYSTANDER_ROLE}`,
      'postgres',
      ['settings'],
    ],
    [
      'a role setting',
      `ALTER ROLE ${BYSTANDER_ROLE} SET statement_timeout = '10s'`,
      'postgres',
      ['settings'],
    ],
    ['a role password', `ALTER ROLE ${BYSTANDER_ROLE} PASSWORD 'another'`, 'postgres', ['roles']],
    ['a role attribute', `ALTER ROLE ${BYSTANDER_ROLE} CREATEDB`, 'postgres', ['roles']],
    ['a membership', `GRANT pg_read_all_data TO ${BYSTANDER_ROLE}`, 'postgres', ['roles']],
  ])('sees %s changed, in that part only', async (_what, sql, database, parts) => {
    await psql(server.handle, database, sql);
    expect(await changedParts()).toEqual(parts);
  });
});
