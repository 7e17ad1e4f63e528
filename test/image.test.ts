/**
 * The image, built for real from the Dockerfile (scripts/build-image.sh: podman, local stand-ins for the
 * base images where no registry is reachable), run the two ways it runs in production:
 *   - the self-contained drill, as `docker run` would: read-only root, /tmp the only writable space,
 *     UID 10001, no network at all;
 *   - the CronJob's pod, emulated with a podman pod straight from the rendered k8s/ manifest: the
 *     scratch-postgres sidecar's own script, the drill container's command, args and ConfigMap settings,
 *     read-only roots, each emptyDir a directory, the backup volume read-only. It restores a real
 *     pg_dumpall and pushes its metrics to a real Pushgateway inside the pod.
 * Needs root and podman (CI: scripts/container-engine.sh); the first build of the stand-ins takes a
 * minute or two, later builds reuse podman's layer cache.
 */
import { type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { seedCanary } from '../lib/drill/seed.ts';
import type { StartedTarget } from '../lib/targets/target.ts';
import { dumpAll, startTestCluster, writeBackup } from './support/cluster.ts';
import { engineSkip } from './support/container-engine.ts';
import { hasPushgateway, PUSHGATEWAY_BIN } from './support/pushgateway.ts';
import { ROOT } from './support/run-cli.ts';

const IMAGE = process.env.DRILL_TEST_IMAGE_TAG ?? 'localhost/pg-restore-drill:test';
const BUILD_TIMEOUT_MS = 480_000;
const RUN_TIMEOUT_MS = 120_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end; never throws for a non-zero exit. */
function run(command: string, args: string[], options: SpawnOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const podman = (...args: string[]) => run('podman', args, { timeout: RUN_TIMEOUT_MS });

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (the image is built with rootful podman)';
  const info = spawnSync('podman', ['info', '--format', '{{.Host.OCIRuntime.Name}}'], { encoding: 'utf8' });
  if (info.error || info.status !== 0) {
    return `podman does not answer (${info.error?.message ?? info.stderr.trim()}); run scripts/container-engine.sh`;
  }
  return undefined;
}
const skip = engineSkip('the image tests', unavailable());

describe.skipIf(skip)('the pg-restore-drill image', () => {
  beforeAll(async () => {
    const started = Date.now();
    const build = await run('bash', [join(ROOT, 'scripts/build-image.sh'), '--no-smoke'], {
      env: { ...process.env, IMAGE },
      timeout: BUILD_TIMEOUT_MS,
    });
    if (build.code !== 0) throw new Error(`scripts/build-image.sh failed (${build.code}):\n${build.stderr}`);
    console.info(`image ${IMAGE} built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, BUILD_TIMEOUT_MS + 10_000);

  it('is configured as documented: UID 10001, the drill as entrypoint, SIGTERM, writes under /tmp', async () => {
    const inspect = await podman('image', 'inspect', '--format', '{{json .Config}}', IMAGE);
    const config = JSON.parse(inspect.stdout) as {
      User: string;
      Entrypoint: string[];
      StopSignal: string;
      WorkingDir: string;
      Env: string[];
    };
    expect({
      user: config.User,
      entrypoint: config.Entrypoint,
      stopSignal: config.StopSignal,
      workingDir: config.WorkingDir,
    }).toEqual({
      user: '10001:10001',
      entrypoint: ['node', '--max-semi-space-size=1', 'bin/pg-restore-drill.mjs'],
      stopSignal: 'SIGTERM',
      workingDir: '/app',
    });
    expect(config.Env).toEqual(
      expect.arrayContaining([
        'HOME=/tmp',
        'MALLOC_ARENA_MAX=2',
        'DRILL_INITDB_CACHE=off',
        'DRILL_TEMP_DIR=/tmp',
        'DRILL_REPORT_DIR=/tmp/drill-report',
      ]),
    );
  });

  it('runs the self-contained drill read-only as UID 10001 without network: PASSED, exit 0', async () => {
    const started = Date.now();
    const drill = await podman(
      'run',
      '--rm',
      '--read-only',
      '--tmpfs',
      '/tmp',
      '--user',
      '10001',
      '--network=none',
      IMAGE,
    );
    console.info(`self-contained drill in the image: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(drill.code, drill.stdout + drill.stderr).toEqual(0);
    expect(drill.stdout).toMatch(/^pg-restore-drill: PASSED {2}\(run \S+, self-contained\)$/m);
  });

  it('runs compiled JavaScript: no tsx or TypeScript in the image, and no process of the drill runs tsx', async () => {
    const files = await podman(
      'run',
      '--rm',
      '--network=none',
      '--entrypoint',
      '["sh", "-c", "ls /app; ls -d /app/node_modules/tsx /app/node_modules/esbuild /app/node_modules/typescript 2>/dev/null; find /app -name \'*.ts\' ! -name \'*.d.ts\' ! -path \'*/node_modules/*\'"]',
      IMAGE,
    );
    // What /app holds: dist/, no lib/ or drills/ source, no tsx, esbuild or TypeScript package, no .ts file of ours.
    expect(files.stdout.trim().split('\n').sort()).toEqual(
      ['bin', 'dist', 'node_modules', 'package-lock.json', 'package.json'].sort(),
    );

    const name = `drill-no-tsx-${randomBytes(3).toString('hex')}`;
    const started = await podman(
      'run',
      '-d',
      '--name',
      name,
      '--read-only',
      '--tmpfs',
      '/tmp',
      '--user',
      '10001',
      '--network=none',
      IMAGE,
    );
    expect(started.code, started.stderr).toBe(0);
    // Every process in the container, its arguments and NODE_OPTIONS, looked at until the drill exits.
    const look =
      'for p in /proc/[0-9]*; do printf "%s|" "$(tr "\\0" " " < $p/cmdline)"; tr "\\0" "\\n" < $p/environ | grep ^NODE_OPTIONS=; echo; done';
    const seen = new Set<string>();
    try {
      for (;;) {
        const sample = await podman('exec', name, 'sh', '-c', look);
        if (sample.code !== 0) break;
        for (const line of sample.stdout.split('\n')) if (line.trim()) seen.add(line.trim());
      }
      const waited = await podman('wait', name);
      const logs = await podman('logs', name);
      expect(waited.stdout.trim(), logs.stdout + logs.stderr).toBe('0');
    } finally {
      await podman('rm', '-f', name);
    }
    const all = [...seen].join('\n');
    expect(
      [...seen].filter((line) => line.startsWith('node --max-semi-space-size=1 bin/pg-restore-drill.mjs')),
      all,
    ).not.toEqual([]);
    expect(
      [...seen].filter((line) => /tsx/i.test(line)),
      all,
    ).toEqual([]);
  });

  it('holds PostgreSQL 18, the production major: the server and every tool the drill runs say so', async () => {
    const versions = await podman(
      'run',
      '--rm',
      '--network=none',
      '--entrypoint',
      '["sh", "-c", "for t in postgres initdb psql pg_dump pg_dumpall pg_restore; do $t --version; done"]',
      IMAGE,
    );
    expect(versions.code, versions.stderr).toBe(0);
    const majors = versions.stdout
      .trim()
      .split('\n')
      .map((line) => /^(\S+) \(PostgreSQL\) (\d+)\./.exec(line)?.slice(1, 3).join(' '));
    expect(majors).toEqual([
      'postgres 18',
      'initdb 18',
      'psql 18',
      'pg_dump 18',
      'pg_dumpall 18',
      'pg_restore 18',
    ]);
    console.info(`PostgreSQL in the image: ${versions.stdout.trim().split('\n')[0]}`);
  });

  it('exits 2 on an unknown option, before it does anything', async () => {
    const drill = await podman('run', '--rm', '--read-only', '--network=none', IMAGE, '--no-such-option');
    expect(drill.code).toEqual(2);
    expect(drill.stderr).toMatch(/Unknown option '--no-such-option'/);
  });

  describe('as the CronJob pod (k8s/), emulated with a podman pod', () => {
    const kubectl = spawnSync('kubectl', ['kustomize', join(ROOT, 'k8s')], { encoding: 'utf8' });
    const missing =
      kubectl.status !== 0
        ? `kubectl kustomize k8s failed or kubectl is missing (${kubectl.error?.message ?? kubectl.stderr.trim()})`
        : !hasPushgateway()
          ? `no ${PUSHGATEWAY_BIN} (Debian package prometheus-pushgateway)`
          : undefined;
    // Under CI=true nothing here may skip: CI provides kubectl and the Pushgateway (engineSkip throws).
    const skipPod = engineSkip('the emulated CronJob pod', missing);

    const pod = `drill-pod-test-${randomBytes(3).toString('hex')}`;
    const podmanPushgateway = `${pod}-pushgateway`;
    let work: string;
    let source: StartedTarget | undefined;
    let spec: k8s.V1PodSpec;
    let settings: Record<string, string>;
    let drill: Run;
    let drillSeconds = 0;

    /** `podman run` arguments for one container of the pod spec, as the kubelet would run it. */
    function containerArgs(c: k8s.V1Container, env: Record<string, string>): string[] {
      // The pod's user and group (k8s/components/backup-access) unless the container sets its own.
      const podSecurity = spec.securityContext;
      const sc = {
        runAsUser: podSecurity?.runAsUser,
        runAsGroup: podSecurity?.runAsGroup,
        ...c.securityContext,
      };
      const args = ['--pod', pod, '--name', `${pod}-${c.name}`, '--read-only-tmpfs=false'];
      if (sc.readOnlyRootFilesystem) args.push('--read-only');
      if (sc.runAsUser !== undefined) args.push('--user', `${sc.runAsUser}:${sc.runAsGroup ?? sc.runAsUser}`);
      if (sc.capabilities?.drop?.includes('ALL')) args.push('--cap-drop=all');
      if (sc.allowPrivilegeEscalation === false) args.push('--security-opt=no-new-privileges');
      for (const m of c.volumeMounts ?? []) {
        const volume = spec.volumes?.find((v) => v.name === m.name);
        const source = volume?.persistentVolumeClaim
          ? join(work, 'pvc', m.name)
          : join(work, 'emptyDir', m.name);
        args.push('--volume', `${source}:${m.mountPath}${m.readOnly ? ':ro' : ''}`);
      }
      const fromConfigMap = c.envFrom?.some((e) => e.configMapRef?.name === 'pg-restore-drill');
      const vars: Record<string, string> = { ...(fromConfigMap ? settings : {}) };
      for (const e of c.env ?? []) {
        if (e.value !== undefined) vars[e.name] = e.value;
        else if (e.valueFrom?.fieldRef) vars[e.name] = `${pod}-${e.name.toLowerCase()}`;
        else throw new Error(`cannot emulate env ${e.name} of ${c.name}`);
      }
      for (const [name, value] of Object.entries({ ...vars, ...env })) args.push('--env', `${name}=${value}`);
      if (c.command) args.push('--entrypoint', JSON.stringify(c.command));
      return [...args, IMAGE, ...(c.args ?? [])];
    }

    beforeAll(async () => {
      if (skipPod) return;
      const docs = parseAllDocuments(kubectl.stdout).map((d) => d.toJS() as { kind: string } & k8s.V1CronJob);
      const cronJob = docs.find((d) => d.kind === 'CronJob');
      const configMap = docs.find((d) => d.kind === 'ConfigMap' && d.metadata?.name === 'pg-restore-drill') as
        | k8s.V1ConfigMap
        | undefined;
      if (!cronJob?.spec?.jobTemplate.spec?.template.spec || !configMap?.data)
        throw new Error('k8s/ lacks the drill');
      spec = cronJob.spec.jobTemplate.spec.template.spec;
      settings = configMap.data;

      // The volumes: every emptyDir a directory anyone may write (as the kubelet makes them), the
      // backup claim a directory holding one real pg_dumpall | gzip of a cluster with the canary.
      work = await mkdtemp(join(tmpdir(), 'drill-pod-test-'));
      await chmod(work, 0o755);
      for (const v of spec.volumes ?? []) {
        const dir = join(work, v.persistentVolumeClaim ? 'pvc' : 'emptyDir', v.name);
        await mkdir(dir, { recursive: true });
        await chmod(join(work, v.persistentVolumeClaim ? 'pvc' : 'emptyDir'), 0o755);
        await chmod(dir, v.emptyDir ? 0o777 : 0o755);
      }
      source = await startTestCluster();
      await seedCanary(source.handle, 'backup_test');
      const file = await writeBackup(
        join(work, 'pvc', 'backups'),
        '2026-11-24-020000',
        await dumpAll(source.handle),
      );
      await chmod(file, 0o644);

      const created = await podman('pod', 'create', '--name', pod, '--network', 'none');
      if (created.code !== 0) throw new Error(`podman pod create: ${created.stderr}`);
      // A real Pushgateway inside the pod (the host's binary, in the drill image for its libc).
      const push = await podman(
        'run',
        '-d',
        '--pod',
        pod,
        '--name',
        podmanPushgateway,
        '--volume',
        `${PUSHGATEWAY_BIN}:/usr/local/bin/pushgateway:ro`,
        '--entrypoint',
        '["/usr/local/bin/pushgateway", "--web.listen-address=127.0.0.1:9091"]',
        IMAGE,
      );
      if (push.code !== 0) throw new Error(`pushgateway container: ${push.stderr}`);

      // The native sidecar first, then its startupProbe until it passes, as the kubelet does.
      const sidecar = spec.initContainers?.[0];
      if (!sidecar) throw new Error('no sidecar in the CronJob');
      const started = await podman('run', '-d', ...containerArgs(sidecar, {}));
      if (started.code !== 0) throw new Error(`sidecar: ${started.stderr}`);
      const probe = sidecar.startupProbe;
      const probeCommand = probe?.exec?.command ?? [];
      let ready = false;
      for (let i = 0; i < (probe?.failureThreshold ?? 3) && !ready; i++) {
        ready = (await podman('exec', `${pod}-${sidecar.name}`, ...probeCommand)).code === 0;
        if (!ready) await new Promise((r) => setTimeout(r, (probe?.periodSeconds ?? 10) * 1000));
      }
      if (!ready) {
        const logs = await podman('logs', `${pod}-${sidecar.name}`);
        throw new Error(`the sidecar never passed its startupProbe:\n${logs.stdout}${logs.stderr}`);
      }

      const drillContainer = spec.containers[0];
      if (!drillContainer) throw new Error('no drill container in the CronJob');
      const t0 = Date.now();
      drill = await podman(
        'run',
        '--rm',
        ...containerArgs(drillContainer, { DRILL_PUSHGATEWAY_URL: 'http://127.0.0.1:9091' }),
      );
      drillSeconds = (Date.now() - t0) / 1000;
    }, 240_000);

    afterAll(async () => {
      if (skipPod) return;
      await podman('pod', 'rm', '--force', pod);
      await source?.stop();
      if (work) await rm(work, { recursive: true, force: true });
    }, 60_000);

    it.skipIf(skipPod)('restores the whole backup into the sidecar and passes', () => {
      console.info(`drill in the emulated CronJob pod: ${drillSeconds.toFixed(1)} s`);
      expect(drill.code, drill.stdout + drill.stderr).toEqual(0);
      expect(drill.stdout).toMatch(/^pg-restore-drill: PASSED {2}\(run \S+, backups\)$/m);
      expect(drill.stdout).toMatch(/postgres-backup-2026-11-24-020000\.sql\.gz/);
      expect(drill.stdout).toMatch(/scratch server postgres@127\.0\.0\.1:5432\/postgres/);
    });

    it.skipIf(skipPod)('pushes its verdict under the ConfigMap grouping labels', async () => {
      const metrics = await podman(
        'run',
        '--rm',
        '--pod',
        pod,
        '--entrypoint',
        '["node", "-e", "fetch(process.argv[1]).then((r) => r.text()).then((t) => process.stdout.write(t))"]',
        IMAGE,
        'http://127.0.0.1:9091/metrics',
      );
      expect(metrics.stdout).toMatch(
        new RegExp(
          `^pg_dr_drill_success\\{instance="",job="pg_restore_drill",pg_cluster="${settings.DRILL_METRICS_CLUSTER}",target="${settings.DRILL_METRICS_TARGET}"\\} 1$`,
          'm',
        ),
      );
    });

    it.skipIf(skipPod)('the sidecar listens on 127.0.0.1:5432 only', async () => {
      const listening = await podman(
        'exec',
        `${pod}-scratch-postgres`,
        'cat',
        '/proc/net/tcp',
        '/proc/net/tcp6',
      );
      // Local address and state of each socket; 0A is LISTEN, 1538 is port 5432.
      const sockets = listening.stdout
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter((f) => f[3] === '0A' && f[1]?.endsWith(':1538'))
        .map((f) => f[1]);
      expect(sockets).toEqual(['0100007F:1538']);
    });

    it.skipIf(skipPod)('never prints the sidecar password', async () => {
      const password = (await readFile(join(work, 'emptyDir', 'scratch-auth', 'password'), 'utf8')).trim();
      expect(password).toMatch(/^[0-9a-f]{64}$/);
      const sidecarLog = await podman('logs', `${pod}-scratch-postgres`);
      for (const text of [drill.stdout, drill.stderr, sidecarLog.stdout, sidecarLog.stderr]) {
        expect(text.includes(password)).toBe(false);
      }
    });
  });
});
