/**
 * Real dump variants through the whole drill, as an operator runs it: `pg_dumpall --clean` and
 * `--clean --if-exists`, allow rules for a known-harmless error, an extension the target lacks, and a
 * tablespace whose directory exists on this very host. Every dump is made by the real pg_dumpall 15 of a
 * cluster built here.
 */
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import { silentLogger } from '../lib/log.ts';
import { DEFAULT_SEARCH_ROOTS, findPgBinDir } from '../lib/pg/binaries.ts';
import { recordDrillMetrics } from '../lib/report/metrics.ts';
import { metricsInput } from '../lib/report/publish-metrics.ts';
import type { DrillReport } from '../lib/report/report.ts';
import type { AllowRule } from '../lib/restore/allowed-errors.ts';
import { startLocalTarget } from '../lib/targets/local.ts';
import { dumpAll, psql, startTestCluster, toolOutput, writeBackup } from './support/cluster.ts';
import { drillSetup } from './support/drill-setup.ts';
import { type LiveServer, startLiveServer } from './support/live-server.ts';
import { pgTreeWithExtension } from './support/pg-tree.ts';
import { latestReportFile, ROOT, readReport, runCli } from './support/run-cli.ts';

const setup = drillSetup('drill-variants-test-', {
  seed: async (handle) => {
    await seedCanary(handle, 'backup_test');
    await psql(handle, 'postgres', `CREATE ROLE app_owner; CREATE ROLE legacy`);
    await psql(handle, 'postgres', 'CREATE DATABASE app_db OWNER app_owner');
    await psql(
      handle,
      'app_db',
      `CREATE TABLE public.events (id int PRIMARY KEY); INSERT INTO public.events VALUES (1), (2)`,
    );
    // Objects of a role the application has since lost: a pg_dump of backup_test carries its OWNER TO
    // and GRANT, which fail (42704) on any server without it.
    await psql(
      handle,
      'backup_test',
      `CREATE TABLE public.legacy_notes (id int PRIMARY KEY); ALTER TABLE public.legacy_notes OWNER TO legacy; GRANT SELECT ON public.users TO legacy`,
    );
  },
  dump: false,
  timeout: 60_000,
});

/** Writes `sql` as the newest backup of a fresh directory and runs the drill on it. */
async function drill(
  name: string,
  sql: string,
  args: string[] = [],
  options: { env?: NodeJS.ProcessEnv; rules?: AllowRule[] } = {},
) {
  const backups = await setup.freshDir(`${name}-backups`);
  await writeBackup(backups, '2026-11-21-030000', sql);
  const reports = await setup.freshDir(`${name}-report`);
  const env = {
    ...options.env,
    ...(options.rules ? { TEST_ALLOW_RULES: JSON.stringify(options.rules) } : {}),
  };
  const run = await runCli(
    ['--backups', backups, '--temp-dir', setup.scratch, '--report-dir', reports, ...args],
    env,
    options.rules ? { entry: join(ROOT, 'test/support/drill-with-rules.ts') } : {},
  );
  const report = await readReport(reports);
  const summary = await readFile(latestReportFile(reports, 'summary.txt'), 'utf8');
  return { ...run, report, summary };
}

const check = (report: DrillReport, name: string) => report.checks.find((c) => c.name === name);

/** 1-based numbers of the lines that satisfy `test`, before the first `\connect` (the globals part). */
function globalsLines(dump: string, test: (line: string) => boolean): { line: number; text: string }[] {
  const lines = dump.split('\n');
  const end = lines.findIndex((l) => l.startsWith('\\connect '));
  return lines.slice(0, end).flatMap((text, i) => (test(text) ? [{ line: i + 1, text }] : []));
}

