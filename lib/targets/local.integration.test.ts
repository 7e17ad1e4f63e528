import { spawn } from 'node:child_process';
import { access, chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestCluster } from '../../test/support/cluster.ts';
import { silentLogger } from '../log.ts';
import { withClient } from '../pg/databases.ts';
import { startLocalTarget } from './local.ts';
import type { StartedTarget } from './target.ts';

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe('local throwaway cluster', () => {
  const started: StartedTarget[] = [];
  afterAll(async () => {
    for (const target of started) await target.stop();
  });

  it('starts with a socket in its temp dir, TCP behind its password, and removes the dir on stop', async () => {
    const target = await startTestCluster();
    started.push(target);
    const { connection } = target.handle;
    expect(target.handle.scratch).toBe(true);
    expect(await exists(join(connection.host, `.s.PGSQL.${connection.port}`))).toBe(true);
    const user = await withClient(
      connection,
      'postgres',
      async (c) => (await c.query('SELECT current_user AS u')).rows[0]?.u,
    );
    expect(user).toBe('postgres');
    // The socket is trusted (only the run's 0700 directory reaches it); TCP demands the run's password.
    const tcp = { ...connection, host: '127.0.0.1' };
    expect(
      await withClient(tcp, 'postgres', async (c) => (await c.query('SELECT 1 AS one')).rows[0]?.one),
    ).toBe(1);
    await expect(withClient({ ...tcp, password: 'wrong' }, 'postgres', async () => 1)).rejects.toThrow(
      /password authentication failed/,
    );
    await target.stop();
    expect(await exists(connection.host)).toBe(false);
  });

  it('is stopped and removed by its guardian when the drill is killed outright (SIGKILL)', async () => {
    const script = fileURLToPath(new URL('../../test/support/start-and-hang.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const dir = await new Promise<string>((resolve) =>
      child.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString().trim())),
    );
    expect(await exists(join(dir, 'data', 'postmaster.pid'))).toBe(true);
    child.kill('SIGKILL');
    expect(await waitUntil(async () => !(await exists(dir)), 20_000)).toBe(true);
  });

  it('leaves nothing in the temp root after a start that fails', async () => {
    const root = await mkdtemp(join(tmpdir(), 'drill-local-test-'));
    await chmod(root, 0o755);
    try {
      // A bin directory whose initdb does not exist: the start fails, and its temp dir goes with it.
      await expect(
        startLocalTarget({ binDir: root, tempRoot: root, baseEnv: process.env, log: silentLogger }),
      ).rejects.toThrow();
      expect(await readdir(root)).toEqual([]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
