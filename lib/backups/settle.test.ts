import { appendFile, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { directorySource } from './directory-source.ts';
import { parseBackupPattern } from './naming.ts';
import { settledNewest } from './settle.ts';

const naming = parseBackupPattern('postgres-backup-{timestamp}', 'YYYY-MM-DD-HHmmss');
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'settle-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A clock that moves only when the drill sleeps, and a sleep that lets `writer` act on the real file first. */
function drive(writer: (round: number) => Promise<void>) {
  let now = 0;
  let round = 0;
  return {
    clock: () => now,
    sleep: async (ms: number) => {
      now += ms;
      await writer(++round);
    },
  };
}

describe('settledNewest', () => {
  it('takes a newest backup at once when two looks agree', async () => {
    await writeFile(join(dir, 'postgres-backup-2026-11-21-030000.sql.gz'), 'x');
    const settled = await settledNewest({
      source: directorySource(dir, naming),
      naming,
      intervalMs: 5000,
      waitMs: 600_000,
      ...drive(async () => {}),
    });
    expect([settled.candidate.name, settled.grew, settled.waitedMs]).toEqual([
      'postgres-backup-2026-11-21-030000.sql.gz',
      false,
      0,
    ]);
  });

  it('takes a newest backup last written longer ago than the interval without a second look', async () => {
    const file = join(dir, 'postgres-backup-2026-11-21-030000.sql.gz');
    await writeFile(file, 'x');
    const anHourAgo = new Date(Date.now() - 3600_000);
    await utimes(file, anHourAgo, anHourAgo);
    let sleeps = 0;
    const settled = await settledNewest({
      source: directorySource(dir, naming),
      naming,
      intervalMs: 5000,
      waitMs: 600_000,
      clock: () => 0,
      sleep: async () => {
        sleeps++;
      },
    });
    expect([settled.candidate.name, settled.grew, sleeps]).toEqual([
      'postgres-backup-2026-11-21-030000.sql.gz',
      false,
      0,
    ]);
  });

  it('waits while the newest grows, keeps to it rather than an older complete one, and takes it once it stops', async () => {
    await writeFile(join(dir, 'postgres-backup-2026-11-20-030000.sql.gz'), 'older, complete');
    const newest = join(dir, 'postgres-backup-2026-11-21-030000.sql.gz');
    await writeFile(newest, 'a');
    const growing: string[] = [];
    const settled = await settledNewest({
      source: directorySource(dir, naming),
      naming,
      intervalMs: 5000,
      waitMs: 600_000,
      onGrowing: (c, from, to) => growing.push(`${c.name} ${from.sizeBytes} → ${to.sizeBytes}`),
      ...drive(async (round) => {
        if (round <= 3) await appendFile(newest, 'more');
      }),
    });
    expect(growing).toEqual(['postgres-backup-2026-11-21-030000.sql.gz 1 → 5']);
    expect([settled.candidate.name, settled.look.sizeBytes, settled.grew, settled.waitedMs]).toEqual([
      'postgres-backup-2026-11-21-030000.sql.gz',
      13,
      true,
      20_000,
    ]);
  });

  it('moves on to a newer backup that appears while it waits', async () => {
    await writeFile(join(dir, 'postgres-backup-2026-11-21-030000.sql.gz'), 'a');
    const settled = await settledNewest({
      source: directorySource(dir, naming),
      naming,
      intervalMs: 5000,
      waitMs: 600_000,
      ...drive(async (round) => {
        if (round === 1) await writeFile(join(dir, 'postgres-backup-2026-11-22-030000.sql.gz'), 'b');
      }),
    });
    expect(settled.candidate.name).toBe('postgres-backup-2026-11-22-030000.sql.gz');
  });

  it('fails at the bound saying the backup is still being written', async () => {
    const newest = join(dir, 'postgres-backup-2026-11-21-030000.sql.gz');
    await writeFile(newest, 'a');
    const failure = settledNewest({
      source: directorySource(dir, naming),
      naming,
      intervalMs: 5000,
      waitMs: 12_000,
      ...drive(async () => {
        await appendFile(newest, 'b');
      }),
    });
    await expect(failure).rejects.toMatchObject({
      code: 'DRILL_BACKUP_STILL_BEING_WRITTEN',
      file: newest,
      message: `${newest} is still being written: it grew from 1 to 4 bytes while the drill waited 15.0 s for it (--wait-for-newest / DRILL_WAIT_FOR_NEWEST 12 s). The backup job is still running or hung: check it, and drill again once it has finished. The drill never falls back to an older backup.`,
    });
  });
});