describe('pg_dumpall --clean backups into a throwaway server (cluster mode)', () => {
  it.each([
    ['--clean', ['--clean']],
    ['--clean --if-exists', ['--clean', '--if-exists']],
  ])('%s: passes, and lists each DROP the empty server could not run', async (label, flags) => {
    const dump = await toolOutput(setup.source.handle, 'pg_dumpall', ['-w', ...flags]);
    const drops = globalsLines(dump, (l) => /^DROP (DATABASE|ROLE|TABLESPACE) /.test(l));
    // What pg_dumpall 15 writes: every database but postgres and template1, every role, ours included;
    // then template1's section drops and recreates it (always without IF EXISTS).
    expect(drops.map((d) => d.text.replace(' IF EXISTS', ''))).toEqual([
      'DROP DATABASE app_db;',
      'DROP DATABASE backup_test;',
      'DROP ROLE app_owner;',
      'DROP ROLE legacy;',
      'DROP ROLE postgres;',
      'DROP DATABASE template1;',
    ]);
    // template1 exists on the empty server: its DROP runs as written.
    const expected = drops.slice(0, 5);
    const run = await drill(`clean-${flags.length}`, dump, ['--target', 'local', '--verify', 'deep']);
    expect(run.code, `${label}\n${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.report.restore?.expectedDrops).toEqual(
      expected.map((d) => ({
        line: d.line,
        statement: d.text,
        reason: d.text.endsWith(' postgres;')
          ? 'the role the drill connects as (a session can never drop its own role)'
          : expect.stringMatching(/^the server has no (database|role) /),
      })),
    );
    expect(run.summary).toContain(
      `drops     expected on an empty scratch server: 4 DROP statement(s) for objects it did not have: ${expected
        .slice(0, 4)
        .map((d) => d.text.replace(/;$/, ''))
        .join(', ')}; 1 DROP of the role the drill connects as`,
    );
    expect(check(run.report, 'restore: completed')?.message).toMatch(
      /expected on an empty scratch server: 4 DROP statement\(s\) for objects it did not have: line \d+ DROP DATABASE/,
    );
    // The databases that were dropped and created again (postgres, template1) and app_db all came back.
    expect(check(run.report, 'verify: every table matches the backup')?.status).toBe('passed');
    expect(run.report.deep?.tables.map((t) => `${t.database}.${t.table}`)).toContain('app_db.public.events');
  });

  it('--clean --if-exists into a --scratch server the drill did not start: its own session database is kept', async () => {
    const scratchServer = await startLiveServer();
    try {
      const dump = await toolOutput(setup.source.handle, 'pg_dumpall', ['-w', '--clean', '--if-exists']);
      const lines = dump.split('\n');
      const run = await drill('clean-scratch-url', dump, ['--target', 'url', '--scratch'], {
        env: scratchServer.cliEnv,
      });
      expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
      // The drill's lock session sits in postgres: dropping it would fail (55006), so it is kept.
      const kept = run.report.restore?.expectedDrops?.filter((d) =>
        d.reason.startsWith('the database the drill holds'),
      );
      expect(kept?.map((d) => [d.line, d.statement])).toEqual([
        [lines.indexOf('DROP DATABASE postgres;') + 1, 'DROP DATABASE postgres;'],
        [
          lines.findIndex((l) => l.startsWith('CREATE DATABASE postgres WITH ')) + 1,
          expect.stringMatching(/^CREATE DATABASE postgres WITH /),
        ],
      ]);
    } finally {
      await scratchServer.stop();
    }
  });

  it('still fails on any other error, naming its line and SQLSTATE', async () => {
    const dump = await toolOutput(setup.source.handle, 'pg_dumpall', ['-w', '--clean', '--if-exists']);
    const lines = dump.split('\n');
    const at = lines.indexOf('\\connect app_db') + 1;
    lines.splice(at, 0, 'SELECT drill_no_such_function();');
    const run = await drill('clean-broken', lines.join('\n'), ['--target', 'local']);
    expect(run.code, run.stdout).toBe(1);
    const restore = check(run.report, 'restore: completed');
    expect(restore?.status).toBe('failed');
    expect(restore?.message).toMatch(
      new RegExp(
        `^Restore failed: the dump hit an error and psql stopped there \\(ON_ERROR_STOP\\): line ${at + 1}: ERROR 42883: function drill_no_such_function\\(\\) does not exist`,
      ),
    );
  });

  it('restores the canary section of a --clean dump in canary and canary-copy mode on a live server', async () => {
    const live = await startLiveServer();
    try {
      // The live server has the role the canary's objects belong to (roles are never restored here).
      await psql(live.handle, 'postgres', 'CREATE ROLE legacy');
      const dump = await toolOutput(setup.source.handle, 'pg_dumpall', ['-w', '--clean', '--if-exists']);
      for (const mode of ['canary', 'canary-copy']) {
        const run = await drill(`clean-${mode}`, dump, ['--target', 'url', '--mode', mode], {
          env: live.cliEnv,
        });
        expect(run.code, `${mode}\n${run.stdout}`).toBe(0);
      }
      // Only the canary was written: no role or other database of the dump reached the live server.
      expect(
        await psql(
          live.handle,
          'postgres',
          `SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database`,
        ),
      ).toBe('backup_test,postgres,template0,template1\n');
      expect(
        await psql(live.handle, 'postgres', `SELECT count(*) FROM pg_roles WHERE rolname = 'app_owner'`),
      ).toBe('0\n');
    } finally {
      await live.stop();
    }
  });
});

describe('allow rules (the expectations file’s allow:)', () => {
  let appDump: string;
  let legacyLines: number[];
  beforeAll(async () => {
    // One database of a cluster whose other parts (the role legacy) live elsewhere: pg_dump --create.
    appDump = await toolOutput(setup.source.handle, 'pg_dump', ['-w', '--create', '-d', 'backup_test']);
    legacyLines = appDump.split('\n').flatMap((l, i) => (/ (TO|OWNER TO) legacy;$/.test(l) ? [i + 1] : []));
    expect(legacyLines).toHaveLength(2);
  });

  it('without rules, the first error fails the restore, as always', async () => {
    const run = await drill('allow-none', appDump, ['--target', 'local']);
    expect(run.code, run.stdout).toBe(1);
    expect(check(run.report, 'restore: completed')?.message).toMatch(
      new RegExp(`line ${legacyLines[0]}: ERROR 42704: role "legacy" does not exist`),
    );
  });

  it('accepts the known-harmless errors, reports and counts each, and the drill passes', async () => {
    const rules = [{ sqlstate: '42704', match: '^role "legacy" does not exist$', max: 2 }];
    const run = await drill('allow-ok', appDump, ['--target', 'local'], { rules });
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    const accepted = legacyLines.map((line) => ({
      line,
      sqlstate: '42704',
      message: 'role "legacy" does not exist',
      rule: 1,
    }));
    expect(run.report.restore?.acceptedErrors).toEqual(accepted);
    expect(check(run.report, 'restore: completed')?.message).toMatch(
      new RegExp(
        `; accepted 2 error\\(s\\) by the allow rules: line ${legacyLines[0]} 42704 role "legacy" does not exist \\(rule 1\\), line ${legacyLines[1]} `,
      ),
    );
    for (const line of legacyLines) {
      expect(run.summary).toContain(
        `accepted  line ${line}: 42704 role "legacy" does not exist (allow rule 1)`,
      );
    }
    // The count is what the metrics push carries.
    const registry = new Registry();
    recordDrillMetrics(registry, metricsInput(run.report, 300));
    const metric = await registry.getSingleMetric('pg_dr_drill_restore_errors_accepted')?.get();
    expect(metric?.values.map((v) => v.value)).toEqual([2]);
  });

  it('fails on the error past a rule’s max, naming it, even though psql went on', async () => {
    const rules = [{ sqlstate: '42704', match: 'legacy', max: 1 }];
    const run = await drill('allow-max', appDump, ['--target', 'local'], { rules });
    expect(run.code, run.stdout).toBe(1);
    expect(check(run.report, 'restore: completed')?.message).toMatch(
      new RegExp(
        `^Restore failed: an error the allow rules do not accept: line ${legacyLines[1]}: ERROR 42704: role "legacy" does not exist \\(matches rule 1 \\(42704 /legacy/ max 1\\), which already accepted its max: raise max if this many are expected\\); 1 other error\\(s\\) were accepted`,
      ),
    );
  });

  it('fails on an error no rule names, with its line and SQLSTATE', async () => {
    const lines = appDump.split('\n');
    const at = lines.indexOf('\\connect backup_test') + 1;
    lines.splice(at, 0, 'SELECT drill_no_such_function();');
    const broken = lines.join('\n');
    const rules = [{ sqlstate: '42704', match: 'legacy', max: 5 }];
    const run = await drill('allow-other', broken, ['--target', 'local'], { rules });
    expect(run.code, run.stdout).toBe(1);
    expect(check(run.report, 'restore: completed')?.message).toMatch(
      new RegExp(
        `an error the allow rules do not accept: line ${at + 1}: ERROR 42883: function drill_no_such_function\\(\\) does not exist \\(no allow rule matches it\\); 2 other error\\(s\\) were accepted`,
      ),
    );
  });
});

describe('an extension the target lacks', () => {
  it('fails in the precheck, before any server database is written, naming it, its line and what provides it', async () => {
    const { binDir } = await findPgBinDir({
      path: process.env.PATH ?? '',
      versionRoots: DEFAULT_SEARCH_ROOTS,
    });
    const tree = join(setup.scratch, 'pg-tree', 'usr');
    await mkdir(tree, { recursive: true });
    const ourBin = await pgTreeWithExtension(tree, binDir);
    const withProbe = await startLocalTarget({
      binDir: ourBin,
      tempRoot: setup.scratch,
      baseEnv: process.env,
      log: silentLogger,
    });
    let dump: string;
    try {
      await seedCanary(withProbe.handle, 'backup_test');
      await psql(withProbe.handle, 'backup_test', 'CREATE EXTENSION drill_probe');
      expect(await psql(withProbe.handle, 'backup_test', 'SELECT drill_probe()')).toBe('42\n');
      dump = await dumpAll(withProbe.handle);
    } finally {
      await withProbe.stop();
    }
    const line =
      dump.split('\n').indexOf('CREATE EXTENSION IF NOT EXISTS drill_probe WITH SCHEMA public;') + 1;
    expect(line).toBeGreaterThan(0);

    const run = await drill('extension', dump, ['--target', 'local']);
    expect(run.code, run.stdout).toBe(1);
    const fits = check(run.report, 'precheck: dump fits the target');
    expect(fits?.status).toBe('failed');
    expect(fits?.code).toBe('DRILL_EXTENSION_MISSING');
    expect(fits?.message).toMatch(
      new RegExp(
        `creates 1 extension\\(s\\) that throwaway cluster from .* does not offer \\(pg_available_extensions\\), so the restore was not started: drill_probe \\(line ${line}, database backup_test: \`CREATE EXTENSION IF NOT EXISTS drill_probe WITH SCHEMA public;\`\\) comes from its own package for PostgreSQL 15 \\(its drill_probe.control file goes to`,
      ),
    );
    // Nothing ran after the precheck: no drop, no restore.
    expect(run.report.restore).toBeNull();
    expect(check(run.report, 'drop: canary dropped and gone')?.status).toBe('skipped');
    expect(check(run.report, 'restore: completed')?.status).toBe('skipped');
  });
});

