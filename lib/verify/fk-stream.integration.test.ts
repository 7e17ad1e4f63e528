/**
 * Foreign keys counted from the rows deep verification reads back (issue #12), against a real server
 * and real pg_dumpall output: orphans let in behind the keys' backs are counted as the server's own
 * NOT EXISTS query counts them, whatever the read order and the sessions; every key the stream cannot
 * count exactly goes to the server and says why.
 */
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpAll, psql, startTestCluster } from '../../test/support/cluster.ts';
import { copyDigest, type TableDigest } from '../dump/copy-digest.ts';
import type { Executor } from '../exec/executor.ts';
import { hostExecutor } from '../exec/host.ts';
import { withClient } from '../pg/databases.ts';
import { hostBinDir, type StartedTarget } from '../targets/target.ts';
import { checkForeignKeys, type ForeignKeyFact } from './constraints.ts';
import { startDeepChecks } from './deep-checks.ts';
import { MIN_RANGE_BLOCKS } from './read-plan.ts';

let server: StartedTarget;
let digests: TableDigest[];

const SHAPES = `
  CREATE TABLE customers (id int PRIMARY KEY, name text);
  CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int REFERENCES customers, note text);
  INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 300) g;
  INSERT INTO orders SELECT g, CASE WHEN g % 50 = 0 THEN NULL ELSE 1 + g % 300 END, 'n\\t' || g FROM generate_series(1, 3000) g;
  CREATE TABLE wide_parents (id bigint PRIMARY KEY);
  CREATE TABLE narrow_children (parent int REFERENCES wide_parents);
  INSERT INTO wide_parents SELECT g * 3 FROM generate_series(1, 100) g;
  INSERT INTO narrow_children SELECT g * 3 FROM generate_series(1, 100) g;
  CREATE TABLE n_parent (id numeric PRIMARY KEY);
  CREATE TABLE n_child (p numeric REFERENCES n_parent);
  INSERT INTO n_parent VALUES (1.5), (2);
  INSERT INTO n_child VALUES (1.50), (2.0);
  CREATE COLLATION nd (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
  CREATE TABLE ci_parent (code text COLLATE nd PRIMARY KEY);
  CREATE TABLE ci_child (code text COLLATE nd REFERENCES ci_parent);
  INSERT INTO ci_parent VALUES ('Abc');
  INSERT INTO ci_child VALUES ('aBC');
  CREATE TABLE d_parent (code text PRIMARY KEY);
  CREATE TABLE d_child (code varchar REFERENCES d_parent);
  INSERT INTO d_parent VALUES (E'tab\\there'), (E'back\\\\slash'), ('plain');
  INSERT INTO d_child VALUES (E'tab\\there'), (E'back\\\\slash'), ('plain'), (NULL);
  CREATE TABLE p_parent (id int PRIMARY KEY);
  CREATE TABLE p_child (id int, parent int REFERENCES p_parent) PARTITION BY RANGE (id);
  CREATE TABLE p_child_low PARTITION OF p_child FOR VALUES FROM (0) TO (100);
  CREATE TABLE p_child_high PARTITION OF p_child FOR VALUES FROM (100) TO (200);
  INSERT INTO p_parent SELECT generate_series(1, 10);
  INSERT INTO p_child SELECT g, 1 + g % 10 FROM generate_series(0, 199) g;
  CREATE TABLE i_parent (id int PRIMARY KEY);
  CREATE TABLE i_parent_kid () INHERITS (i_parent);
  CREATE TABLE i_child (p int REFERENCES i_parent);
  INSERT INTO i_parent VALUES (1);
  INSERT INTO i_child VALUES (1);
  CREATE TABLE m_parent (a int, b text, PRIMARY KEY (a, b));
  CREATE TABLE m_child (b text, a int, FOREIGN KEY (a, b) REFERENCES m_parent (a, b));
  INSERT INTO m_parent VALUES (1, 'x'), (2, 'y');
  INSERT INTO m_child VALUES ('x', 1), ('y', 2), ('y', NULL), (NULL, 7);
  CREATE TABLE mn_parent (a int, b numeric, PRIMARY KEY (a, b));
  CREATE TABLE mn_child (a int, b numeric, FOREIGN KEY (a, b) REFERENCES mn_parent);
  INSERT INTO mn_parent VALUES (1, 1);
  INSERT INTO mn_child VALUES (1, 1);
  CREATE TABLE a_child (id int PRIMARY KEY, parent_id int);
  CREATE TABLE z_parent (id int PRIMARY KEY);
  ALTER TABLE a_child ADD FOREIGN KEY (parent_id) REFERENCES z_parent;
  INSERT INTO z_parent SELECT generate_series(1, 20);
  INSERT INTO a_child SELECT g, 1 + g % 20 FROM generate_series(1, 400) g;
  CREATE TABLE employees (id int PRIMARY KEY, manager int REFERENCES employees);
  INSERT INTO employees VALUES (1, NULL);
  INSERT INTO employees SELECT g, g - 1 FROM generate_series(2, 50) g;
  UPDATE employees SET manager = 50 WHERE id = 1;
  -- Inheritance (a numeric key, so counted on the server): a key binds neither its table's inheritance
  -- children (h_child_kid's 42 is no orphan) nor accepts a key held only by its parent's (g_child's 5 is).
  CREATE TABLE h_parent (id numeric PRIMARY KEY);
  CREATE TABLE h_child (p numeric REFERENCES h_parent);
  CREATE TABLE h_child_kid (extra int) INHERITS (h_child);
  INSERT INTO h_parent VALUES (1);
  INSERT INTO h_child VALUES (1);
  INSERT INTO h_child_kid VALUES (42, 0);
  CREATE TABLE g_parent (id numeric PRIMARY KEY);
  CREATE TABLE g_parent_kid () INHERITS (g_parent);
  CREATE TABLE g_child (p numeric REFERENCES g_parent);
  INSERT INTO g_parent VALUES (1);
  INSERT INTO g_parent_kid VALUES (5);
  INSERT INTO g_child VALUES (1);
  -- A partitioned parent: PostgreSQL adds a copy of cc's key for each partition of pp, which the key's
  -- own check never reads on its own; every row of cc has its parent.
  CREATE TABLE pp (id int PRIMARY KEY) PARTITION BY RANGE (id);
  CREATE TABLE pp_low PARTITION OF pp FOR VALUES FROM (0) TO (100);
  CREATE TABLE pp_high PARTITION OF pp FOR VALUES FROM (100) TO (200);
  INSERT INTO pp SELECT generate_series(0, 199);
  CREATE TABLE cc (id int PRIMARY KEY, p int REFERENCES pp);
  INSERT INTO cc SELECT g, g FROM generate_series(0, 199) g;
  -- MATCH FULL: all NULL is exempt, some NULL is an orphan (7, NULL below).
  CREATE TABLE fp (a int, b int, PRIMARY KEY (a, b));
  CREATE TABLE fc (a int, b int, FOREIGN KEY (a, b) REFERENCES fp MATCH FULL);
  INSERT INTO fp VALUES (1, 1);
  INSERT INTO fc VALUES (1, 1), (NULL, NULL);
  -- Orphans, let in behind the keys' backs (the replica role fires no FK trigger).
  SET session_replication_role = replica;
  INSERT INTO orders VALUES (90001, 9999, 'o'), (90002, 9999, 'o'), (90003, 8888, 'o');
  INSERT INTO narrow_children VALUES (4);
  INSERT INTO d_child VALUES (E'tab\\tHere');
  INSERT INTO m_child VALUES ('y', 1);
  INSERT INTO a_child VALUES (1000, 21), (1001, 22);
  INSERT INTO employees VALUES (60, 61);
  INSERT INTO p_child VALUES (5, 77);
  INSERT INTO g_child VALUES (5);
  INSERT INTO fc VALUES (7, NULL);`;

