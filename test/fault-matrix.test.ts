/**
 * The fault matrix (issue #6): every way a drill on a LIVE server can go wrong, caused for real, each
 * checked for what the drill says (exit status, report, message), for what it leaves behind (temp
 * files, databases, psql processes, its advisory lock) and for what it must never touch (a bystander
 * database and the server's roles, byte for byte). The matrix is data, and docs/safety.md shows it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseBackupPattern } from '../lib/backups/naming.ts';
import { seedCanary, takeBackup } from '../lib/drill/seed.ts';
import { connect, withClient } from '../lib/pg/databases.ts';
import type { DrillReport } from '../lib/report/report.ts';
import { executorFor } from '../lib/targets/attach.ts';
import {
  type BystanderSnapshot,
  bytesChanged,
  createBystander,
  fingerprint,
  snapshotBystander,
} from './support/bystander.ts';
import { closedPort } from './support/closed-port.ts';
import { dumpAll, psql, writeBackup, writeBackupBytes } from './support/cluster.ts';
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.ts';
import {
  type LiveServer,
  listProcesses,
  type ProcessInfo,
  postgresOsUser,
  startLiveServer,
} from './support/live-server.ts';
import { type RunningPushgateway, startPushgateway } from './support/pushgateway.ts';
import { type CliRun, latestReportFile, ROOT, readReport, runCli, startCli } from './support/run-cli.ts';

/** One row of the matrix, as docs/safety.md shows it. */
interface Fault {
  fault: string;
  whatTheDrillDoes: string;
  whatTheOperatorSees: string;
  exitCode: number;
}

const CORRUPT: Fault = {
  fault: 'corrupt gzip (a byte flipped mid-file)',
  whatTheDrillDoes:
    "reads the whole file before any server sees it; gzip's check fails; nothing is dropped or restored",
  whatTheOperatorSees:
    '`precheck: backup is whole` failed, `DRILL_BACKUP_CORRUPT`, naming the file; the canary untouched',
  exitCode: 1,
};
const TRUNCATED: Fault = {
  fault: 'truncated file',
  whatTheDrillDoes: 'the gzip stream ends before its trailer; nothing is dropped or restored',
  whatTheOperatorSees:
    '`precheck: backup is whole` failed, `DRILL_BACKUP_TRUNCATED`, naming the file; the canary untouched',
  exitCode: 1,
};
const NO_TRAILER: Fault = {
  fault: 'a valid gzip of a dump cut short (pg_dumpall died, no `pipefail`)',
  whatTheDrillDoes:
    'looks for `-- PostgreSQL database cluster dump complete` at the end; nothing is dropped or restored',
  whatTheOperatorSees: '`precheck: backup is whole` failed, `DRILL_BACKUP_INCOMPLETE`; the canary untouched',
  exitCode: 1,
};
const NEWER_MAJOR: Fault = {
  fault: 'a dump from a newer PostgreSQL major (18) than the server (15)',
  whatTheDrillDoes: "compares the dump's header with the server's version, before the drop",
  whatTheOperatorSees:
    '`precheck: dump fits the target` failed, `DRILL_DUMP_NEWER_THAN_TARGET`; the canary untouched',
  exitCode: 1,
};
const SECTION_FAILS: Fault = {
  fault: "a statement in the canary's section fails mid-way",
  whatTheDrillDoes:
    'psql stops at the error (`ON_ERROR_STOP`); its single transaction (`-1`) rolls the section back in the scratch database `drill_<run id>` beside the canary, which the drill then drops',
  whatTheOperatorSees:
    "`restore: completed` failed, `DRILL_RESTORE_FAILED`, the statement's line in the backup and its SQLSTATE; the swap skipped; the canary untouched",
  exitCode: 1,
};
const PSQL_KILLED: Fault = {
  fault: 'psql killed (SIGKILL) mid-restore',
  whatTheDrillDoes: "fails the restore and ends psql's server session, which rolls the section back",
  whatTheOperatorSees:
    '`restore: completed` failed, `DRILL_RESTORE_FAILED`: `psql exited with SIGKILL`; the canary untouched',
  exitCode: 1,
};
const SERVER_KILLED: Fault = {
  fault: 'the server killed (SIGKILL of the postmaster) mid-restore',
  whatTheDrillDoes:
    'fails the restore on the lost connection, lets go of what it holds, writes the report; its scratch database cannot be dropped on a dead server and stays, marked with the run id',
  whatTheOperatorSees:
    "verdict `error`, not `failed`: `restore: completed` failed, `DRILL_RESTORE_TARGET_FAULT`: `Restore stopped by the target, not by the backup: the target went away during the restore`; after the server's crash recovery the canary untouched; the next drill names the leftover `drill_<run id>` and its run, and drops it when it passes",
  exitCode: 2,
};
const BLACK_HOLE: Fault = {
  fault: 'a server that accepts connections and never answers',
  whatTheDrillDoes: 'gives up after its 15 s connection timeout, before it takes the lock or drops anything',
  whatTheOperatorSees: '`Cannot reach postgres@HOST:PORT/postgres: timeout expired`; report verdict `error`',
  exitCode: 2,
};
const PUSHGATEWAY_DOWN: Fault = {
  fault: 'the Pushgateway is down (connection refused)',
  whatTheDrillDoes:
    'tries the push 3 times, reports the failure and leaves the verdict alone (unless `--require-push`)',
  whatTheOperatorSees:
    '`metrics NOT pushed to URL: … failed after 3 attempts: connect ECONNREFUSED …`; `push.ok: false`, `push.attempts: 3`; the drill passes',
  exitCode: 0,
};
const SIGTERM: Fault = {
  fault: 'SIGTERM mid-restore (Kubernetes stops the pod)',
  whatTheDrillDoes:
    'stops psql, ends its server session (the section rolls back), drops its scratch database, lets go of its lock, removes its temp files, writes the report',
  whatTheOperatorSees: 'verdict `interrupted`, `interrupted by SIGTERM`; the canary untouched',
  exitCode: 143,
};
const TWO_DRILLS: Fault = {
  fault: 'a second drill on the same server while one runs',
  whatTheDrillDoes: 'the second finds the advisory lock taken and stops before it touches anything',
  whatTheOperatorSees:
    '`Another drill is running on this server: pg-restore-drill RUN-ID (backend pid …) holds the drill lock.`',
  exitCode: 2,
};
const UNREADABLE_BACKUPS: Fault = {
  fault: "the backup directory cannot be read (another user's, 0700; the drill without root's override)",
  whatTheDrillDoes: 'stops before it connects anywhere',
  whatTheOperatorSees:
    '`Cannot list backup directory DIR: permission denied. Check --backups / DRILL_BACKUPS.`',
  exitCode: 2,
};
const TEMP_FULL: Fault = {
  fault: "the temp space fills up during a throwaway cluster's restore (`--target local`)",
  whatTheDrillDoes:
    "the restore stops at the server's write error; the throwaway cluster and its directory are removed",
  whatTheOperatorSees:
    "verdict `error`, not `failed`: `restore: completed` failed, `DRILL_RESTORE_TARGET_FAULT`: `Restore stopped by the target, not by the backup: the target's disk is full (… ERROR 53100: could not extend file …)` and what to give it; the same backup with room passes",
  exitCode: 2,
};

