/**
 * The canary was made by hand: its name column's type is the operator's choice. A char(n) column pads
 * each name with blanks (COPY prints them; char(n) ignores them when it compares), an enum holds names
 * as labels, a domain wraps text: each restores alice, bob and charlie, and the drill must pass them; a
 * canary of the same type missing a user must still fail.
 */
import { describe, expect, it } from 'vitest';
import { createDatabase, psql, toolOutput, writeBackup } from './support/cluster.ts';
import { drillSetup } from './support/drill-setup.ts';
import { readReport, runCli } from './support/run-cli.ts';

const setup = drillSetup('drill-name-types-', { dump: false, seed: async () => {} });

/** Five transactions, spread over the users there are. */
const transactions = (users: number) =>
  `CREATE TABLE transactions (id serial PRIMARY KEY, user_id int NOT NULL REFERENCES users, amount numeric);
   INSERT INTO transactions (user_id, amount) SELECT 1 + g % ${users}, g FROM generate_series(1, 5) g;`;

/** Drills a pg_dumpall of the source holding a canary whose users table `ddl` makes, filled with `names`. */
async function drillOf(label: string, ddl: string, names: string[]) {
  await psql(setup.source.handle, 'postgres', 'DROP DATABASE IF EXISTS backup_test');
  const values = names.map((n) => `('${n}')`).join(', ');
  await createDatabase(
    setup.source.handle,
    'backup_test',
    `${ddl}; INSERT INTO users (name) VALUES ${values}; ${transactions(names.length)}`,
  );
  const dir = await setup.freshDir(`backups-${label}`);
  await writeBackup(dir, '2026-11-21-030000', await toolOutput(setup.source.handle, 'pg_dumpall', ['-w']));
  const reports = await setup.freshDir(`report-${label}`);
  const run = await runCli([
    ...['--backups', dir, '--report-dir', reports, '--target', 'local', '--temp-dir', setup.scratch],
    ...['--progress', 'off'],
  ]);
  const users = (await readReport(reports)).checks.find(
    (c) => c.id === 'verify-users-are-exactly-alice-bob-and-charlie',
  );
  return { ...run, users };
}

describe('the canary name column as the operator typed it', () => {
  it.each([
    ['char(10)', 'CREATE TABLE users (id serial PRIMARY KEY, name char(10) NOT NULL)'],
    [
      'an enum',
      "CREATE TYPE who AS ENUM ('alice', 'bob', 'charlie', 'dave'); CREATE TABLE users (id serial PRIMARY KEY, name who NOT NULL)",
    ],
    [
      'a domain over char(8)',
      'CREATE DOMAIN short_name AS char(8); CREATE TABLE users (id serial PRIMARY KEY, name short_name NOT NULL)',
    ],
    [
      'a domain over a domain over char(8)',
      'CREATE DOMAIN short_name AS char(8); CREATE DOMAIN login AS short_name; CREATE TABLE users (id serial PRIMARY KEY, name login NOT NULL)',
    ],
  ])('%s: passes, and fails without bob', async (label, ddl) => {
    const good = await drillOf(label, ddl, ['alice', 'bob', 'charlie']);
    expect(good.users?.message, good.stdout).toMatch(
      /^public\.users\.name holds exactly alice, bob, charlie/,
    );
    expect(good.code, good.stdout).toBe(0);
    const bad = await drillOf(`${label}-no-bob`, ddl, ['alice', 'charlie']);
    expect(bad.users?.status, bad.stdout).toBe('failed');
    expect(bad.code).toBe(1);
  });
});