interface Entry {
  path: string;
  mode: number;
  uid: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** Every file and directory under `dir` (itself included), with what a takeover would change. */
async function listing(dir: string): Promise<Entry[]> {
  const out: Entry[] = [];
  const walk = async (path: string) => {
    const s = await stat(path);
    out.push({ path, mode: s.mode, uid: s.uid, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs });
    if (s.isDirectory()) for (const entry of (await readdir(path)).sort()) await walk(join(path, entry));
  };
  await walk(dir);
  return out;
}

describe('a tablespace whose LOCATION exists on this host', () => {
  let tsRoot: string;
  let tsDir: string;
  let dump: string;
  let live: LiveServer | undefined;
  beforeAll(async () => {
    const src = await startTestCluster();
    try {
      // Outside the drill's temp dir, as the source's own tablespace would be on its host.
      tsRoot = await mkdtemp(join(tmpdir(), 'drill-ts-source-'));
      tsDir = join(tsRoot, 'ts1');
      await mkdir(tsDir);
      const owner = await stat(src.handle.connection.host);
      await chmod(tsRoot, 0o755);
      await chown(tsDir, owner.uid, owner.gid);
      await seedCanary(src.handle, 'backup_test');
      await psql(src.handle, 'postgres', `CREATE TABLESPACE drill_ts LOCATION '${tsDir}'`);
      await psql(src.handle, 'postgres', 'CREATE DATABASE ts_db TABLESPACE drill_ts');
      await psql(
        src.handle,
        'backup_test',
        `CREATE TABLE public.archive (id int PRIMARY KEY, note text) TABLESPACE drill_ts;
         CREATE INDEX archive_note ON public.archive (note) TABLESPACE drill_ts;
         INSERT INTO public.archive SELECT g, 'note ' || g FROM generate_series(1, 50) g`,
      );
      await psql(src.handle, 'ts_db', 'CREATE TABLE public.t (id int); INSERT INTO public.t VALUES (1)');
      dump = await dumpAll(src.handle);
    } finally {
      // The source is stopped: from here on nothing but the drill could touch its tablespace directory.
      await src.stop();
    }
  }, 60_000);

  afterAll(async () => {
    await live?.stop();
    if (tsRoot) await rm(tsRoot, { recursive: true, force: true });
  });

  it('restores into a throwaway server with the tablespace made inside its own directory; nothing outside changes', async () => {
    const line = dump.split('\n').findIndex((l) => l.startsWith('CREATE TABLESPACE drill_ts ')) + 1;
    expect(dump.split('\n')[line - 1]).toBe(`CREATE TABLESPACE drill_ts OWNER postgres LOCATION '${tsDir}';`);
    const before = await listing(tsRoot);
    expect(before.length).toBeGreaterThan(3); // ts1, its PG_15_… directory and the source's files

    const run = await drill('tablespace', dump, ['--target', 'local', '--verify', 'deep']);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(await listing(tsRoot)).toEqual(before);
    expect(run.report.restore?.tablespaces).toEqual([
      {
        line,
        name: 'drill_ts',
        original: tsDir,
        mapped: expect.stringMatching(
          new RegExp(`^${setup.scratch}/pg-restore-drill-[^/]+/data/pg_tblspc/\\d+$`),
        ),
      },
    ]);
    expect(run.summary).toMatch(
      new RegExp(`tblspace  drill_ts: ${tsDir} → ${setup.scratch}/pg-restore-drill-`),
    );
    expect(run.report.deep?.tables.map((t) => `${t.database}.${t.table}`)).toEqual(
      expect.arrayContaining(['backup_test.public.archive', 'ts_db.public.t']),
    );
    // The throwaway server, its tablespace with it, is gone.
    expect((await readdir(setup.scratch)).filter((e) => e.startsWith('pg-restore-drill-'))).toEqual([]);
  });

  it('on a live server, a canary section that needs the missing tablespace fails before anything is written', async () => {
    const server = await startLiveServer();
    live = server;
    const databases = () =>
      psql(server.handle, 'postgres', `SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database`);
    const before = await databases();
    const line = dump.split('\n').indexOf('SET default_tablespace = drill_ts;') + 1;
    const run = await drill('tablespace-live', dump, ['--target', 'url', '--mode', 'canary'], {
      env: server.cliEnv,
    });
    expect(run.code, run.stdout).toBe(1);
    const fits = check(run.report, 'precheck: dump fits the target');
    expect(fits?.code).toBe('DRILL_TABLESPACE_MISSING');
    expect(fits?.message).toMatch(
      new RegExp(
        `^the section of backup_test needs tablespace\\(s\\) drill_ts \\(line ${line}: \`SET default_tablespace = drill_ts;\`\\), which .* does not have, so nothing was written\\. Create it on the server first`,
      ),
    );
    expect(run.report.restore).toBeNull();
    expect(await databases()).toBe(before);
    expect(
      await psql(server.handle, 'postgres', `SELECT count(*) FROM pg_tablespace WHERE spcname = 'drill_ts'`),
    ).toBe('0\n');
  });
});