/** The matrix, in the order of issue #6; docs/safety.md holds it as a table (checked below). */
const FAULT_MATRIX: readonly Fault[] = [
  CORRUPT,
  TRUNCATED,
  NO_TRAILER,
  NEWER_MAJOR,
  SECTION_FAILS,
  PSQL_KILLED,
  SERVER_KILLED,
  BLACK_HOLE,
  PUSHGATEWAY_DOWN,
  SIGTERM,
  TWO_DRILLS,
  UNREADABLE_BACKUPS,
  TEMP_FULL,
];

const execFileAsync = promisify(execFile);

const CANARY = 'backup_test';
/** A copy of the canary taken right after the backup: every case starts from it. */
const PRISTINE = 'canary_pristine';
const AT = '2026-11-21-030000';
/** The drill's advisory lock: classid 0x70675244 ('pgRD'). */
const LOCK_CLASS = 1885819460;
/** A minute-long statement inside the canary's section: a restore that is surely mid-way. */
const SLEEP = 'SELECT pg_sleep(60);';
/**
 * What pg_stat_activity shows of the restore session while it sits in the canary section's pg_sleep:
 * canary mode restores into the scratch database drill_<run id>, beside the canary.
 */
const SLEEPING_RESTORE = new RegExp(`^drill_\\w+ active: ${SLEEP.replace(/[()]/g, '\\$&')}$`);

let live: LiveServer;
/** A real Pushgateway behind our proxy, which holds a drill in its last step (the push) while we look. */
let gateway: RunningPushgateway;
let pushProxy: FaultProxy;
let goodDump: string;
let scratch: string;

/** One tried fault, for the closing figures. */
interface Outcome {
  fault: string;
  detected: boolean;
  cleanedUp: boolean;
  bystanderBytesChanged: number;
}
const outcomes: Outcome[] = [];

beforeAll(async () => {
  gateway = await startPushgateway();
  pushProxy = await startFaultProxy(gateway.url);
  live = await startLiveServer();
  await seedCanary(live.handle, CANARY);
  await createBystander(live.handle, randomBytes(12).toString('base64url'));
  goodDump = await dumpAll(live.handle);
  await psql(live.handle, 'postgres', `CREATE DATABASE ${PRISTINE} TEMPLATE ${CANARY}`);
  scratch = await mkdtemp(join(tmpdir(), 'fault-matrix-'));
  // The throwaway servers and the unprivileged run reach their directories through it.
  await chmod(scratch, 0o755);
});