/** Rows of ~1 kB stored inline: 7 a block, so 3 × MIN_RANGE_BLOCKS blocks, orphans in every range. */
const RANGES = `
  CREATE TABLE parent (id int PRIMARY KEY);
  CREATE TABLE big (id int PRIMARY KEY, parent int REFERENCES parent, note text);
  INSERT INTO parent SELECT generate_series(1, 1000);
  SET session_replication_role = replica;
  INSERT INTO big SELECT g, CASE WHEN g % 3000 = 0 THEN 100000 + g ELSE 1 + g % 1000 END, repeat(md5(g::text), 31)
    FROM generate_series(1, ${7 * 3 * MIN_RANGE_BLOCKS + 100}) g;`;

/** Nothing wrong: one key streamed, one (numeric) counted on the server. */
const CLEAN = `
  CREATE TABLE parent (id int PRIMARY KEY);
  CREATE TABLE child (parent int REFERENCES parent);
  INSERT INTO parent SELECT generate_series(1, 10);
  INSERT INTO child SELECT 1 + g % 10 FROM generate_series(1, 100) g;
  CREATE TABLE n_parent (id numeric PRIMARY KEY);
  CREATE TABLE n_child (p numeric REFERENCES n_parent);
  INSERT INTO n_parent VALUES (1.5);
  INSERT INTO n_child VALUES (1.5);`;

