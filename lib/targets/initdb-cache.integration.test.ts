import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgTreeWithExtension } from '../../test/support/pg-tree.ts';
import type { Logger } from '../log.ts';
import { DEFAULT_SEARCH_ROOTS, findPgBinDir } from '../pg/binaries.ts';
import { withClient } from '../pg/databases.ts';
import { census, templateKey } from './initdb-cache.ts';
import { startLocalTarget } from './local.ts';
import { INITDB_OPTIONS } from './local-data-dir.ts';
import type { StartedTarget } from './target.ts';

/** A logger that keeps what it is told. */
function keptLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(m), warn: (m) => lines.push(`warning: ${m}`) };
}

/** sha256 over every path and every byte of the tree: changes when any file does. */
async function treeChecksum(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const entries = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .map((e) => join(e.parentPath, e.name))
    .sort();
  for (const path of entries) {
    const info = await stat(path);
    hash.update(`${path.slice(dir.length)}\0${info.mode}\0`);
    if (info.isFile()) hash.update(await readFile(path));
  }
  return hash.digest('hex');
}

/** Waits (up to a minute) until a run's spare of `name` is in the cache: it is made at the lowest priority. */
async function spareMade(cache: string, name: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if ((await readdir(cache)).some((e) => e.startsWith(`${name}.spare-`))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no spare of ${name} in ${cache} within a minute`);
}

describe('the initdb template cache of the local target', () => {
  let binDir = '';
  let root = '';
  /** The uid and gid the server's files belong to: the postgres user as root (this machine), else ours. */
  let owner = { uid: 0, gid: 0 };
  const started: StartedTarget[] = [];

  beforeAll(async () => {
    binDir = (await findPgBinDir({ path: process.env.PATH ?? '', versionRoots: DEFAULT_SEARCH_ROOTS }))
      .binDir;
    root = await mkdtemp(join(tmpdir(), 'drill-initdb-cache-'));
    await chmod(root, 0o755);
    const probe = await startLocalTarget({ binDir, tempRoot: root, baseEnv: process.env, log: keptLog() });
    const info = await stat(join(probe.handle.connection.host, 'data', 'PG_VERSION'));
    owner = { uid: info.uid, gid: info.gid };
    await probe.stop();
  });
  afterAll(async () => {
    for (const target of started) await target.stop();
    await rm(root, { recursive: true, force: true });
  });

  const start = async (cache: string, log = keptLog(), bin = binDir) => {
    const target = await startLocalTarget({
      binDir: bin,
      tempRoot: root,
      baseEnv: process.env,
      log,
      initdbCache: cache,
    });
    started.push(target);
    return { target, log };
  };
  const verifier = (target: StartedTarget) =>
    withClient(target.handle.connection, 'postgres', async (c) => {
      const { rows } = await c.query<{ v: string }>(
        "SELECT rolpassword AS v FROM pg_authid WHERE rolname = 'postgres'",
      );
      return rows[0]?.v ?? '';
    });
  const freshCache = async () => {
    const dir = join(root, `cache-${Math.random().toString(36).slice(2)}`);
    return dir;
  };

  it('fills on the first start, copies on the second, with a fresh password each time and the template unchanged', async () => {
    const cache = await freshCache();
    const first = await start(cache);
    const key = await templateKey(binDir, INITDB_OPTIONS, owner);
    const template = join(cache, key.name);
    expect(first.log.lines.filter((l) => l.startsWith('initdb cache'))).toEqual([
      expect.stringMatching(
        new RegExp(
          `^initdb cache: no template yet for these binaries; initdb took [\\d.]+ s; kept as the template ${template} for the next runs`,
        ),
      ),
    ]);
    expect(first.target.handle.description).toMatch(/\(data from initdb\)$/);
    const firstVerifier = await verifier(first.target);
    await first.target.stop();
    const before = await treeChecksum(template);

    const second = await start(cache);
    expect(second.log.lines.filter((l) => l.startsWith('initdb cache'))).toEqual([
      expect.stringMatching(
        new RegExp(`^initdb cache: data directory copied from ${template} in [\\d.]+ s$`),
      ),
    ]);
    expect(second.target.handle.description).toMatch(
      new RegExp(`\\(data copied from the initdb cache ${template}\\)$`),
    );
    const { connection } = second.target.handle;
    // As root the copy belongs to the server's user, as the template does; the server runs on it.
    const copied = await stat(join(connection.host, 'data', 'base'));
    expect({ uid: copied.uid, gid: copied.gid, mode: copied.mode & 0o777 }).toEqual({
      ...owner,
      mode: 0o700,
    });
    const secondVerifier = await verifier(second.target);
    expect(firstVerifier).toMatch(
      /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/,
    );
    expect(secondVerifier).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(secondVerifier).not.toBe(firstVerifier);
    // TCP demands the run's own password; the first run's does not open the second's server.
    const tcp = { ...connection, host: '127.0.0.1' };
    expect(
      await withClient(tcp, 'postgres', async (c) => (await c.query('SELECT 1 AS one')).rows[0]?.one),
    ).toBe(1);
    await expect(withClient({ ...tcp, password: 'wrong' }, 'postgres', async () => 1)).rejects.toThrow(
      /password authentication failed for user "postgres"/,
    );
    // Writes into the copy (a database, a checkpoint) never reach the template.
    await withClient(connection, 'postgres', async (c) => {
      await c.query('CREATE DATABASE scribble');
      await c.query('CHECKPOINT');
    });
    await spareMade(cache, key.name);
    await second.target.stop();
    expect(await treeChecksum(template)).toBe(before);

    // The second run left a spare copy of the template: the third takes it by a rename, checked as a copy is.
    const spares = (await readdir(cache)).filter((e) => e.startsWith(`${key.name}.spare-`));
    expect(spares).toHaveLength(1);
    const third = await start(cache);
    expect(third.log.lines.filter((l) => l.startsWith('initdb cache'))).toEqual([
      expect.stringMatching(
        new RegExp(`^initdb cache: data directory taken from a spare copy of ${template} in [\\d.]+ s$`),
      ),
    ]);
    const thirdVerifier = await verifier(third.target);
    expect([firstVerifier, secondVerifier]).not.toContain(thirdVerifier);
    // …and makes the next one (waited for here: a stop abandons a spare not yet made).
    for (;;) {
      const now = (await readdir(cache)).filter((e) => e.startsWith(`${key.name}.spare-`));
      if (now.length === 1 && now[0] !== spares[0]) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await third.target.stop();
    const after = (await readdir(cache)).filter((e) => e.startsWith(`${key.name}.spare-`));
    expect(after).toHaveLength(1);
    expect(after).not.toEqual(spares);
    expect(await treeChecksum(template)).toBe(before);
    // Neither run's verifier is in the template: it was copied before any start, and holds no password.
    const catalog = await readFile(join(template, 'data', 'global', '1260'));
    for (const v of [firstVerifier, secondVerifier])
      expect(catalog.includes(v.split('$')[2] ?? '?')).toBe(false);
  });

  it('never uses a stray .tmp-* copy, a template without its manifest, or a half-written one', async () => {
    const cache = await freshCache();
    const filled = await start(cache);
    await filled.target.stop();
    const key = await templateKey(binDir, INITDB_OPTIONS, owner);
    const template = join(cache, key.name);

    // A filler that died before its rename: only its .tmp-* copy is there.
    await rename(template, `${template}.tmp-deadbeef0000`);
    const stray = await start(cache);
    expect(stray.log.lines.find((l) => l.startsWith('initdb cache'))).toMatch(
      /^initdb cache: no template yet/,
    );
    await stray.target.stop();
    await rm(`${template}.tmp-deadbeef0000`, { recursive: true });

    // A template without its manifest (a copy made by hand, or half of one).
    await rm(join(template, 'template.json'));
    const bare = await start(cache);
    expect(bare.log.lines.find((l) => l.startsWith('initdb cache'))).toMatch(
      new RegExp(
        `^initdb cache: ${template} not used: its template.json cannot be read \\(ENOENT.*; initdb took [\\d.]+ s; kept as the template ${template}`,
      ),
    );
    await bare.target.stop();

    // A template whose files no longer match its manifest: one cut short, one missing.
    await truncate(join(template, 'data', 'global', 'pg_control'), 100);
    await rm(join(template, 'data', 'PG_VERSION'));
    const half = await start(cache);
    expect(half.log.lines.find((l) => l.startsWith('initdb cache'))).toMatch(
      new RegExp(
        `^initdb cache: ${template} not used: it holds \\d+ entries of \\d+ bytes where its template.json counted \\d+ of \\d+ \\(half-written or changed\\); initdb took`,
      ),
    );
    expect(half.target.handle.description).toMatch(/\(data from initdb\)$/);
    await half.target.stop();
    // …and it was replaced: the next start copies a whole one, and no temporary copy is left behind.
    const again = await start(cache);
    expect(again.log.lines.find((l) => l.startsWith('initdb cache'))).toMatch(
      /^initdb cache: data directory copied from/,
    );
    await spareMade(cache, key.name);
    await again.target.stop();
    // The template and the next run's spare; no temporary copy.
    expect((await readdir(cache)).map((e) => e.replace(/\.spare-[0-9a-f]{12}$/, '.spare'))).toEqual([
      key.name,
      `${key.name}.spare`,
    ]);
  });

  it("never uses the template of another bin directory, another version's or another format's", async () => {
    const cache = await freshCache();
    const system = await start(cache);
    await system.target.stop();
    const key = await templateKey(binDir, INITDB_OPTIONS, owner);

    // Another installation of the same release (its own copies of the binaries): another key.
    const tree = await mkdtemp(join(root, 'tree-'));
    await chmod(tree, 0o755);
    const otherBin = await pgTreeWithExtension(tree, binDir);
    const otherKey = await templateKey(otherBin, INITDB_OPTIONS, owner);
    expect(otherKey.name).not.toBe(key.name);
    const other = await start(cache, keptLog(), otherBin);
    expect(other.log.lines.find((l) => l.startsWith('initdb cache'))).toMatch(
      /^initdb cache: no template yet for these binaries/,
    );
    await other.target.stop();
    expect((await readdir(cache)).sort()).toEqual([key.name, otherKey.name].sort());

    // A manifest that names another version (as a template from an older format or release would).
    const manifestFile = join(cache, key.name, 'template.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
    manifest.facts.version = 'postgres (PostgreSQL) 14.11';
    await writeFile(manifestFile, JSON.stringify(manifest));
    const mismatch = await start(cache);
    expect(mismatch.log.lines.find((l) => l.startsWith('initdb cache'))).toMatch(
      /not used: its template.json names other binaries or another format; initdb took/,
    );
    await mismatch.target.stop();
  });

  it('lets two starts fill the cache at once: both run, one template is kept, no copy left behind', async () => {
    const cache = await freshCache();
    const [a, b] = await Promise.all([start(cache), start(cache)]);
    const outcomes = [a, b].map((s) => s.log.lines.find((l) => l.startsWith('initdb cache')) ?? '');
    // Both looked before either had filled (the usual case: the look is ~1 s before the fill), or the
    // second found the first's template: either way each ran, and at most one rename won.
    for (const outcome of outcomes) {
      expect(outcome).toMatch(
        /^initdb cache: (no template yet for these binaries; initdb took [\d.]+ s; (kept as the template .* for the next runs|.*: another run filled it first)|data directory copied from .*)/,
      );
    }
    expect(outcomes.filter((o) => /kept as the template/.test(o))).toHaveLength(1);
    for (const s of [a, b]) {
      expect(
        await withClient(
          s.target.handle.connection,
          'postgres',
          async (c) => (await c.query('SELECT 1 AS one')).rows[0]?.one,
        ),
      ).toBe(1);
      await s.target.stop();
    }
    const key = await templateKey(binDir, INITDB_OPTIONS, owner);
    expect((await readdir(cache)).filter((e) => !e.includes('.spare-'))).toEqual([key.name]);
    const manifest = JSON.parse(await readFile(join(cache, key.name, 'template.json'), 'utf8'));
    expect(manifest.census).toEqual(census(join(cache, key.name, 'data')));
  });

  it("uses no cache others may write, and no template's pg_hba.conf: TCP always asks the run's password", async () => {
    const cache = await freshCache();
    const filled = await start(cache);
    await filled.target.stop();
    const key = await templateKey(binDir, INITDB_OPTIONS, owner);
    const template = join(cache, key.name);
    const before = await treeChecksum(template);
    // A cache directory its group or others may write: anyone could have planted the template.
    await chmod(cache, 0o777);
    const open = await start(cache);
    expect(open.log.lines.filter((l) => l.startsWith('initdb cache'))).toEqual([
      expect.stringMatching(
        new RegExp(
          `^initdb cache not used \\(${cache} may be written by its group or others \\(mode 777\\): --initdb-cache DIR\\|off\\): initdb took [\\d.]+ s$`,
        ),
      ),
    ]);
    expect(open.target.handle.description).toMatch(/\(data from initdb\)$/);
    await open.target.stop();
    expect(await treeChecksum(template)).toBe(before);
    await chmod(cache, 0o700);
    // A template whose pg_hba.conf trusts TCP, its size kept (so its census still matches): the run
    // writes its own, and a wrong password is refused.
    const hba = join(template, 'data', 'pg_hba.conf');
    const planted = (await readFile(hba, 'utf8')).replaceAll('scram-sha-256', 'trust        ');
    expect(planted).toMatch(/^host\s+all\s+all\s+127\.0\.0\.1\/32\s+trust/m);
    await writeFile(hba, planted);
    const copied = await start(cache);
    expect(copied.target.handle.description).toMatch(/\(data copied from the initdb cache /);
    const tcp = { ...copied.target.handle.connection, host: '127.0.0.1' };
    await expect(withClient({ ...tcp, password: 'wrong' }, 'postgres', async () => 1)).rejects.toThrow(
      /password authentication failed for user "postgres"/,
    );
    await copied.target.stop();
  });

  it('sets aside a template the server will not start on (right sizes, wrong bytes) and runs initdb, this time and to refill', async () => {
    const cache = await freshCache();
    const filled = await start(cache);
    await filled.target.stop();
    const key = await templateKey(binDir, INITDB_OPTIONS, owner);
    const template = join(cache, key.name);
    // What a host crash can leave after an unsynced write: the control file's size, zeros for its bytes.
    const control = join(template, 'data', 'global', 'pg_control');
    await writeFile(control, Buffer.alloc((await stat(control)).size));
    const healed = await start(cache);
    const lines = healed.log.lines.filter((l) => l.includes('initdb cache'));
    expect(lines).toEqual([
      expect.stringMatching(
        new RegExp(`^initdb cache: data directory copied from ${template} in [\\d.]+ s$`),
      ),
      expect.stringMatching(
        new RegExp(
          `^warning: initdb cache: the server did not start on a copy of ${template} \\(The throwaway PostgreSQL in .* did not start: .*\\): the template is set aside and initdb runs$`,
        ),
      ),
      expect.stringMatching(
        new RegExp(`^initdb cache not used \\(${template} was just set aside\\): initdb took [\\d.]+ s$`),
      ),
    ]);
    expect(healed.target.handle.description).toMatch(/\(data from initdb\)$/);
    expect(
      await withClient(
        healed.target.handle.connection,
        'postgres',
        async (c) => (await c.query('SELECT 1 AS one')).rows[0]?.one,
      ),
    ).toBe(1);
    await healed.target.stop();
    expect((await readdir(cache)).filter((e) => e.startsWith(key.name))).toEqual([]);
    const refilled = await start(cache);
    expect(refilled.log.lines.filter((l) => l.startsWith('initdb cache'))).toEqual([
      expect.stringMatching(
        /^initdb cache: no template yet for these binaries; initdb took [\d.]+ s; kept as the template /,
      ),
    ]);
    await refilled.target.stop();
  });

  it('runs initdb, saying why, when the cache directory cannot be made', async () => {
    // A regular file where the cache's parent directory should be: even root cannot make it.
    const file = join(root, `not-a-dir-${Math.random().toString(36).slice(2)}`);
    await writeFile(file, '');
    const cache = join(file, 'initdb');
    const { target, log } = await start(cache);
    expect(log.lines.filter((l) => l.startsWith('initdb cache'))).toEqual([
      expect.stringMatching(
        new RegExp(
          `^initdb cache: no template yet for these binaries; initdb took [\\d.]+ s; the cache ${cache} cannot be written \\(ENOTDIR.*\\): running without it; --initdb-cache DIR\\|off$`,
        ),
      ),
    ]);
    expect(
      await withClient(
        target.handle.connection,
        'postgres',
        async (c) => (await c.query('SELECT 1 AS one')).rows[0]?.one,
      ),
    ).toBe(1);
    await target.stop();
  });
});