afterAll(async () => {
  await live?.stop();
  await pushProxy?.close();
  await gateway?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
  const count = (f: (o: Outcome) => boolean) => outcomes.filter(f).length;
  const changed = outcomes.reduce((n, o) => n + o.bystanderBytesChanged, 0);
  console.log(
    `fault matrix: ${outcomes.length} faults tried, ${count((o) => o.detected)} detected, ${count((o) => o.cleanedUp)} cleaned up, bystander bytes changed: ${changed}`,
  );
});

// Every case starts from the canary as the backup holds it: an earlier case may have left it empty.
beforeEach(async () => {
  await psql(live.handle, 'postgres', `DROP DATABASE IF EXISTS ${CANARY} WITH (FORCE)`);
  await psql(live.handle, 'postgres', `CREATE DATABASE ${CANARY} TEMPLATE ${PRISTINE}`);
});

interface Case {
  fault: Fault;
  /** --temp-dir (mode 0777): empty again after the run. */
  temp: string;
  reports: string;
  backups: string;
  before: BystanderSnapshot;
}

async function begin(fault: Fault): Promise<Case> {
  const base = await mkdtemp(join(scratch, 'case-'));
  await chmod(base, 0o755);
  const [temp, reports, backups] = ['temp', 'reports', 'backups'].map((name) => join(base, name));
  for (const dir of [temp, reports, backups]) await mkdir(dir as string);
  await chmod(temp as string, 0o777);
  return {
    fault,
    temp: temp as string,
    reports: reports as string,
    backups: backups as string,
    before: await snapshotBystander(live.handle),
  };
}

/** What a run may leave behind. */
interface Leftovers {
  tempDir: string[];
  drillDatabases: string[];
  /** psql processes talking to the live server, or to a server under the temp dir. */
  psql: string[];
  /** Processes whose command line names the temp dir: a throwaway server, its guardian. */
  underTempDir: string[];
  advisoryLocks: number;
  /** Sessions of the drill's tools (application_name pg-restore-drill…) still on the live server. */
  restoreSessions: string[];
}

/** Nothing left. */
const CLEAN: Leftovers = {
  tempDir: [],
  drillDatabases: [],
  psql: [],
  underTempDir: [],
  advisoryLocks: 0,
  restoreSessions: [],
};

/** What is left now; `drillPid`, the drill itself while it still runs, does not count. */
async function leftovers(temp: string, drillPid?: number): Promise<Leftovers> {
  const processes = (await listProcesses()).filter((p) => p.pid !== drillPid);
  const server = await withClient(live.handle.connection, 'postgres', async (client) => {
    const dbs = await client.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE 'drill\\_%' ORDER BY 1`,
    );
    const locks = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1`,
      [LOCK_CLASS],
    );
    const sessions = await client.query<{ s: string }>(
      `SELECT datname || ' ' || state || ': ' || query AS s FROM pg_stat_activity
        WHERE application_name LIKE 'pg-restore-drill%' AND pid <> pg_backend_pid() ORDER BY 1`,
    );
    return {
      drillDatabases: dbs.rows.map((r) => r.datname),
      advisoryLocks: locks.rows[0]?.n ?? -1,
      restoreSessions: sessions.rows.map((r) => r.s),
    };
  });
  return {
    tempDir: await readdir(temp),
    drillDatabases: server.drillDatabases,
    psql: processes
      .filter(
        (p) =>
          p.argv[0]?.endsWith('psql') &&
          (p.env.PGPORT === String(live.port) || p.env.PGHOST?.startsWith(temp)),
      )
      .map((p) => p.argv.join(' ')),
    underTempDir: processes.filter((p) => p.argv.some((a) => a.includes(temp))).map((p) => p.argv.join(' ')),
    advisoryLocks: server.advisoryLocks,
    restoreSessions: server.restoreSessions,
  };
}

/**
 * Checks what the run left behind (giving processes and sessions up to 10 s to wind down) and the
 * bystander, and records the case for the closing figures. No drill session may be left on the server.
 */
async function finish(c: Case, detected: boolean): Promise<void> {
  const clean = CLEAN;
  let left = await leftovers(c.temp);
  for (let i = 0; i < 50 && JSON.stringify(left) !== JSON.stringify(clean); i++) {
    await sleep(200);
    left = await leftovers(c.temp);
  }
  const after = await snapshotBystander(live.handle);
  const changed = bytesChanged(c.before, after);
  outcomes.push({
    fault: c.fault.fault,
    detected,
    cleanedUp: JSON.stringify(left) === JSON.stringify(clean),
    bystanderBytesChanged: changed,
  });
  expect(left).toEqual(clean);
  // Content, schema (owners, grants), database and role settings, roles: all as they were.
  expect({ ...fingerprint(after), changed }).toEqual({ ...fingerprint(c.before), changed: 0 });
}

/**
 * Holds the drill `run` in its last step, the metrics push (after every cleanup: drops, ended sessions,
 * the released lock), and reads what it left while it still runs: a session or lock it still held
 * would show here, where after its exit PostgreSQL would end the exited client's sessions on its own.
 * Call it right after starting the run with pushArgs(); `look` then waits for the push.
 */