beforeAll(async () => {
  server = await startTestCluster();
  await psql(server.handle, 'postgres', 'CREATE DATABASE shapes');
  await psql(server.handle, 'postgres', 'CREATE DATABASE ranges_fk');
  await psql(server.handle, 'shapes', SHAPES);
  await psql(server.handle, 'ranges_fk', RANGES);
  await psql(server.handle, 'postgres', 'CREATE DATABASE clean_fk');
  await psql(server.handle, 'clean_fk', CLEAN);
  await psql(server.handle, 'ranges_fk', 'VACUUM ANALYZE big');
  const digest = copyDigest();
  await pipeline(Readable.from([await dumpAll(server.handle)]), digest, new PassThrough().resume());
  digests = digest.digests;
}, 240_000);
afterAll(async () => {
  await server?.stop();
});

/** The server's own psql, each COPY script that reads in block ranges counted. */
function counting(): { executor: Executor; rangeReads: () => number } {
  const executor = hostExecutor(hostBinDir(server.handle), server.handle.connection, process.env);
  let ranges = 0;
  return {
    rangeReads: () => ranges,
    executor: {
      ...executor,
      async run(tool, args, options = {}) {
        if (!options.stdin) return executor.run(tool, args, options);
        const chunks: Buffer[] = [];
        for await (const chunk of options.stdin) chunks.push(chunk as Buffer);
        const script = Buffer.concat(chunks);
        if (script.includes('ctid >= ')) ranges++;
        return executor.run(tool, args, { ...options, stdin: Readable.from([script]) });
      },
    },
  };
}

/** The deep checks of one database; its FK facts by constraint name. */
async function deepFacts(database: string, parallel: number, expected = digests) {
  const { executor, rangeReads } = counting();
  const checks = startDeepChecks({
    tables: {
      executor,
      expected: expected.filter((d) => d.database === database),
      clock: () => performance.now(),
      parallel,
    },
    constraints: {
      databases: [{ database, restoredDatabase: database }],
      withDatabase: (db, fn) => withClient(server.handle.connection, db, fn),
    },
  });
  const [tables, constraints] = await Promise.all([checks.tables, checks.constraints]);
  const facts = (constraints.facts.databases as { foreignKeys: ForeignKeyFact[] }[])[0]?.foreignKeys ?? [];
  return {
    tables,
    constraints,
    rangeReads: rangeReads(),
    byName: new Map(facts.map((f) => [`${f.table}.${f.name}`, f])),
  };
}

/** The server's NOT EXISTS count of every FK of the database (the check without the read-back). */
async function serverCounts(database: string): Promise<Map<string, number>> {
  const verdict = await withClient(server.handle.connection, database, (c) => checkForeignKeys(c));
  const facts = verdict.facts.foreignKeys as ForeignKeyFact[];
  expect(facts.every((f) => f.counted === 'server')).toBe(true);
  return new Map(facts.map((f) => [`${f.table}.${f.name}`, f.orphans]));
}

const summaries = (byName: Map<string, ForeignKeyFact>) =>
  Object.fromEntries([...byName].map(([name, f]) => [name, `${f.counted}: ${f.how}`]));

