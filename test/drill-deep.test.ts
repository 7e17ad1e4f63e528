/**
 * --verify deep through the CLI: a backup of several databases with awkward names and content passes
 * table by table, and a backup whose restore ends up with one altered row fails naming that table.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import type { StartedTarget } from '../lib/targets/target.ts';
import { AWKWARD_DATABASES, createAwkwardDatabases, dumpAllBytes } from './support/awkward-cluster.ts';
import { startTestCluster } from './support/cluster.ts';
import { deepDrill } from './support/run-cli.ts';

let source: StartedTarget;
let dump: Buffer;
let scratch: string;

beforeAll(async () => {
  source = await startTestCluster();
  await seedCanary(source.handle, 'backup_test');
  await createAwkwardDatabases(source.handle);
  dump = await dumpAllBytes(source.handle);
  scratch = await mkdtemp(join(tmpdir(), 'drill-deep-test-'));
  await chmod(scratch, 0o777);
}, 180_000);
afterAll(async () => {
  await source?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

function drill(name: string, bytes: Buffer) {
  return deepDrill(scratch, name, bytes);
}

describe('--verify deep', () => {
  it('passes on awkward databases: every table, row for row', async () => {
    const { code, stdout, report } = await drill('awkward', dump);
    expect(code, stdout).toBe(0);
    const tables = report.deep?.tables ?? [];
    const databases = new Set(tables.map((t) => t.database));
    for (const name of [...AWKWARD_DATABASES, 'backup_test']) expect(databases.has(name), name).toBe(true);
    expect(tables.filter((t) => !t.digestMatch)).toEqual([]);
    expect(tables.length).toBeGreaterThan(20);
  });

  it('fails naming the database and table when one restored row differs from the backup', async () => {
    // A statement after the COPY block changes one row: the restore succeeds, the content does not match.
    const text = dump.toString('latin1');
    const copy = text.indexOf('COPY public.texts (id, body) FROM stdin;');
    const end = text.indexOf('\n\\.\n', copy) + 4;
    const tampered = Buffer.from(
      `${text.slice(0, end)}UPDATE public.texts SET body = 'tampered' WHERE id = 5;\n${text.slice(end)}`,
      'latin1',
    );
    const { code, report } = await drill('tampered', tampered);
    expect(code).toBe(1);
    const deep = report.checks.find((c) => c.id === 'verify-every-table-matches-the-backup');
    expect(deep?.status).toBe('failed');
    const bad = (report.deep?.tables ?? []).filter((t) => !t.digestMatch);
    expect(bad.map((t) => [t.table, t.dumpRows, t.restoredRows])).toEqual([['public.texts', 12, 12]]);
    expect(deep?.message).toContain(`${bad[0]?.database}`);
    expect(deep?.message).toContain('public.texts');
  });
});