function holdAtPush(run: CliRun): { look(c: Case): Promise<{ drillRunning: boolean; left: Leftovers }> } {
  // All three attempts held: the drill cannot give up on the push and exit while we look.
  pushProxy.inject({ kind: 'hold' }, { kind: 'hold' }, { kind: 'hold' });
  const pushing = pushProxy.nextRequest().then(() => 'pushing' as const);
  const exited = run.done.then(() => 'exited' as const);
  return {
    async look(c) {
      const reached = await Promise.race([pushing, exited]);
      const left = await leftovers(c.temp, run.child.pid);
      const drillRunning =
        reached === 'pushing' && run.child.exitCode === null && run.child.signalCode === null;
      pushProxy.releaseHeld();
      return { drillRunning, left };
    },
  };
}

/** The drill pushes to the holding proxy (see holdAtPush). */
function pushArgs(): string[] {
  return ['--pushgateway', pushProxy.url];
}

function canaryArgs(c: Case, reports = c.reports): string[] {
  return [
    '--target',
    'url',
    '--mode',
    'canary',
    '--backups',
    c.backups,
    '--temp-dir',
    c.temp,
    '--report-dir',
    reports,
  ];
}

function reportOf(c: Case): Promise<DrillReport | undefined> {
  return readReport(c.reports).catch(() => undefined);
}

function check(report: DrillReport | undefined, id: string) {
  return report?.checks.find((s) => s.id === id);
}

/** The steps that passed, by id. */
function passed(report: DrillReport | undefined): string[] {
  return report?.checks.filter((s) => s.status === 'passed').map((s) => s.id) ?? [];
}

/** The canary's users and transaction count, or its tables when it has lost them. */
async function canaryState(): Promise<{ users: string[]; transactions: number } | { tables: string[] }> {
  return withClient(live.handle.connection, CANARY, async (client) => {
    const tables = await client.query<{ t: string }>(
      `SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`,
    );
    if (tables.rows.length < 2) return { tables: tables.rows.map((r) => r.t) };
    const users = await client.query<{ name: string }>('SELECT name FROM users ORDER BY id');
    const tx = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM transactions');
    return { users: users.rows.map((r) => r.name), transactions: tx.rows[0]?.n ?? -1 };
  });
}
const UNTOUCHED = { users: ['alice', 'bob', 'charlie'], transactions: 5 };

/** The dump with `statement` inside the canary's section, after its data and before its constraints. */
function intoCanarySection(dump: string, statement: string): string {
  const banner = dump.indexOf(`-- Database "${CANARY}" dump`);
  const at = dump.indexOf('\nALTER TABLE ONLY public.transactions\n', banner);
  const next = dump.indexOf('-- Database "', banner + 1);
  if (banner < 0 || at < 0 || (next >= 0 && at > next)) throw new Error('no canary section to put it in');
  return `${dump.slice(0, at + 1)}${statement}\n${dump.slice(at + 1)}`;
}

/** Resolves once the drill's psql sits in the canary section's pg_sleep: surely mid-restore. */
async function restoreMidWay(run: CliRun): Promise<void> {
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  run.child.stdout?.on('data', collect);
  run.child.stderr?.on('data', collect);
  const client = await connect(live.handle.connection, 'postgres');
  let sessions: string[] = [];
  try {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const { rows } = await client.query<{ s: string }>(
        `SELECT coalesce(datname, '-') || ' ' || coalesce(state, '-') || ': ' || query AS s
           FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`,
      );
      sessions = rows.map((r) => r.s);
      if (sessions.some((s) => SLEEPING_RESTORE.test(s))) return;
      if (run.child.exitCode !== null) break;
      await sleep(100);
    }
  } finally {
    await client.end();
    run.child.stdout?.off('data', collect);
    run.child.stderr?.off('data', collect);
  }
  throw new Error(
    `the restore never reached its pg_sleep (CLI exit ${run.child.exitCode}); sessions: ${JSON.stringify(sessions)}; output:\n${output}`,
  );
}

/** psql processes restoring into the live server in one transaction. */
async function restoringPsql(): Promise<ProcessInfo[]> {
  return (await listProcesses()).filter(
    (p) => p.argv[0]?.endsWith('psql') && p.argv.includes('-1') && p.env.PGPORT === String(live.port),
  );
}

