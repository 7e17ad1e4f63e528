import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readReport, runCli } from './support/run-cli.ts';
import { onTmpfs } from './support/tmpfs.ts';

const run = promisify(execFile);

/** The one line the local target says about the initdb cache. */
const cacheLine = (stderr: string) => stderr.split('\n').filter((l) => /^initdb cache/.test(l));

describe('the self-contained drill with the initdb cache', () => {
  let scratch = '';
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'drill-initdb-cli-'));
    await chmod(scratch, 0o755);
  });
  afterAll(() => rm(scratch, { recursive: true, force: true }));

  const drill = async (name: string, args: string[], env: NodeJS.ProcessEnv, temp = scratch) => {
    const reports = join(scratch, `${name}-report`);
    const result = await runCli(
      ['--target', 'local', '--temp-dir', temp, '--report-dir', reports, '--progress', 'off', ...args],
      env,
    );
    return { ...result, report: await readReport(reports) };
  };

  it('two drills filling an empty cache at once both pass; the next copies the template; --keep still connects over TCP', async () => {
    const xdg = join(scratch, 'xdg');
    const env = { XDG_CACHE_HOME: xdg };
    const [a, b] = await Promise.all([drill('a', [], env), drill('b', [], env)]);
    for (const r of [a, b]) {
      expect({ code: r.code, verdict: r.report.verdict }).toEqual({ code: 0, verdict: 'passed' });
      expect(cacheLine(r.stderr)).toHaveLength(1);
    }
    const [template] = await readdir(join(xdg, 'pg-restore-drill', 'initdb'));
    expect(template).toMatch(/^\d+\.\d+-[0-9a-f]{24}$/);
    const path = join(xdg, 'pg-restore-drill', 'initdb', template as string);

    const c = await drill('c', ['--keep'], env);
    expect({ code: c.code, verdict: c.report.verdict }).toEqual({ code: 0, verdict: 'passed' });
    expect(cacheLine(c.stderr)).toEqual([
      expect.stringMatching(new RegExp(`^initdb cache: data directory copied from ${path} in [\\d.]+ s$`)),
    ]);
    expect(c.report.target?.description).toMatch(
      new RegExp(`\\(data copied from the initdb cache ${path}\\)$`),
    );
    expect(c.stdout).toContain(`(data copied from the initdb cache ${path}), PostgreSQL`);
    // The kept server: its printed TCP command works with its pgpass, and it is removed as printed.
    const connect = /connect: PGPASSFILE=(\S+) (\S+) -h 127\.0\.0\.1 -p (\d+) -U postgres -d postgres/.exec(
      c.stderr,
    );
    const remove = /remove: {2}(.*)$/m.exec(c.stderr);
    expect(connect).not.toBeNull();
    const [, pgpass, psql, port] = connect as RegExpExecArray;
    const { stdout } = await run(
      psql as string,
      [
        '-X',
        '-w',
        '-At',
        '-h',
        '127.0.0.1',
        '-p',
        port as string,
        '-U',
        'postgres',
        '-d',
        'backup_test',
        '-c',
        'SELECT count(*) FROM users',
      ],
      {
        env: { PATH: process.env.PATH, PGPASSFILE: pgpass },
      },
    );
    expect(stdout.trim()).toBe('3');
    await expect(
      run(
        psql as string,
        ['-X', '-w', '-h', '127.0.0.1', '-p', port as string, '-U', 'postgres', '-c', 'SELECT 1'],
        {
          env: { PATH: process.env.PATH, PGPASSWORD: 'wrong' },
        },
      ),
    ).rejects.toThrow(/password authentication failed for user "postgres"/);
    await run('sh', ['-c', (remove as RegExpExecArray)[1] as string]);
  });

  it('a first run on another file system than the cache fills the template beside the run, and the next run copies it', async () => {
    // As a self-contained drill's cluster in /dev/shm and the cache on disk: the server starts on
    // initdb's own directory, the template is filled from a copy of it while the run goes on.
    const xdg = join(scratch, 'xdg-beside');
    const env = { XDG_CACHE_HOME: xdg };
    const path = (name: string) => join(xdg, 'pg-restore-drill', 'initdb', name);
    await onTmpfs(join(scratch, 'temp-beside'), 'size=256m,mode=0755', async (temp) => {
      const first = await drill('beside-first', [], env, temp);
      expect({ code: first.code, verdict: first.report.verdict }).toEqual({ code: 0, verdict: 'passed' });
      const [template] = await readdir(join(xdg, 'pg-restore-drill', 'initdb'));
      expect(cacheLine(first.stderr)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^initdb cache: no template yet for these binaries; initdb took [\\d.]+ s; kept as the template ${path(template as string)} for the next runs \\([\\d.]+ s, filled beside the run\\)$`,
          ),
        ),
      ]);
      // The template alone, whole (its manifest written last); nothing of the run left on its file system.
      expect(await readdir(join(xdg, 'pg-restore-drill', 'initdb'))).toEqual([template]);
      expect(await readdir(path(template as string))).toEqual(['data', 'template.json']);
      expect((await readdir(temp)).filter((e) => e !== 'lost+found')).toEqual([]);

      const next = await drill('beside-next', [], env, temp);
      expect({ code: next.code, verdict: next.report.verdict }).toEqual({ code: 0, verdict: 'passed' });
      expect(cacheLine(next.stderr)).toEqual([
        expect.stringMatching(
          new RegExp(`^initdb cache: data directory copied from ${path(template as string)} in [\\d.]+ s$`),
        ),
      ]);
      expect((await readdir(temp)).filter((e) => e !== 'lost+found')).toEqual([]);
    });
  });

  it("a template that cannot be filled beside the run (the cache's disk full) leaves no half behind, in one line", async () => {
    const temp = join(scratch, 'temp-full');
    await mkdir(temp);
    await chmod(temp, 0o755);
    await onTmpfs(join(scratch, 'xdg-full'), 'size=1m,mode=0755', async (xdg) => {
      const cache = join(xdg, 'pg-restore-drill', 'initdb');
      const r = await drill('full', [], { XDG_CACHE_HOME: xdg }, temp);
      expect({ code: r.code, verdict: r.report.verdict }).toEqual({ code: 0, verdict: 'passed' });
      expect(cacheLine(r.stderr)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^initdb cache: no template yet for these binaries; initdb took [\\d.]+ s; the cache ${cache} cannot be written \\(cp: .*No space left on device\\): running without it; --initdb-cache DIR\\|off$`,
          ),
        ),
      ]);
      expect(await readdir(cache)).toEqual([]);
      expect(await readdir(temp)).toEqual([]);
    });
  });

  it('a template of other binaries no run used for 30 days is removed by the next run, in one line', async () => {
    const xdg = join(scratch, 'xdg-prune');
    const env = { XDG_CACHE_HOME: xdg };
    const first = await drill('prune-fill', [], env);
    expect(first.code, first.stderr).toBe(0);
    const cache = join(xdg, 'pg-restore-drill', 'initdb');
    const [current] = await readdir(cache);
    // What a package update leaves behind: the template of the binaries before, last used 31 days ago.
    const old = `15.0-${'0'.repeat(24)}`;
    await run('cp', ['-a', join(cache, current as string), join(cache, old)]);
    const longAgo = new Date(Date.now() - 31 * 24 * 60 * 60 * 1000);
    await utimes(join(cache, old, 'template.json'), longAgo, longAgo);
    const next = await drill('prune-next', [], env);
    expect({ code: next.code, verdict: next.report.verdict }).toEqual({ code: 0, verdict: 'passed' });
    expect(cacheLine(next.stderr)).toContain(
      `initdb cache: removed 1 template(s) no run used for 30 days: ${old}`,
    );
    expect((await readdir(cache)).filter((e) => !e.includes('.spare-'))).toEqual([current]);
  });

  it('--initdb-cache off runs initdb and leaves the cache alone', async () => {
    const xdg = join(scratch, 'xdg-off');
    await mkdir(xdg);
    const r = await drill('off', ['--initdb-cache', 'off'], { XDG_CACHE_HOME: xdg });
    expect({ code: r.code, verdict: r.report.verdict }).toEqual({ code: 0, verdict: 'passed' });
    expect(cacheLine(r.stderr)).toEqual([
      expect.stringMatching(/^initdb cache not used \(--initdb-cache off\): initdb took [\d.]+ s$/),
    ]);
    expect(r.report.target?.description).toMatch(/\(data from initdb\)$/);
    expect(await readdir(xdg)).toEqual([]);
  });

  it('an unwritable cache directory, or none at all, falls back to initdb with one log line, and the drill passes', async () => {
    // A read-only file system where the cache would be, as a pod's read-only root is (EROFS even for root).
    const locked = join(scratch, 'read-only');
    const r = await onTmpfs(locked, 'ro,size=1m,mode=0755', () =>
      drill('locked', [], { HOME: locked, XDG_CACHE_HOME: '' }),
    );
    const cache = join(locked, '.cache', 'pg-restore-drill', 'initdb');
    expect({ code: r.code, verdict: r.report.verdict }).toEqual({ code: 0, verdict: 'passed' });
    expect(cacheLine(r.stderr)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^initdb cache: no template yet for these binaries; initdb took [\\d.]+ s; the cache ${cache} cannot be written \\(EROFS: read-only file system.*\\): running without it; --initdb-cache DIR\\|off$`,
        ),
      ),
    ]);

    const homeless = await drill('homeless', [], { HOME: '', XDG_CACHE_HOME: '' });
    expect({ code: homeless.code, verdict: homeless.report.verdict }).toEqual({ code: 0, verdict: 'passed' });
    expect(cacheLine(homeless.stderr)).toEqual([
      expect.stringMatching(
        /^initdb cache not used \(no cache directory: neither XDG_CACHE_HOME nor HOME is set; --initdb-cache DIR gives one\): initdb took [\d.]+ s$/,
      ),
    ]);
  });
});
