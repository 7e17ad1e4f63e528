import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { directorySource } from './directory-source.ts';
import { parseBackupPattern } from './naming.ts';
import { gzipIsize, sizeSeries } from './size-series.ts';

const naming = parseBackupPattern('postgres-backup-{timestamp}', 'YYYY-MM-DD-HHmmss');
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drill-series-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** SQL text of `lines` lines, unlike from backup to backup (so gzip sizes differ too). */
function sql(lines: number, seed: number): Buffer {
  return Buffer.from(
    Array.from({ length: lines }, (_, i) => `INSERT INTO t VALUES (${i * seed}, 'row ${i}-${seed}');\n`).join(
      '',
    ),
  );
}

describe('sizeSeries', () => {
  it('lists the newest and its predecessors of the same format, newest first, with each gzip ISIZE', async () => {
    const plain: Record<string, Buffer> = {};
    for (let day = 10; day <= 19; day++) {
      const body = sql(100 * day, day);
      plain[`postgres-backup-2026-11-${day}-030000.sql.gz`] = body;
      await writeFile(join(dir, `postgres-backup-2026-11-${day}-030000.sql.gz`), gzipSync(body));
    }
    // Another format beside them, and a newer one the drill did not choose: neither is in the series.
    await writeFile(join(dir, 'postgres-backup-2026-11-18-040000.sql'), sql(5000, 1));
    await writeFile(join(dir, 'postgres-backup-2026-11-20-030000.sql.gz'), gzipSync(sql(10, 1)));
    const discovery = await directorySource(dir, naming).discover();
    const chosen = discovery.candidates.find((c) => c.name === 'postgres-backup-2026-11-19-030000.sql.gz');
    if (!chosen) throw new Error('fixture: no 19th');

    const series = await sizeSeries(discovery.candidates, chosen);

    expect(series.map((p) => p.file)).toEqual(
      [19, 18, 17, 16, 15, 14, 13].map((d) => `postgres-backup-2026-11-${d}-030000.sql.gz`),
    );
    expect(series.map((p) => p.isize)).toEqual(series.map((p) => plain[p.file]?.length));
    expect(series[0]).toMatchObject({ takenAt: '2026-11-19T03:00:00.000Z', fileBytes: chosen.sizeBytes });
  });

  it('reads no size from a file that is not gzip, or too short to hold a trailer', async () => {
    await writeFile(join(dir, 'not-gzip.sql.gz'), sql(100, 1));
    await writeFile(join(dir, 'short.sql.gz'), Buffer.from([0x1f, 0x8b, 8, 0]));
    expect(await gzipIsize(join(dir, 'not-gzip.sql.gz'))).toBeUndefined();
    expect(await gzipIsize(join(dir, 'short.sql.gz'))).toBeUndefined();
  });

  it('gives plain SQL its file size only', async () => {
    await writeFile(join(dir, 'postgres-backup-2026-11-10-030000.sql'), sql(100, 1));
    await writeFile(join(dir, 'postgres-backup-2026-11-11-030000.sql'), sql(200, 1));
    const discovery = await directorySource(dir, naming).discover();
    const [newest] = discovery.candidates;
    if (!newest) throw new Error('fixture: no backup');
    const series = await sizeSeries(discovery.candidates, newest);
    expect(series).toEqual([
      {
        file: 'postgres-backup-2026-11-11-030000.sql',
        takenAt: '2026-11-11T03:00:00.000Z',
        fileBytes: sql(200, 1).length,
      },
      {
        file: 'postgres-backup-2026-11-10-030000.sql',
        takenAt: '2026-11-10T03:00:00.000Z',
        fileBytes: sql(100, 1).length,
      },
    ]);
  });
});