describe('the fault matrix on a live server', () => {
  it('docs/safety.md shows exactly this matrix', async () => {
    const doc = await readFile(join(ROOT, 'docs/safety.md'), 'utf8');
    expect(markdownTable(doc, '## The fault matrix')).toEqual(
      FAULT_MATRIX.map((f) => [f.fault, f.whatTheDrillDoes, f.whatTheOperatorSees, String(f.exitCode)]),
    );
  });

  const damaged: { fault: Fault; bytes: () => Buffer; failedCheck: string; code: string }[] = [
    {
      fault: CORRUPT,
      bytes: () => {
        const gz = gzipSync(goodDump);
        const at = Math.floor(gz.length / 2);
        gz[at] = (gz[at] ?? 0) ^ 0xff;
        return gz;
      },
      failedCheck: 'precheck-backup-is-whole',
      code: 'DRILL_BACKUP_CORRUPT',
    },
    {
      fault: TRUNCATED,
      bytes: () => {
        const gz = gzipSync(goodDump);
        return gz.subarray(0, Math.floor(gz.length / 2));
      },
      failedCheck: 'precheck-backup-is-whole',
      code: 'DRILL_BACKUP_TRUNCATED',
    },
    {
      fault: NO_TRAILER,
      bytes: () =>
        gzipSync(goodDump.slice(0, goodDump.lastIndexOf('-- PostgreSQL database cluster dump complete'))),
      failedCheck: 'precheck-backup-is-whole',
      code: 'DRILL_BACKUP_INCOMPLETE',
    },
    {
      fault: NEWER_MAJOR,
      bytes: () =>
        gzipSync(
          goodDump
            .replaceAll('-- Dumped from database version 15.', '-- Dumped from database version 18.')
            .replaceAll('-- Dumped by pg_dump version 15.', '-- Dumped by pg_dump version 18.'),
        ),
      failedCheck: 'precheck-dump-fits-the-target',
      code: 'DRILL_DUMP_NEWER_THAN_TARGET',
    },
  ];
  it.each(damaged)('$fault.fault', async ({ fault, bytes, failedCheck, code }) => {
    const c = await begin(fault);
    const file = await writeBackupBytes(c.backups, AT, bytes());
    const running = startCli([...canaryArgs(c), ...pushArgs()], live.cliEnv);
    const whileRunning = await holdAtPush(running).look(c);
    const run = await running.done;
    expect(whileRunning).toEqual({ drillRunning: true, left: CLEAN });
    const report = await reportOf(c);
    const failed = check(report, failedCheck);
    const canary = await canaryState();
    await finish(c, run.code === fault.exitCode && failed?.code === code);
    expect(run.code, run.stdout).toBe(fault.exitCode);
    expect([failed?.status, failed?.code]).toEqual(['failed', code]);
    expect(failed?.message).toContain(file);
    expect([report?.verdict, report?.errors]).toEqual(['failed', []]);
    // Only the steps before the failed precheck passed: nothing was dropped.
    expect(passed(report)).toEqual(
      failedCheck === 'precheck-backup-is-whole'
        ? ['backup-newest-backup-found']
        : ['backup-newest-backup-found', 'precheck-backup-is-whole'],
    );
    expect(canary).toEqual(UNTOUCHED);
  });

  it(SECTION_FAILS.fault, async () => {
    const c = await begin(SECTION_FAILS);
    const broken = intoCanarySection(goodDump, 'SELECT no_such_function();');
    const line = broken.split('\n').indexOf('SELECT no_such_function();') + 1;
    await writeBackup(c.backups, AT, broken);
    const running = startCli([...canaryArgs(c), ...pushArgs()], live.cliEnv);
    const whileRunning = await holdAtPush(running).look(c);
    const run = await running.done;
    expect(whileRunning).toEqual({ drillRunning: true, left: CLEAN });
    const report = await reportOf(c);
    const restore = check(report, 'restore-completed');
    const canary = await canaryState();
    await finish(c, run.code === SECTION_FAILS.exitCode && restore?.code === 'DRILL_RESTORE_FAILED');
    expect(run.code, run.stdout).toBe(SECTION_FAILS.exitCode);
    expect([restore?.status, restore?.code, restore?.message]).toEqual([
      'failed',
      'DRILL_RESTORE_FAILED',
      `Restore failed: the dump hit an error and psql stopped there (ON_ERROR_STOP); the section of ${CANARY} was rolled back: line ${line}: ERROR 42883: function no_such_function() does not exist`,
    ]);
    expect(restore?.facts.errors).toMatchObject([{ line, sqlstate: '42883' }]);
    expect(report?.verdict).toBe('failed');
    // The section was restored beside the canary: the rollback took only the scratch restore.
    expect(canary).toEqual(UNTOUCHED);
  });

  it(PSQL_KILLED.fault, async () => {
    const c = await begin(PSQL_KILLED);
    await writeBackup(c.backups, AT, intoCanarySection(goodDump, SLEEP));
    const run = startCli([...canaryArgs(c), ...pushArgs()], live.cliEnv);
    const held = holdAtPush(run);
    try {
      await restoreMidWay(run);
      const [victim, ...others] = await restoringPsql();
      if (!victim || others.length > 0) throw new Error('expected exactly one restoring psql');
      // Restoring the canary's section beside it, in one transaction; the password in psql's
      // environment, not its arguments.
      expect([victim.argv.includes('-1'), victim.argv.slice(-2)]).toEqual([
        true,
        ['-d', expect.stringMatching(/^drill_\d{8}_\d{6}_[0-9a-f]{6}$/)],
      ]);
      expect(victim.argv.filter((a) => a.includes(live.cliEnv.PGPASSWORD))).toEqual([]);
      expect(victim.env.PGPASSWORD).toBe(live.cliEnv.PGPASSWORD);
      process.kill(victim.pid, 'SIGKILL');
      // The killed psql's session sat in pg_sleep: the drill must have ended it itself, before its exit.
      const whileRunning = await held.look(c);
      const { code, stdout } = await run.done;
      expect(whileRunning).toEqual({ drillRunning: true, left: CLEAN });
      const report = await reportOf(c);
      const restore = check(report, 'restore-completed');
      const canary = await canaryState();
      await finish(c, code === PSQL_KILLED.exitCode && restore?.code === 'DRILL_RESTORE_FAILED');
      expect(code, stdout).toBe(PSQL_KILLED.exitCode);
      expect([restore?.status, restore?.code, restore?.message]).toEqual([
        'failed',
        'DRILL_RESTORE_FAILED',
        `Restore failed: psql exited with SIGKILL; the section of ${CANARY} was rolled back`,
      ]);
      expect(report?.verdict).toBe('failed');
      expect(canary).toEqual(UNTOUCHED);
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  // Two drills: the crashed one, and the next one that cleans up after it.
  it(SERVER_KILLED.fault, async () => {
    const c = await begin(SERVER_KILLED);
    await writeBackup(c.backups, AT, intoCanarySection(goodDump, SLEEP));
    const run = startCli(canaryArgs(c), live.cliEnv);
    let result: Awaited<CliRun['done']>;
    try {
      await restoreMidWay(run);
      await live.kill9();
      result = await run.done;
    } finally {
      run.child.kill('SIGKILL');
      await live.restart();
    }
    const report = await reportOf(c);
    const restore = check(report, 'restore-completed');
    const canary = await canaryState();
    // Every session dies with the postmaster, the lock's idle one too: that must not crash the drill.
    expect.soft(result.stderr).not.toContain("Unhandled 'error' event");
    // A dead server cannot drop the scratch database: it is left, marked with the crashed run's id.
    const leftover = `drill_${report?.runId.replaceAll('-', '_')}`;
    const left = await withClient(live.handle.connection, 'postgres', (client) =>
      client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'drill\\_%'`),
    );
    expect(left.rows.map((r) => r.datname)).toEqual([leftover]);
    // The next drill of a good backup recognises it, names the run that left it, and drops it.
    const next = { backups: join(c.backups, 'next'), reports: join(c.reports, 'next') };
    await mkdir(next.backups);
    await writeBackup(next.backups, AT, goodDump);
    const again = await runCli(canaryArgs({ ...c, ...next }), live.cliEnv);
    const nextReport = await readReport(next.reports);
    expect(again.code, again.stdout).toBe(0);
    expect(check(nextReport, 'precheck-canary-snapshot-taken')?.message).toMatch(
      new RegExp(
        `1 leftover\\(s\\) of earlier runs that did not finish: ${leftover} \\(run ${report?.runId}, its scratch restore\\)`,
      ),
    );
    expect(check(nextReport, 'swap-verified-restore-replaces-the-canary')?.message).toMatch(
      new RegExp(`; dropped the leftovers of earlier runs: ${leftover}$`),
    );
    await finish(c, result.code === SERVER_KILLED.exitCode && restore?.code === 'DRILL_RESTORE_TARGET_FAULT');
    expect(result.code, result.stderr).toBe(SERVER_KILLED.exitCode);
    expect([report?.verdict, restore?.status, restore?.code]).toEqual([
      'error',
      'failed',
      'DRILL_RESTORE_TARGET_FAULT',
    ]);
    expect(restore?.message).toMatch(
      new RegExp(
        `^Restore stopped by the target, not by the backup: the target went away during the restore \\(it stopped or crashed\\) \\(.*(server closed the connection unexpectedly|connection to server was lost).*\\); the section of ${CANARY} was rolled back\\. This says nothing about the backup: `,
      ),
    );
    expect(canary).toEqual(UNTOUCHED);
  }, 240_000);

  it(BLACK_HOLE.fault, async () => {
    const c = await begin(BLACK_HOLE);
    await writeBackup(c.backups, AT, goodDump);
    const held: Socket[] = [];
    const hole = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    const address = hole.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const run = await runCli(canaryArgs(c), {
        DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/postgres`,
        PGPASSWORD: live.cliEnv.PGPASSWORD,
      });
      const report = await reportOf(c);
      const message = `pg-restore-drill: Cannot reach postgres@127.0.0.1:${port}/postgres: timeout expired`;
      await finish(c, run.code === BLACK_HOLE.exitCode && run.stderr.trim() === message);
      expect(run.code, run.stderr).toBe(BLACK_HOLE.exitCode);
      expect(run.stderr.trim()).toBe(message);
      expect([report?.verdict, report?.exitCode, report?.target, report?.checks]).toEqual([
        'error',
        2,
        null,
        [],
      ]);
      expect(held.length).toBeGreaterThan(0);
      expect(await canaryState()).toEqual(UNTOUCHED);
    } finally {
      for (const socket of held) socket.destroy();
      hole.close();
    }
  });

  it(PUSHGATEWAY_DOWN.fault, async () => {
    const c = await begin(PUSHGATEWAY_DOWN);
    await writeBackup(c.backups, AT, goodDump);
    // Held closed for the whole drill: no other process can start listening on it meanwhile.
    const held = await closedPort();
    const closed = held.port;
    const run = await runCli(
      [...canaryArgs(c), '--pushgateway', `http://127.0.0.1:${closed}`],
      live.cliEnv,
    ).finally(() => held.release());
    const report = await reportOf(c);
    await finish(c, report?.push?.ok === false && report.push.attempts === 3);
    expect(run.code, run.stdout).toBe(PUSHGATEWAY_DOWN.exitCode);
    expect([report?.verdict, report?.counts.failed]).toEqual(['passed', 0]);
    const error = `pushing drill metrics to http://127.0.0.1:${closed}/metrics/job/pg_restore_drill/pg_cluster/default/target/url failed after 3 attempts: connect ECONNREFUSED 127.0.0.1:${closed}`;
    expect(report?.push).toEqual({
      url: `http://127.0.0.1:${closed}`,
      job: 'pg_restore_drill',
      grouping: { pg_cluster: 'default', target: 'url' },
      ok: false,
      attempts: 3,
      error,
    });
    expect(run.stdout).toContain(`  metrics   NOT pushed to http://127.0.0.1:${closed}: ${error}\n`);
    expect(await canaryState()).toEqual(UNTOUCHED);
    // The password reached psql through its environment only: not the report, the output or the summary.
    const summary = await readFile(latestReportFile(c.reports, 'summary.txt'), 'utf8');
    for (const text of [JSON.stringify(report), run.stdout, run.stderr, summary]) {
      expect(text).not.toContain(live.cliEnv.PGPASSWORD);
    }
  });

  it(SIGTERM.fault, async () => {
    const c = await begin(SIGTERM);
    await writeBackup(c.backups, AT, intoCanarySection(goodDump, SLEEP));
    const run = startCli(canaryArgs(c), live.cliEnv);
    try {
      await restoreMidWay(run);
      run.child.kill('SIGTERM');
      const { code, stdout } = await run.done;
      const report = await reportOf(c);
      const restore = check(report, 'restore-completed');
      const canary = await canaryState();
      await finish(c, code === SIGTERM.exitCode && report?.verdict === 'interrupted');
      expect(code, stdout).toBe(SIGTERM.exitCode);
      expect([report?.verdict, report?.exitCode, report?.errors]).toEqual([
        'interrupted',
        143,
        ['interrupted by SIGTERM'],
      ]);
      // The step the stop cut short is interrupted (vitest would say skipped, "aborted by the user").
      expect(restore?.status).toBe('interrupted');
      expect(restore?.message).toMatch(
        /^interrupted by SIGTERM \d+\.\d\d s into this check: it did not finish, so it proves nothing$/,
      );
      expect(canary).toEqual(UNTOUCHED);
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it(TWO_DRILLS.fault, async () => {
    const c = await begin(TWO_DRILLS);
    await writeBackup(c.backups, AT, intoCanarySection(goodDump, SLEEP));
    const first = startCli(canaryArgs(c), live.cliEnv);
    try {
      await restoreMidWay(first);
      const secondReports = join(c.reports, 'second');
      const second = await runCli(canaryArgs(c, secondReports), live.cliEnv);
      first.child.kill('SIGTERM');
      const firstDone = await first.done;
      const firstReport = await reportOf(c);
      const holder =
        /^pg-restore-drill: Another drill is running on this server: pg-restore-drill (\S+) \(backend pid \d+ from 127\.0\.0\.1, since [^)]+\) holds the drill lock\. Wait for it to finish \(or end that session\) and run again\.$/.exec(
          second.stderr.trim(),
        );
      await finish(c, second.code === TWO_DRILLS.exitCode && holder?.[1] === firstReport?.runId);
      expect(second.code, second.stderr).toBe(TWO_DRILLS.exitCode);
      expect(firstReport?.runId).toMatch(/\S/);
      expect(holder?.[1], second.stderr).toBe(firstReport?.runId);
      expect((await readReport(secondReports)).exitCode).toBe(2);
      expect(firstDone.code).toBe(143);
    } finally {
      first.child.kill('SIGKILL');
    }
  });

  it(UNREADABLE_BACKUPS.fault, async () => {
    const c = await begin(UNREADABLE_BACKUPS);
    await writeBackup(c.backups, AT, goodDump);
    // Another user's directory, and a drill that runs as root but without root's power to read past file
    // permissions, as a non-root CronJob would. (Switching users instead would need the repository
    // readable by that user, which a CI clone in a 0700 temp directory is not.)
    const owner = await postgresOsUser();
    await chown(c.backups, owner.uid, owner.gid);
    await chmod(c.backups, 0o700);
    const run = await runCli(
      canaryArgs(c),
      { ...live.cliEnv, HOME: c.temp },
      { prefix: WITHOUT_DAC_OVERRIDE },
    );
    const report = await reportOf(c);
    const message = `pg-restore-drill: Cannot list backup directory ${c.backups}: permission denied. Check --backups / DRILL_BACKUPS.`;
    await finish(c, run.code === UNREADABLE_BACKUPS.exitCode && run.stderr.trim() === message);
    expect(run.code, run.stderr).toBe(UNREADABLE_BACKUPS.exitCode);
    expect(run.stderr.trim()).toBe(message);
    expect([report?.verdict, report?.exitCode, report?.errors]).toEqual(['error', 2, [message.slice(18)]]);
  });

  it(TEMP_FULL.fault, async () => {
    const c = await begin(TEMP_FULL);
    // ~100 MB of rows in a backup taken as the CronJob takes it; the filler leaves the live server again.
    await psql(live.handle, 'postgres', 'CREATE DATABASE filler');
    try {
      await psql(
        live.handle,
        'filler',
        'CREATE TABLE pad AS SELECT g AS id, repeat(md5(g::text), 30) AS body FROM generate_series(1, 110000) g',
      );
      await takeBackup(
        await executorFor(live.handle, process.env),
        parseBackupPattern('postgres-backup-{timestamp}', 'YYYY-MM-DD-HHmmss'),
        c.backups,
        new Date('2026-11-21T03:00:00Z'),
      );
    } finally {
      await psql(live.handle, 'postgres', 'DROP DATABASE filler');
    }
    const drill = (reports: string) =>
      runCli([
        '--target',
        'local',
        '--mode',
        'cluster',
        '--backups',
        c.backups,
        '--temp-dir',
        c.temp,
        '--report-dir',
        reports,
      ]);
    // initdb takes 39 MB: 64 MB starts the throwaway server and cannot hold the restore.
    await execFileAsync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0777', 'tmpfs', c.temp]);
    try {
      const run = await drill(c.reports);
      const report = await reportOf(c);
      const restore = check(report, 'restore-completed');
      // The server's two ways of saying its disk is full (md.c): a write that failed outright, or one
      // that wrote part of the block; which depends on the bytes left when the restore reaches the end.
      const full =
        /^Restore stopped by the target, not by the backup: the target's disk is full \(line \d+: ERROR 53100: could not extend file "base\/\d+\/\d+": (No space left on device|wrote only \d+ of 8192 bytes at block \d+)\)\. This says nothing about the backup: give the server's data directory room for the restored databases and their WAL \(local target: --temp-dir/;
      await finish(c, run.code === TEMP_FULL.exitCode && full.test(restore?.message ?? ''));
      expect(run.code, run.stdout).toBe(TEMP_FULL.exitCode);
      expect([report?.verdict, report?.exitCode, restore?.status, restore?.code]).toEqual([
        'error',
        2,
        'failed',
        'DRILL_RESTORE_TARGET_FAULT',
      ]);
      expect(restore?.message).toMatch(full);
      // The summary says ERROR, the step under ERROR: nothing in it blames the backup.
      const summary = await readFile(latestReportFile(c.reports, 'summary.txt'), 'utf8');
      expect(summary).toMatch(/^pg-restore-drill: ERROR {2}/);
      expect(summary).toContain(
        "\n  ERROR     restore: completed: Restore stopped by the target, not by the backup: the target's disk is full",
      );
      expect(summary).not.toContain('FAILED');
      expect(restore?.facts.errors).toMatchObject([
        {
          sqlstate: '53100',
          details: [
            'HINT:  Check free disk space.',
            expect.stringMatching(/^CONTEXT: {2}COPY pad, line \d+$/),
          ],
        },
      ]);
    } finally {
      await execFileAsync('umount', [c.temp]);
    }
    // The same backup, with room: it restores and passes, so the ERROR above was the disk's alone.
    const roomy = await drill(join(c.reports, 'roomy'));
    expect(roomy.code, roomy.stdout).toBe(0);
    expect((await readReport(join(c.reports, 'roomy'))).verdict).toBe('passed');
  });
});

/** As root but without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: file permissions apply to the drill. */
const WITHOUT_DAC_OVERRIDE = ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--'];

/** The body rows of the first Markdown table after `heading`: cells trimmed, `\|` unescaped. */
function markdownTable(doc: string, heading: string): string[][] {
  const start = doc.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no "${heading}" in the document`);
  const lines = doc.slice(start).split('\n');
  const rows: string[][] = [];
  for (const line of lines.slice(lines.findIndex((l) => l.startsWith('|')))) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, line.endsWith('|') ? -1 : undefined)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim().replaceAll('\\|', '|')),
    );
  }
  return rows.slice(2);
}
