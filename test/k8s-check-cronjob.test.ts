/**
 * The daily check CronJob (k8s/base/check-cronjob.yaml) as `kubectl kustomize k8s/` renders it: valid
 * against the Kubernetes schema, daily, from the drill's image, settings and ServiceAccount, one
 * restricted container running `--check-only` on the backup volume mounted read-only, no sidecar, no
 * API token, and inside the drill's NetworkPolicy.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { readConfig } from '../lib/config.ts';
import { commandMissing, engineSkip } from './support/engine-skip.ts';
import { ROOT } from './support/run-cli.ts';

type Doc = { kind: string; metadata: { name: string; namespace?: string } } & Record<string, unknown>;

const hasKubectl = !engineSkip(
  'the check CronJob manifest test (kubectl kustomize)',
  commandMissing('kubectl', ['version', '--client'], 'install the kubectl client, 1.27 or newer'),
);

function render(dir: string): Doc[] {
  const out = spawnSync('kubectl', ['kustomize', join(ROOT, dir)], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${out.stderr}`);
  return parseAllDocuments(out.stdout).map((doc) => doc.toJS() as Doc);
}

function find<T>(docs: Doc[], kind: string, name: string): T {
  const doc = docs.find((d) => d.kind === kind && d.metadata.name === name);
  if (!doc) throw new Error(`no ${kind}/${name} rendered`);
  return doc as unknown as T;
}

function pod(cronJob: k8s.V1CronJob): k8s.V1PodTemplateSpec {
  const template = cronJob.spec?.jobTemplate.spec?.template;
  if (!template?.spec) throw new Error(`${cronJob.metadata?.name} has no pod spec`);
  return template;
}

describe.skipIf(!hasKubectl)('the daily check CronJob in k8s/', () => {
  const docs = hasKubectl ? render('k8s') : [];
  const check = hasKubectl ? find<k8s.V1CronJob>(docs, 'CronJob', 'pg-restore-drill-check') : {};
  const drill = hasKubectl ? find<k8s.V1CronJob>(docs, 'CronJob', 'pg-restore-drill') : {};
  const settings = hasKubectl
    ? (find<k8s.V1ConfigMap>(docs, 'ConfigMap', 'pg-restore-drill').data ?? {})
    : {};

  it('is rendered once, in namespace data, and valid against the CronJob schema', () => {
    expect(
      docs
        .filter((d) => d.kind === 'CronJob')
        .map((d) => d.metadata.name)
        .sort(),
    ).toEqual(['pg-restore-drill', 'pg-restore-drill-check']);
    expect(check.metadata?.namespace).toBe('data');
    expect(() => new CronJob(check as ConstructorParameters<typeof CronJob>[0]).validate()).not.toThrow();
  });

  it('runs once a day in UTC, never two at once, never retried', () => {
    const { jobTemplate, ...schedule } = check.spec ?? ({} as k8s.V1CronJobSpec);
    const [minute, hour, ...rest] = (schedule.schedule ?? '').split(' ');
    expect([Number(minute) < 60, Number(hour) < 24, rest]).toEqual([true, true, ['*', '*', '*']]);
    expect(schedule).toMatchObject({ timeZone: 'Etc/UTC', concurrencyPolicy: 'Forbid' });
    expect(jobTemplate.spec?.backoffLimit).toBe(0);
    // The deadline leaves the wait for a backup still being written and its read behind it.
    expect(jobTemplate.spec?.activeDeadlineSeconds).toBeGreaterThan(Number(settings.DRILL_WAIT_FOR_NEWEST));
  });

  it('one container from the drill image runs --check-only on /backups, a config the CLI accepts', () => {
    const spec = pod(check).spec as k8s.V1PodSpec;
    const drillSpec = pod(drill).spec as k8s.V1PodSpec;
    expect(spec.initContainers).toBeUndefined();
    expect(spec.containers.map((c) => c.name)).toEqual(['check']);
    const [container] = spec.containers;
    const drillContainer = drillSpec.containers.find((c) => c.name === 'drill');
    expect(container?.image).toBe(drillContainer?.image);
    expect(container?.envFrom).toEqual(drillContainer?.envFrom);
    expect(container?.command).toBeUndefined();
    const config = readConfig(container?.args ?? [], settings, '/app');
    expect(config).toMatchObject({
      checkOnly: true,
      backups: '/backups',
      pushgateway: settings.DRILL_PUSHGATEWAY_URL,
      metricsCluster: settings.DRILL_METRICS_CLUSTER,
      metricsTarget: settings.DRILL_METRICS_TARGET,
    });
  });

  it("mounts the drill's backup claim read-only, with the same identity and restrictions, and no API token", () => {
    const spec = pod(check).spec as k8s.V1PodSpec;
    const drillSpec = pod(drill).spec as k8s.V1PodSpec;
    const claim = (s: k8s.V1PodSpec) => s.volumes?.find((v) => v.name === 'backups')?.persistentVolumeClaim;
    expect(claim(spec)).toEqual({ ...claim(drillSpec), readOnly: true });
    expect(spec.containers[0]?.volumeMounts?.find((m) => m.name === 'backups')).toEqual({
      name: 'backups',
      mountPath: '/backups',
      readOnly: true,
    });
    expect(spec.serviceAccountName).toBe(drillSpec.serviceAccountName);
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.securityContext).toEqual(drillSpec.securityContext);
    const drillContainer = drillSpec.containers.find((c) => c.name === 'drill');
    expect(spec.containers[0]?.securityContext).toEqual(drillContainer?.securityContext);
    const tmp = spec.containers[0]?.volumeMounts?.find((m) => m.mountPath === '/tmp');
    expect(spec.volumes?.find((v) => v.name === tmp?.name)?.emptyDir?.sizeLimit).toBeDefined();
  });

  it("asks for less than the drill, and falls under the drill's NetworkPolicy", () => {
    const mib = (q: string | undefined) => Number(/^(\d+)Mi$/.exec(q ?? '')?.[1] ?? Number.NaN);
    const own = pod(check).spec?.containers[0]?.resources;
    const drills = pod(drill).spec?.containers.find((c) => c.name === 'drill')?.resources;
    expect(mib(own?.requests?.memory)).toBeLessThan(mib(drills?.requests?.memory));
    expect(Object.keys(own?.limits ?? {}).sort()).toEqual(['cpu', 'memory']);
    const policy = find<k8s.V1NetworkPolicy>(docs, 'NetworkPolicy', 'pg-restore-drill').spec;
    expect(pod(check).metadata?.labels).toMatchObject(
      policy?.podSelector?.matchLabels ?? { missing: 'podSelector' },
    );
  });
});
