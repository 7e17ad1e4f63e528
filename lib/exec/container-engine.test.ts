import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:net';
import { homedir, tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { transform } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { engineCandidates, noEngineConfigured } from './container-engine.ts';

const require = createRequire(import.meta.url);
/** testcontainers' own build: the strategies it tries, read from the installed package. */
const runtimeDir = join(dirname(require.resolve('testcontainers')), 'container-runtime');

describe('where an engine is looked for, before testcontainers is loaded', () => {
  let home: string;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'engine-candidates-'));
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('mirrors the strategies testcontainers tries, in its order', async () => {
    const client = await readFile(join(runtimeDir, 'clients', 'client.js'), 'utf8');
    const list = client.slice(
      client.indexOf('const strategies = ['),
      client.indexOf('];', client.indexOf('const strategies = [')),
    );
    const strategies = [...list.matchAll(/new \w+\.(\w+Strategy)\(\)/g)].map((m) => m[1]);
    // A strategy added upstream must be mirrored in engineCandidates before this passes again.
    expect(strategies).toEqual([
      'TestcontainersHostStrategy',
      'ConfigurationStrategy',
      'UnixSocketStrategy',
      'RootlessUnixSocketStrategy',
      'NpipeSocketStrategy',
    ]);
  });

  it('looks where its other strategies look: one socket path, one properties file, one variable', async () => {
    const strategies = join(runtimeDir, 'strategies');
    const unix = await readFile(join(strategies, 'unix-socket-strategy.js'), 'utf8');
    expect([...unix.matchAll(/existsSync\)\("([^"]+)"\)/g)].map((m) => m[1])).toEqual([
      '/var/run/docker.sock',
    ]);
    const config = await readFile(join(strategies, 'utils', 'config.js'), 'utf8');
    expect([...config.matchAll(/resolve\(\(0, os_1\.homedir\)\(\), "([^"]+)"\)/g)].map((m) => m[1])).toEqual([
      '.testcontainers.properties',
    ]);
    // Of the variables it reads, only DOCKER_HOST makes a strategy applicable (TLS ones only refine it).
    expect(new Set([...config.matchAll(/env\["(\w+)"\]/g)].map((m) => m[1]))).toEqual(
      new Set(['DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH']),
    );
    const candidates = engineCandidates({}, home, 4242);
    expect(candidates).toContain('/var/run/docker.sock');
    expect(candidates).toContain(join(home, '.testcontainers.properties'));
  });

  it('names the rootless sockets testcontainers would try, for the same environment', async () => {
    const { RootlessUnixSocketStrategy } = require(
      join(runtimeDir, 'strategies', 'rootless-unix-socket-strategy.js'),
    ) as {
      RootlessUnixSocketStrategy: new (
        platform: string,
        env: NodeJS.ProcessEnv,
      ) => Record<string, () => string | undefined>;
    };
    const env = { XDG_RUNTIME_DIR: join(home, 'xdg') };
    const strategy = new RootlessUnixSocketStrategy('linux', env);
    const theirs = Object.getOwnPropertyNames(Object.getPrototypeOf(strategy))
      .filter((name) => name.startsWith('getSocketPathFrom'))
      .map((name) => strategy[name]?.());
    expect(theirs.length).toBe(4);
    const ours = engineCandidates(env, homedir(), userInfo().uid);
    for (const path of theirs) expect(ours).toContain(path);
  });

  it('says none is configured, naming every place looked at, when none is there', () => {
    const candidates = engineCandidates({ XDG_RUNTIME_DIR: join(home, 'xdg') }, home, 4242).filter((p) =>
      p.startsWith(home),
    );
    expect(candidates).toHaveLength(4);
    const reason = noEngineConfigured({}, candidates, 'linux');
    expect(reason).toMatch(/^nothing to ask: DOCKER_HOST is not set and none of /);
    for (const path of candidates) expect(reason).toContain(path);
  });

  describe('leaves the probe to testcontainers when one may be there', () => {
    let server: Server | undefined;
    afterEach(async () => {
      await new Promise((done) => (server ? server.close(done) : done(undefined)));
      server = undefined;
    });

    it('a rootless Docker socket in the home directory', async () => {
      const socket = join(home, '.docker', 'run', 'docker.sock');
      await mkdir(dirname(socket), { recursive: true });
      server = createServer();
      await new Promise<void>((listening) => server?.listen(socket, listening));
      const candidates = engineCandidates({}, home).filter((p) => p.startsWith(home));
      expect(noEngineConfigured({}, candidates, 'linux')).toBeUndefined();
    });

    it('a ~/.testcontainers.properties', async () => {
      await writeFile(join(home, '.testcontainers.properties'), 'docker.host=tcp://127.0.0.1:2375\n');
      const candidates = engineCandidates({}, home).filter((p) => p.startsWith(home));
      expect(noEngineConfigured({}, candidates, 'linux')).toBeUndefined();
    });

    it('DOCKER_HOST, whatever the files, and Windows (its named pipe is not a file)', () => {
      const candidates = engineCandidates({}, home).filter((p) => p.startsWith(home));
      expect(
        noEngineConfigured({ DOCKER_HOST: 'unix:///nowhere.sock' }, candidates, 'linux'),
      ).toBeUndefined();
      expect(noEngineConfigured({}, candidates, 'win32')).toBeUndefined();
      expect(noEngineConfigured({}, candidates, 'linux')).toBeDefined();
    });
  });
});

describe('as a uid with no passwd entry (`docker run --user 54321`, OpenShift)', () => {
  let dir: string;
  beforeEach(async () => {
    // That uid reads nothing of the checkout (a clone may sit in a 0700 temp dir): the module under
    // test goes, type-stripped by esbuild (it imports only node builtins), to a directory it may read.
    dir = await mkdtemp(join(tmpdir(), 'engine-unknown-uid-'));
    await chmod(dir, 0o755);
    const source = await readFile(join(import.meta.dirname, 'container-engine.ts'), 'utf8');
    const { code } = await transform(source, { loader: 'ts', format: 'esm' });
    await writeFile(join(dir, 'container-engine.mjs'), code, { mode: 0o644 });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs `noEngineConfigured` as that uid (setpriv: the tests run as root) and prints what it said. */
  function asUnknownUid(env: Record<string, string>): { status: number | null; out: string; err: string } {
    const script = `const { noEngineConfigured } = await import(${JSON.stringify(join(dir, 'container-engine.mjs'))});
const env = ${JSON.stringify(env)};
process.stdout.write(JSON.stringify({ reason: noEngineConfigured(env, undefined, 'linux') ?? null }));`;
    const run = spawnSync(
      'setpriv',
      ['--reuid=54321', '--regid=54321', '--clear-groups', '--', process.execPath, '--input-type=module'],
      { input: `${script}\n`, cwd: dir, encoding: 'utf8', timeout: 30_000 },
    );
    return { status: run.status, out: run.stdout, err: run.stderr };
  }

  it('looks without the passwd lookup, which throws there: DOCKER_HOST leaves it to testcontainers', () => {
    const given = asUnknownUid({ DOCKER_HOST: 'tcp://127.0.0.1:1', HOME: '/nonexistent' });
    expect([given.status, given.out], given.err).toEqual([0, JSON.stringify({ reason: null })]);
    const none = asUnknownUid({ HOME: '/nonexistent' });
    expect(none.status, none.err).toBe(0);
    expect(JSON.parse(none.out).reason).toContain('/run/user/54321/docker.sock');
  });
});
