import { mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NoBackupsError } from '../errors.ts';
import { newest } from './backup-source.ts';
import { directorySource, requireCandidates } from './directory-source.ts';
import { describeNaming, parseBackupPattern } from './naming.ts';

const naming = parseBackupPattern('postgres-backup-{timestamp}', 'YYYY-MM-DD-HHmmss');
const REJECTED_STAMP = 'is not a valid YYYY-MM-DD-HHmmss date (UTC); never chosen';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drill-test-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function put(name: string, content: string, mtime?: Date): Promise<void> {
  await writeFile(join(dir, name), content);
  if (mtime) await utimes(join(dir, name), mtime, mtime);
}

describe('directorySource', () => {
  it('resolves its location', () => {
    expect(directorySource(`${dir}/./sub/..`, naming).location).toBe(dir);
  });

  it('orders candidates by the time in the name, not by mtime', async () => {
    // The oldest backup was touched last, the newest first: mtime would pick the wrong one.
    await put('postgres-backup-2026-11-22-031500.sql.gz', 'a', new Date('2026-11-24T12:00:00Z'));
    await put('postgres-backup-2026-11-24-031500.sql.gz', 'ccc', new Date('2026-11-20T12:00:00Z'));
    await put('postgres-backup-2026-11-23-031500.sql.gz', 'bb', new Date('2026-11-22T12:00:00Z'));

    const discovery = await directorySource(dir, naming).discover();

    expect(discovery).toEqual({
      location: dir,
      candidates: [
        {
          name: 'postgres-backup-2026-11-24-031500.sql.gz',
          path: join(dir, 'postgres-backup-2026-11-24-031500.sql.gz'),
          takenAt: new Date('2026-11-24T03:15:00Z'),
          sizeBytes: 3,
          format: 'plain',
          compression: 'gzip',
        },
        {
          name: 'postgres-backup-2026-11-23-031500.sql.gz',
          path: join(dir, 'postgres-backup-2026-11-23-031500.sql.gz'),
          takenAt: new Date('2026-11-23T03:15:00Z'),
          sizeBytes: 2,
          format: 'plain',
          compression: 'gzip',
        },
        {
          name: 'postgres-backup-2026-11-22-031500.sql.gz',
          path: join(dir, 'postgres-backup-2026-11-22-031500.sql.gz'),
          takenAt: new Date('2026-11-22T03:15:00Z'),
          sizeBytes: 1,
          format: 'plain',
          compression: 'gzip',
        },
      ],
      ignored: [],
      rejected: [],
    });
    expect(newest(discovery)?.name).toBe('postgres-backup-2026-11-24-031500.sql.gz');
    expect(requireCandidates(discovery, naming).name).toBe('postgres-backup-2026-11-24-031500.sql.gz');
  });

  it('lists ignored and rejected names with their reasons, sorted by name', async () => {
    await put('postgres-backup-2026-11-24-031500.sql.gz', 'x');
    await put('postgres-backup-2026-11-25-031500.sql.gz.tmp', 'x');
    await put('postgres-backup-2026-11-24-031500.tar', 'x');
    await put('README', 'x');
    await put('postgres-backup-2026-13-01-000000.sql.gz', 'x');
    await put('postgres-backup-2026-02-30-000000.sql', 'x');
    await mkdir(join(dir, 'postgres-backup-2026-11-26-031500.sql.gz'));

    const discovery = await directorySource(dir, naming).discover();

    expect(discovery.candidates.map((c) => c.name)).toEqual(['postgres-backup-2026-11-24-031500.sql.gz']);
    const notPlain = 'not a backup format we restore (expected .sql.gz, .sql, .dump, .dir)';
    expect(discovery.ignored).toEqual([
      { name: 'README', reason: `does not match ${describeNaming(naming)}` },
      { name: 'postgres-backup-2026-11-24-031500.tar', reason: notPlain },
      { name: 'postgres-backup-2026-11-25-031500.sql.gz.tmp', reason: notPlain },
    ]);
    expect(discovery.rejected).toEqual([
      {
        name: 'postgres-backup-2026-02-30-000000.sql',
        reason: `timestamp \`2026-02-30-000000\` ${REJECTED_STAMP}`,
      },
      { name: 'postgres-backup-2026-11-26-031500.sql.gz', reason: 'not a regular file' },
      {
        name: 'postgres-backup-2026-13-01-000000.sql.gz',
        reason: `timestamp \`2026-13-01-000000\` ${REJECTED_STAMP}`,
      },
    ]);
  });

  it('counts a symlink to a backup as that backup, with the size of its target', async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'drill-test-'));
    try {
      await writeFile(join(elsewhere, 'real.sql.gz'), 'twelve bytes');
      await symlink(join(elsewhere, 'real.sql.gz'), join(dir, 'postgres-backup-2026-11-24-031500.sql.gz'));

      const discovery = await directorySource(dir, naming).discover();

      expect(discovery.candidates).toEqual([
        {
          name: 'postgres-backup-2026-11-24-031500.sql.gz',
          path: join(dir, 'postgres-backup-2026-11-24-031500.sql.gz'),
          takenAt: new Date('2026-11-24T03:15:00Z'),
          sizeBytes: 12,
          format: 'plain',
          compression: 'gzip',
        },
      ]);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('rejects a dangling symlink as unreadable', async () => {
    await symlink(join(dir, 'gone'), join(dir, 'postgres-backup-2026-11-24-031500.sql.gz'));

    const discovery = await directorySource(dir, naming).discover();

    expect(discovery.candidates).toEqual([]);
    expect(discovery.rejected).toEqual([
      { name: 'postgres-backup-2026-11-24-031500.sql.gz', reason: 'cannot be read: ENOENT' },
    ]);
  });

  it('prefers the .sql.gz of the same second over the .sql', async () => {
    await put('postgres-backup-2026-11-24-031500.sql', 'plain');
    await put('postgres-backup-2026-11-24-031500.sql.gz', 'gz');
    await put('postgres-backup-2026-11-23-031500.sql', 'older');

    const discovery = await directorySource(dir, naming).discover();

    expect(discovery.candidates.map((c) => [c.name, c.compression])).toEqual([
      ['postgres-backup-2026-11-24-031500.sql.gz', 'gzip'],
      ['postgres-backup-2026-11-24-031500.sql', 'none'],
      ['postgres-backup-2026-11-23-031500.sql', 'none'],
    ]);
  });

  it('still chooses a zero-byte newest file rather than an older one', async () => {
    await put('postgres-backup-2026-11-23-031500.sql.gz', 'older and whole');
    await put('postgres-backup-2026-11-24-031500.sql.gz', '');

    const discovery = await directorySource(dir, naming).discover();

    expect(requireCandidates(discovery, naming)).toMatchObject({
      name: 'postgres-backup-2026-11-24-031500.sql.gz',
      sizeBytes: 0,
    });
  });

  it('opens a candidate as its stored bytes', async () => {
    await put('postgres-backup-2026-11-24-031500.sql', 'SELECT 1;\n');
    const source = directorySource(dir, naming);
    const [candidate] = (await source.discover()).candidates;
    if (!candidate) throw new Error('no candidate');

    expect(await text(source.open(candidate))).toBe(await readFile(candidate.path, 'utf8'));
  });

  it('throws NoBackupsError for a missing directory, naming it', async () => {
    const missing = join(dir, 'nope');
    await expect(directorySource(missing, naming).discover()).rejects.toMatchObject({
      code: 'DRILL_NO_BACKUPS',
      dir: missing,
      message: `Cannot list backup directory ${missing}: it does not exist. Check --backups / DRILL_BACKUPS.`,
    });
    await expect(directorySource(missing, naming).discover()).rejects.toBeInstanceOf(NoBackupsError);
  });

  it('throws NoBackupsError for a path that is a file', async () => {
    await put('file', 'x');
    await expect(directorySource(join(dir, 'file'), naming).discover()).rejects.toMatchObject({
      code: 'DRILL_NO_BACKUPS',
      message: expect.stringMatching(/: it is not a directory\./),
    });
  });
});

describe('requireCandidates', () => {
  it('throws NoBackupsError naming the directory and the pattern for an empty directory', async () => {
    const discovery = await directorySource(dir, naming).discover();

    expect(() => requireCandidates(discovery, naming)).toThrow(NoBackupsError);
    expect(() => requireCandidates(discovery, naming)).toThrow(
      `No backup found in ${dir}: looked for ${describeNaming(naming)}; the directory is empty. Point --backups at the backup volume or set --backup-pattern.`,
    );
  });

  it('says what was passed over, rejected names first', async () => {
    await put('notes.txt', 'x');
    await put('postgres-backup-2026-13-01-000000.sql.gz', 'x');
    const discovery = await directorySource(dir, naming).discover();

    expect(() => requireCandidates(discovery, naming)).toThrow(
      `; 1 file(s) ignored, 1 rejected: postgres-backup-2026-13-01-000000.sql.gz (timestamp \`2026-13-01-000000\` ${REJECTED_STAMP}); notes.txt (does not match ${describeNaming(naming)}). Point`,
    );
  });
});
