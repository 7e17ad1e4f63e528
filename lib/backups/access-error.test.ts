import { spawnSync } from 'node:child_process';
import { chmod, chown, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { accessDeniedError } from './access-error.ts';

const NAME = 'postgres-backup-2026-11-24-031500.sql.gz';
/** Bitnami's PostgreSQL user, the backup job's owner in the operator's cluster. */
const BACKUP_UID = 1001;
/**
 * The discovery as the drill runs it, in a process without root's power to read past file permissions
 * (as the CronJob's UID 10001 has none), as the fault matrix runs the drill. Prints the error as JSON.
 */
const DISCOVER = `
const { directorySource } = await import(${JSON.stringify(join(import.meta.dirname, 'directory-source.ts'))});
const { parseBackupPattern } = await import(${JSON.stringify(join(import.meta.dirname, 'naming.ts'))});
const naming = parseBackupPattern('postgres-backup-{timestamp}', 'YYYY-MM-DD-HHmmss');
try {
  const found = await directorySource(process.argv[1], naming).discover();
  console.log(JSON.stringify({ chosen: found.candidates[0]?.name }));
} catch (e) {
  console.log(JSON.stringify({ name: e.name, code: e.code, exitCode: e.exitCode, message: e.message, owner: e.owner }));
}`;

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drill-access-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function discoverWithoutDacOverride(): Record<string, unknown> {
  const out = spawnSync(
    'setpriv',
    [
      '--bounding-set=-dac_override,-dac_read_search',
      '--',
      process.execPath,
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      DISCOVER,
      dir,
    ],
    { cwd: join(import.meta.dirname, '..', '..'), encoding: 'utf8', timeout: 30_000 },
  );
  expect(out.status, out.stderr).toBe(0);
  return JSON.parse(out.stdout) as Record<string, unknown>;
}

describe('the newest backup the drill may not read', () => {
  it("names the file's owner, mode and the fix before any work: a Bitnami 0600 file", async () => {
    const file = join(dir, NAME);
    await writeFile(file, 'not read');
    await chown(file, BACKUP_UID, BACKUP_UID);
    await chmod(file, 0o600);

    expect(discoverWithoutDacOverride()).toEqual({
      name: 'BackupAccessDeniedError',
      code: 'DRILL_BACKUP_ACCESS_DENIED',
      exitCode: 2,
      owner: { uid: 1001, gid: 1001, mode: '0600' },
      message: `${file} cannot be read by the drill (uid 0, gid 0, groups 0): permission denied; it is owned by uid 1001, gid 1001, mode 0600 (rw-------). Fix: make the backup job write it group-readable (umask 027 before pg_dumpall, or chmod 0640 after it) and add its group 1001 to the drill pod's supplementalGroups (k8s/components/backup-access, docs/deploy.md "Reading the backups").`,
    });
  });

  it('is chosen once it is group-readable by a group the drill holds (the supplementalGroups fix)', async () => {
    const file = join(dir, NAME);
    await writeFile(file, 'read');
    // Group 0 is the test process's own, as supplementalGroups gives the drill the backup's group.
    await chown(file, BACKUP_UID, 0);
    await chmod(file, 0o640);

    expect(discoverWithoutDacOverride()).toEqual({ chosen: NAME });
  });

  it('says only supplementalGroups is missing when the group may already read it', async () => {
    const file = join(dir, NAME);
    await writeFile(file, '');
    await chmod(file, 0o640);
    const info = await stat(file);

    expect(
      accessDeniedError(file, info, { uid: 10001, gid: 10001, groups: [10001] }).message.split('Fix: ')[1],
    ).toEqual(
      `its group ${info.gid} may read it: add ${info.gid} to the drill pod's supplementalGroups (k8s/components/backup-access, docs/deploy.md "Reading the backups").`,
    );
  });
});
