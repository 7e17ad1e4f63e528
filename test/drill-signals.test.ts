/**
 * A SIGTERM sent to the whole process group of `npm run drill` (what a terminal, `timeout` and CI
 * runners do) reaches the drill more than once: directly and through npm's relay. It must count as one
 * request: the running restore stopped, the throwaway server removed, the report written, exit 143.
 * A signal to npm alone (a supervisor's `kill PID`) reaches the drill through npm's relay, and does the same.
 */
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { constants } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { DrillReport } from '../lib/report/report.ts';
import { slowDump, writeBackup } from './support/cluster.ts';
import { processesInGroup, restorePsqlUnder, statOf } from './support/drill-processes.ts';
import { drillSetup } from './support/drill-setup.ts';
import { listProcesses } from './support/live-server.ts';
import { startCli } from './support/run-cli.ts';

const setup = drillSetup('drill-signals-');
const TRIES = 10;

/** The report of the run whose id `stdout` names, or null when it wrote none. */
async function reportOf(reports: string, stdout: string): Promise<DrillReport | null> {
  const runId = /^pg-restore-drill (\S+): /m.exec(stdout)?.[1];
  const text = await readFile(join(reports, runId ?? 'no-run-id', 'report.json'), 'utf8').catch(() => 'null');
  return JSON.parse(text) as DrillReport | null;
}

/** npm ends itself by the signal once its child has exited: the status a shell reports, 128 + N. */
const exitStatus = (code: number | null, signal: NodeJS.Signals | null) =>
  code ?? 128 + (signal ? constants.signals[signal] : 0);

const alive = (pid: number) => statOf(pid).then((fields) => fields !== undefined && fields[0] !== 'Z');

describe('signals to npm run drill', () => {
  it(`a group SIGTERM is one request, ${TRIES} times in a row: a report each time, exit 143, no psql or server left`, async () => {
    const backups = await setup.freshDir('slow-backups');
    await writeBackup(backups, '2026-11-21-030000', slowDump(setup.goodDump));
    const reports = await setup.freshDir('reports');
    const outcomes = [];
    for (let n = 0; n < TRIES; n++) {
      const temp = await setup.freshDir(`temp-${n}`);
      const args = ['--target', 'local', '--backups', backups, '--report-dir', reports, '--temp-dir', temp];
      const run = startCli([...args, '--progress', 'off'], {}, { npm: true, detached: true });
      const pgid = run.child.pid as number;
      let exited = false;
      void run.done.then(() => {
        exited = true;
      });
      const psql = await restorePsqlUnder(pgid, () => exited);
      process.kill(-pgid, 'SIGTERM');
      const { code, signal, stdout, stderr } = await run.done;
      const report = await reportOf(reports, stdout);
      outcomes.push({
        status: exitStatus(code, signal),
        drillExit: report?.exitCode,
        verdict: report?.verdict,
        errors: report?.errors,
        received: stderr.match(/SIGTERM received/g)?.length ?? 0,
        exitedAtOnce: stderr.includes('exiting now'),
        psqlLeft: await alive(psql),
        leftInGroup: (await processesInGroup(pgid)).map((p) => p.argv.join(' ')),
        servers: (await listProcesses())
          .filter((p) => p.argv.some((a) => a.includes(temp)))
          .map((p) => p.argv.join(' ')),
        tempLeft: await readdir(temp),
      });
    }
    const expected = {
      status: 143,
      drillExit: 143,
      verdict: 'interrupted',
      errors: ['interrupted by SIGTERM'],
      received: 1,
      exitedAtOnce: false,
      psqlLeft: false,
      leftInGroup: [],
      servers: [],
      tempLeft: [],
    };
    expect(outcomes).toEqual(Array.from({ length: TRIES }, () => expected));
    // Ten runs, one report directory: ten reports of their own, `latest` beside them, and the history
    // with one line a run, each saying it was interrupted.
    const entries = await readdir(reports);
    expect(entries.filter((name) => !['latest', 'history.jsonl'].includes(name))).toHaveLength(TRIES);
    expect(entries).toContain('latest');
    const history = (await readFile(join(reports, 'history.jsonl'), 'utf8')).trim().split('\n');
    expect(history.map((line) => JSON.parse(line).verdict)).toEqual(Array(TRIES).fill('interrupted'));
  }, 900_000);

  // A supervisor that signals the process it started, not its group (a process manager, `kill PID`):
  // npm relays the signal to its child, which must be the drill itself (the script execs node), not a
  // shell that dies or ignores it and leaves the drill restoring on its own.
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)(
    '%s to npm alone stops the drill: a report, exit %i, no psql or server left',
    async (name, status) => {
      const backups = await setup.freshDir(`alone-${name}-backups`);
      await writeBackup(backups, '2026-11-21-030000', slowDump(setup.goodDump));
      const reports = await setup.freshDir(`alone-${name}-reports`);
      const temp = await setup.freshDir(`alone-${name}-temp`);
      const args = ['--target', 'local', '--backups', backups, '--report-dir', reports, '--temp-dir', temp];
      const run = startCli([...args, '--progress', 'off'], {}, { npm: true, detached: true });
      const npm = run.child.pid as number;
      let exited = false;
      void run.done.then(() => {
        exited = true;
      });
      const psql = await restorePsqlUnder(npm, () => exited);
      process.kill(npm, name);
      const { code, signal, stdout, stderr } = await run.done;
      const report = await reportOf(reports, stdout);
      expect(
        {
          status: exitStatus(code, signal),
          drillExit: report?.exitCode,
          verdict: report?.verdict,
          received: stderr.match(new RegExp(`${name} received`, 'g'))?.length ?? 0,
          psqlLeft: await alive(psql),
          leftInGroup: (await processesInGroup(npm)).map((p) => p.argv.join(' ')),
          tempLeft: await readdir(temp),
        },
        stderr,
      ).toEqual({
        status,
        drillExit: status,
        verdict: 'interrupted',
        received: 1,
        psqlLeft: false,
        leftInGroup: [],
        tempLeft: [],
      });
    },
    120_000,
  );

  // The report is written before the push too: a Pushgateway that never answers holds the push for up
  // to 16.5 s, and a second signal meanwhile ends the drill at once.
  it('a second SIGTERM during a push that hangs: exit 143 at once, the report already written', async () => {
    const sockets: Socket[] = [];
    const blackHole = createServer((socket) => sockets.push(socket));
    await new Promise<void>((listening) => blackHole.listen(0, '127.0.0.1', listening));
    try {
      const port = (blackHole.address() as AddressInfo).port;
      const backups = await setup.freshDir('push-backups');
      await writeBackup(backups, '2026-11-21-030000', setup.goodDump);
      const reports = await setup.freshDir('push-reports');
      const run = startCli(
        [
          ...['--target', 'local', '--backups', backups, '--report-dir', reports, '--progress', 'off'],
          ...['--temp-dir', await setup.freshDir('push-temp'), '--pushgateway', `http://127.0.0.1:${port}`],
        ],
        {},
        { detached: true },
      );
      while (sockets.length === 0 && run.child.exitCode === null) await sleep(20);
      const pid = run.child.pid as number;
      process.kill(pid, 'SIGTERM');
      await sleep(2500);
      process.kill(pid, 'SIGTERM');
      const { code, stdout, stderr } = await run.done;
      const report = await reportOf(reports, stdout);
      expect(sockets.length, stderr).toBeGreaterThan(0);
      expect(stderr).toContain('exiting now');
      expect(code).toBe(143);
      expect(report?.verdict, stderr).toBe('passed');
      expect(report?.push ?? null).toBeNull();
    } finally {
      for (const socket of sockets) socket.destroy();
      blackHole.close();
    }
  }, 120_000);
});

