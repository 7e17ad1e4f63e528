/**
 * Deep verification takes time in proportion to the backup, as the restore does (about a quarter of
 * it), so it is bounded as the restore is, by --rto-ceiling, not by the 60 s of a short step: a
 * backup of some 7 GB read back for over a minute and failed a healthy drill with "Test timed out".
 * Here a session of the test's own holds a lock on one restored table of a database beside the canary
 * for 65 s as the checks run: the read-back of that table waits for it (the drill's sessions set no
 * lock_timeout), the drill waits it out and passes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import { psql, writeBackup } from './support/cluster.ts';
import { drillSetup } from './support/drill-setup.ts';
import { listProcesses } from './support/live-server.ts';
import { readReport, startCli } from './support/run-cli.ts';

const HOLD_MS = 65_000;

const setup = drillSetup('drill-slow-verify-', {
  seed: async (handle) => {
    await seedCanary(handle, 'backup_test');
    await psql(handle, 'postgres', 'CREATE DATABASE app');
    await psql(handle, 'app', 'CREATE TABLE public.held AS SELECT g AS id FROM generate_series(1, 1000) g');
  },
});

describe('a deep read-back that outlasts a short step', () => {
  it(`passes when a table it reads is locked for ${HOLD_MS / 1000} s`, async () => {
    const backups = await setup.freshDir('backups');
    await writeBackup(backups, '2026-11-21-030000', setup.goodDump);
    const reports = await setup.freshDir('reports');
    const temp = await setup.freshDir('temp');
    const run = startCli([
      ...['--target', 'local', '--backups', backups, '--verify', 'deep', '--progress', 'off'],
      ...['--report-dir', reports, '--temp-dir', temp],
    ]);
    let output = '';
    run.child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    while (!output.includes('restore: completed') && run.child.exitCode === null) await sleep(10);
    // The throwaway server's socket directory (-k), where a local session is trusted.
    const postmaster = (await listProcesses()).find(
      (p) => p.argv[0]?.endsWith('/postgres') && p.argv.some((a) => a.startsWith(temp)),
    );
    const socketDir = postmaster?.argv[postmaster.argv.indexOf('-k') + 1];
    const port = Number(postmaster?.argv[postmaster.argv.indexOf('-p') + 1]);
    const holder = new pg.Client({ host: socketDir, port, user: 'postgres', database: 'app' });
    await holder.connect();
    const heldAt = performance.now();
    await holder.query('BEGIN; LOCK TABLE public.held IN ACCESS EXCLUSIVE MODE');
    await sleep(HOLD_MS);
    await holder.query('COMMIT');
    await holder.end();
    const { code, stdout } = await run.done;
    const report = await readReport(reports);
    const deep = report.checks.find((c) => c.id === 'verify-every-table-matches-the-backup');
    expect(deep?.status, stdout).toBe('passed');
    expect(deep?.message, stdout).toMatch(/^3 of 3 table\(s\) verified in 2 database\(s\)/);
    // It waited for the lock: the read-back ended after the lock was let go.
    expect(performance.now() - heldAt).toBeGreaterThan(HOLD_MS);
    expect(deep?.durationMs, stdout).toBeGreaterThan(HOLD_MS - 10_000);
    expect([code, report.verdict], stdout).toEqual([0, 'passed']);
  }, 180_000);
});