describe('foreign keys counted from the read-back', () => {
  it('counts what the server counts, per key, and says which way and against what', async () => {
    const { constraints, byName, tables } = await deepFacts('shapes', 3);
    expect(tables.verdict.ok).toBe(true);
    expect(summaries(byName)).toEqual({
      'public.a_child.a_child_parent_id_fkey':
        'read-back: 402 row(s) checked against 20 key(s) of public.z_parent read back, 2 orphan(s)',
      'public.cc.cc_p_fkey':
        "server: counted on the server (public.pp is partitioned: its keys are its partitions'), 0 orphan(s)",
      'public.ci_child.ci_child_code_fkey':
        'server: counted on the server (code has a nondeterministic collation (equal values, different bytes)), 0 orphan(s)',
      'public.d_child.d_child_code_fkey':
        'read-back: 4 row(s) (1 with a NULL key column exempt) checked against 3 key(s) of public.d_parent read back, 1 orphan(s)',
      'public.employees.employees_manager_fkey':
        'read-back: 51 row(s) checked against 51 key(s) of public.employees read back, 1 orphan(s)',
      'public.fc.fc_a_b_fkey':
        'server: counted on the server (MATCH FULL over several columns: a row with only some key columns NULL is an orphan), 1 orphan(s)',
      'public.g_child.g_child_p_fkey':
        'server: counted on the server (public.g_parent has inheritance children), 1 orphan(s)',
      'public.h_child.h_child_p_fkey':
        'server: counted on the server (key p (type 1700) -> id (type 1700): not a type whose COPY text is canonical for its equality (integers, oid, uuid, bool, text/varchar)), 0 orphan(s)',
      'public.i_child.i_child_p_fkey':
        'server: counted on the server (public.i_parent has inheritance children), 0 orphan(s)',
      'public.m_child.m_child_a_b_fkey':
        'read-back: 3 row(s) (2 with a NULL key column exempt) checked against 2 key(s) of public.m_parent read back, 1 orphan(s)',
      'public.mn_child.mn_child_a_b_fkey':
        'server: counted on the server (key b (type 1700) -> b (type 1700): not a type whose COPY text is canonical for its equality (integers, oid, uuid, bool, text/varchar)), 0 orphan(s)',
      'public.n_child.n_child_p_fkey':
        'server: counted on the server (key p (type 1700) -> id (type 1700): not a type whose COPY text is canonical for its equality (integers, oid, uuid, bool, text/varchar)), 0 orphan(s)',
      'public.narrow_children.narrow_children_parent_fkey':
        'read-back: 101 row(s) checked against 100 key(s) of public.wide_parents read back, 1 orphan(s)',
      'public.orders.orders_customer_id_fkey':
        'read-back: 2943 row(s) (60 with a NULL key column exempt) checked against 300 key(s) of public.customers read back, 3 orphan(s)',
      'public.p_child.p_child_parent_fkey':
        'server: counted on the server (public.p_child is not a plain table (relkind p): its rows are not read back as one table), 1 orphan(s)',
    });
    // The copies of p_child's key on its partitions are not counted again: its one orphan, once.
    expect([...byName.keys()].filter((name) => /^public\.p_child_(low|high)\./.test(name))).toEqual([]);
    const server = await serverCounts('shapes');
    expect(new Map([...byName].map(([name, f]) => [name, f.orphans]))).toEqual(server);
    expect(constraints.ok).toBe(false);
    expect(constraints.summary).toContain('shapes: public.a_child.a_child_parent_id_fkey: 2 orphan row(s); ');
  });

  it('a pass says how many keys were counted which way, and of how many', async () => {
    const { constraints, tables } = await deepFacts('clean_fk', 3);
    expect(tables.verdict.ok).toBe(true);
    expect({ ok: constraints.ok, summary: constraints.summary }).toEqual({
      ok: true,
      summary:
        '2 foreign key(s) validated without orphans (1 counted from the rows read back, 1 on the server) and 0 owned sequence(s) beyond their columns, in 1 database(s)',
    });
  });

  it('gives the same counts read on one session (a child before its parent) as on three', async () => {
    const one = await deepFacts('shapes', 1);
    const three = await deepFacts('shapes', 3);
    const counts = (byName: Map<string, ForeignKeyFact>) =>
      [...byName].map(([name, f]) => [name, f.counted, f.orphans, f.how]);
    expect(counts(one.byName)).toEqual(counts(three.byName));
    expect(one.byName.get('public.a_child.a_child_parent_id_fkey')?.counted).toBe('read-back');
  });

  it('a child read in block ranges on several sessions: the same orphans as the server counts', async () => {
    const { byName, rangeReads, tables } = await deepFacts('ranges_fk', 3);
    expect(tables.verdict.ok).toBe(true);
    expect(rangeReads).toBeGreaterThan(1);
    expect(summaries(byName)).toEqual({
      'public.big.big_parent_fkey': `read-back: ${7 * 3 * MIN_RANGE_BLOCKS + 100} row(s) checked against 1000 key(s) of public.parent read back, 7 orphan(s)`,
    });
    expect(new Map([...byName].map(([name, f]) => [name, f.orphans]))).toEqual(
      await serverCounts('ranges_fk'),
    );
  });

  it('a parent that could not be read back: its keys are counted on the server, never on half the rows', async () => {
    const broken = digests.map((d) =>
      d.database === 'shapes' && d.table === 'public.customers' ? { ...d, columns: 'id, nosuch' } : d,
    );
    const { byName, tables } = await deepFacts('shapes', 3, broken);
    expect(tables.verdict.ok).toBe(false);
    expect(byName.get('public.orders.orders_customer_id_fkey')).toEqual({
      name: 'orders_customer_id_fkey',
      table: 'public.orders',
      references: 'public.customers',
      validated: true,
      orphans: 3,
      counted: 'server',
      how: 'counted on the server after the read-back (public.customers was not read back (column "nosuch" of relation "customers" does not exist)), 3 orphan(s)',
    });
  });
});