describe('a drill killed outright (SIGKILL)', () => {
  it('leaves its directories, and the next drill on the host removes exactly those, saying so', async () => {
    const temp = await setup.freshDir('killed-temp');
    const backups = await setup.freshDir('killed-backups');
    await writeBackup(backups, '2026-11-21-030000', slowDump(setup.goodDump));
    const args = ['--backups', backups, '--temp-dir', temp, '--progress', 'off'];
    const killed = startCli([...args, '--report-dir', await setup.freshDir('killed-report')]);
    await restorePsqlUnder(killed.child.pid as number, () => killed.child.exitCode !== null);
    killed.child.kill('SIGKILL');
    await killed.done;
    // Nothing of the drill's ran on to clean up: its run directory stays (the server's guardian, which
    // outlives it, empties the cluster's directory, and removes it where the server's user may).
    const left = (await readdir(temp)).filter((e) => e.startsWith('pg-restore-drill-run-'));
    expect(left).toHaveLength(1);
    // Beside it, something no drill marked: never touched.
    await mkdir(join(temp, 'pg-restore-drill-run-not-marked'));
    const next = startCli([...args, '--report-dir', await setup.freshDir('next-report')]);
    // The sweep runs before the run's own directory is made: by its restore, it has said what it removed.
    await restorePsqlUnder(next.child.pid as number, () => next.child.exitCode !== null);
    next.child.kill('SIGTERM');
    const { stderr, code } = await next.done;
    expect(code).toBe(143);
    expect(stderr).toContain(
      `removed ${join(temp, left[0] as string)}, left by a drill that was killed (its process is gone)`,
    );
    expect(await readdir(temp)).toEqual(['pg-restore-drill-run-not-marked']);
  });

  it("never takes a cluster kept on purpose (--keep) for a dead drill's: its server and directory stay", async () => {
    const temp = await setup.freshDir('kept-temp');
    const backups = await setup.freshDir('kept-backups');
    await writeBackup(backups, '2026-11-21-030000', setup.goodDump);
    const args = ['--backups', backups, '--temp-dir', temp, '--progress', 'off', '--target', 'local'];
    const kept = await startCli([...args, '--keep', '--report-dir', await setup.freshDir('kept-report')])
      .done;
    expect(kept.code, kept.stdout).toBe(0);
    const [cluster] = await readdir(temp);
    expect(cluster).toMatch(/^pg-restore-drill-/);
    const pidFile = join(temp, cluster as string, 'data', 'postmaster.pid');
    const postmaster = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
    try {
      const next = await startCli([...args, '--report-dir', await setup.freshDir('kept-next-report')]).done;
      expect(next.code, next.stdout).toBe(0);
      expect(next.stderr).not.toContain('left by a drill that was killed');
      expect(await readdir(temp)).toEqual([cluster]);
      expect(await alive(postmaster)).toBe(true);
    } finally {
      process.kill(postmaster, 'SIGINT');
    }
  });
});
