/**
 * k8s/ as the cluster gets it: the base and the canary overlay rendered by `kubectl kustomize`, every
 * object valid against the Kubernetes OpenAPI schemas (kubernetes-models, @kubernetes-models/
 * prometheus-operator) and free of fields the API does not know (the models of @kubernetes/client-node,
 * generated from the same OpenAPI), and the properties the drill's safety rests on asserted exactly.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { readConfig } from '../lib/config.ts';
import { loadExpectations } from '../lib/expect/expectations.ts';
import { commandMissing, engineSkip } from './support/engine-skip.ts';
import { ROOT } from './support/run-cli.ts';

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } } & Record<
  string,
  unknown
>;

/** A kubernetes-models class: built from the object, `validate()` throws what the schema rejects. */
type SchemaModel = new (data: Manifest) => { validate(): void };
/** The models type their input; a parsed manifest is plain data, which is exactly what they check. */
const schema = (model: unknown) => (doc: Manifest) => new (model as SchemaModel)(doc).validate();

/** Schema validators by `apiVersion kind`, and the client-node model of built-in kinds. */
const MODELS: Record<string, { validate: (doc: Manifest) => void; clientModel?: string }> = {
  'v1 ServiceAccount': { validate: schema(ServiceAccount), clientModel: 'V1ServiceAccount' },
  'v1 ConfigMap': { validate: schema(ConfigMap), clientModel: 'V1ConfigMap' },
  'batch/v1 CronJob': { validate: schema(CronJob), clientModel: 'V1CronJob' },
  'rbac.authorization.k8s.io/v1 Role': { validate: schema(Role), clientModel: 'V1Role' },
  'rbac.authorization.k8s.io/v1 RoleBinding': { validate: schema(RoleBinding), clientModel: 'V1RoleBinding' },
  'networking.k8s.io/v1 NetworkPolicy': { validate: schema(NetworkPolicy), clientModel: 'V1NetworkPolicy' },
  'monitoring.coreos.com/v1 PrometheusRule': { validate: schema(PrometheusRule) },
};

// Under CI=true a missing kubectl fails this file (engineSkip throws): CI without it is broken.
const hasKubectl = !engineSkip(
  'the k8s/ manifest tests (kubectl kustomize)',
  commandMissing('kubectl', ['version', '--client'], 'install the kubectl client, 1.27 or newer'),
);

/** `kubectl kustomize DIR`, parsed. */
function render(dir: string): { text: string; docs: Manifest[] } {
  const out = spawnSync('kubectl', ['kustomize', join(ROOT, dir)], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${out.stderr}`);
  const docs = parseAllDocuments(out.stdout).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${dir}: ${doc.errors[0]?.message}`);
    return doc.toJS() as Manifest;
  });
  return { text: out.stdout, docs };
}

/** The generated client-node models list their fields: JSON name and type name, e.g. `Array<V1EnvVar>`. */
type ClientModel = { getAttributeTypeMap?: () => { baseName: string; type: string }[] };

/** Paths of fields the Kubernetes API does not define, walking the client-node model of `type`. */
function unknownFields(value: unknown, type: string, path = ''): string[] {
  if (typeof value !== 'object' || value === null) return [];
  const item = /^Array<(.+)>$/.exec(type)?.[1];
  if (item !== undefined && Array.isArray(value)) {
    return value.flatMap((v, i) => unknownFields(v, item, `${path}[${i}]`));
  }
  const entries = Object.entries(value);
  const mapped = /^\{ \[key: string\]: (.+); \}$/.exec(type)?.[1];
  if (mapped !== undefined) return entries.flatMap(([key, v]) => unknownFields(v, mapped, `${path}.${key}`));
  const model = (k8s as unknown as Record<string, ClientModel | undefined>)[type];
  if (!model?.getAttributeTypeMap) return [];
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return entries.flatMap(([key, v]) => {
    const fieldType = fields.get(key);
    return fieldType === undefined ? [`${path}.${key}`] : unknownFields(v, fieldType, `${path}.${key}`);
  });
}

function schemaErrors(doc: Manifest): string[] {
  const model = MODELS[`${doc.apiVersion} ${doc.kind}`];
  if (!model) return [`no schema known for ${doc.apiVersion} ${doc.kind}`];
  try {
    model.validate(doc);
  } catch (error) {
    return [(error as Error).message];
  }
  return model.clientModel ? unknownFields(doc, model.clientModel).map((p) => `unknown field ${p}`) : [];
}

function find<T = k8s.V1CronJob>(docs: Manifest[], kind: string, name: string): T {
  const doc = docs.find((d) => d.kind === kind && d.metadata.name === name);
  if (!doc) throw new Error(`no ${kind}/${name} rendered`);
  return doc as unknown as T;
}

function podSpec(docs: Manifest[]): k8s.V1PodSpec {
  const spec = find(docs, 'CronJob', 'pg-restore-drill').spec?.jobTemplate.spec?.template.spec;
  if (!spec) throw new Error('the CronJob has no pod spec');
  return spec;
}

function container(spec: k8s.V1PodSpec, name: string): k8s.V1Container {
  const found = [...(spec.initContainers ?? []), ...spec.containers].find((c) => c.name === name);
  if (!found) throw new Error(`no container ${name}`);
  return found;
}

const RESTRICTED_CONTAINER = {
  runAsNonRoot: true,
  runAsUser: 10001,
  runAsGroup: 10001,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};
const BASE_ARGS = [
  '--target',
  'url',
  '--scratch',
  '--database-url',
  'postgres://postgres@127.0.0.1:5432/postgres',
  '--backups',
  '/backups',
];
const CANARY_ARGS = [
  '--target',
  'url',
  '--mode',
  'canary',
  '--database-url',
  'postgres://postgres@postgres-postgresql.data.svc:5432/postgres',
  '--backups',
  '/backups',
];

describe.skipIf(!hasKubectl)('k8s/ rendered with kubectl kustomize', () => {
  const base = hasKubectl ? render('k8s') : { text: '', docs: [] };
  const canary = hasKubectl ? render('k8s/overlays/canary') : { text: '', docs: [] };
  const expectations = hasKubectl ? render('k8s/overlays/expectations') : { text: '', docs: [] };
  const settings = (docs: Manifest[]) =>
    find<k8s.V1ConfigMap>(docs, 'ConfigMap', 'pg-restore-drill').data ?? ({} as Record<string, string>);

  it('holds the drill, its RBAC and NetworkPolicy and the monitoring, all in namespace data', () => {
    expect(base.docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual([
      'ConfigMap/pg-restore-drill',
      'ConfigMap/pg-restore-drill-dashboard',
      'ConfigMap/pg-restore-drill-history',
      'CronJob/pg-restore-drill',
      'NetworkPolicy/pg-restore-drill',
      'PrometheusRule/pg-restore-drill',
      'Role/pg-restore-drill',
      'Role/pg-restore-drill-ci-gate',
      'RoleBinding/pg-restore-drill',
      'ServiceAccount/pg-restore-drill',
    ]);
    expect(new Set([...base.docs, ...canary.docs].map((d) => d.metadata.namespace))).toEqual(
      new Set(['data']),
    );
  });

  it.each([
    ['k8s', base],
    ['k8s/overlays/canary', canary],
    ['k8s/overlays/expectations', expectations],
  ])('%s: every object is valid against the Kubernetes schemas, without unknown fields', (_, rendered) => {
    const errors = rendered.docs.flatMap((d) =>
      schemaErrors(d).map((e) => `${d.kind}/${d.metadata.name}: ${e}`),
    );
    expect(errors).toEqual([]);
  });

  it('the validation has teeth: a wrong type and a misspelt field are both caught', () => {
    const cronJob = structuredClone(find<Manifest>(base.docs, 'CronJob', 'pg-restore-drill'));
    const spec = cronJob.spec as Record<string, unknown>;
    spec.timezone = spec.timeZone;
    spec.schedule = 3;
    expect(schemaErrors(cronJob)).toEqual([expect.stringContaining('schedule must be string')]);
    spec.schedule = '0 3 1 */3 *';
    expect(schemaErrors(cronJob)).toEqual(['unknown field .spec.timezone']);
  });

  it('schedules one drill a quarter in UTC, never two at once, never retried, bounded by the RTO', () => {
    const { spec } = find(base.docs, 'CronJob', 'pg-restore-drill');
    const { jobTemplate, ...schedule } = spec ?? ({} as k8s.V1CronJobSpec);
    expect(schedule).toEqual({
      schedule: '0 3 1 */3 *',
      timeZone: 'Etc/UTC',
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: 14400,
      successfulJobsHistoryLimit: 2,
      failedJobsHistoryLimit: 2,
    });
    const { template, ...job } = jobTemplate?.spec ?? ({} as k8s.V1JobSpec);
    expect(job).toEqual({ backoffLimit: 0, activeDeadlineSeconds: 1800, ttlSecondsAfterFinished: 2592000 });
    // The deadline is the RTO ceiling and the wait for a backup still being written, plus the setup
    // margin the CronJob's comment accounts for.
    const env = settings(base.docs);
    expect(
      (job.activeDeadlineSeconds ?? 0) - Number(env.DRILL_RTO_CEILING) - Number(env.DRILL_WAIT_FOR_NEWEST),
    ).toEqual(600);
    expect(template.spec?.restartPolicy).toEqual('Never');
  });

  it('runs the scratch PostgreSQL as a native sidecar on 127.0.0.1 only, from the drill image', () => {
    const spec = podSpec(base.docs);
    expect(spec.initContainers?.map((c) => c.name)).toEqual(['scratch-postgres']);
    const sidecar = container(spec, 'scratch-postgres');
    expect(sidecar.restartPolicy).toEqual('Always');
    expect(sidecar.image).toEqual(container(spec, 'drill').image);
    const script = (sidecar.command ?? []).join('\n');
    expect(script.match(/listen_addresses=\S*/g)).toEqual(['listen_addresses=127.0.0.1']);
    expect(script).toContain('--auth=scram-sha-256');
    expect(sidecar.startupProbe?.exec?.command).toEqual([
      'pg_isready',
      '--host=127.0.0.1',
      '--port=5432',
      '--timeout=2',
    ]);
  });

  it('the drill restores into the sidecar from the backup volume, with flags and settings the CLI accepts', () => {
    const drill = container(podSpec(base.docs), 'drill');
    expect(drill.args).toEqual(BASE_ARGS);
    expect(drill.envFrom).toEqual([{ configMapRef: { name: 'pg-restore-drill' } }]);
    const env = settings(base.docs);
    expect(Object.keys(env).every((name) => name.startsWith('DRILL_'))).toBe(true);
    const config = readConfig(BASE_ARGS, env, '/app');
    expect(config).toMatchObject({
      target: 'url',
      scratch: true,
      backups: '/backups',
      canary: 'backup_test',
      rtoSeconds: 300,
      pushgateway: 'http://pushgateway.monitoring:9091',
      requirePush: true,
      mode: 'cluster',
      verify: 'deep',
      progress: 'json',
    });
  });

  it('mounts the backup claim read-only, and every container read-only with its own /tmp', () => {
    const spec = podSpec(base.docs);
    expect(spec.volumes?.find((v) => v.name === 'backups')?.persistentVolumeClaim).toEqual({
      claimName: 'postgres-backup',
      readOnly: true,
    });
    const mounts = [...(spec.initContainers ?? []), ...spec.containers].flatMap((c) =>
      (c.volumeMounts ?? []).map((m) => ({ container: c.name, ...m })),
    );
    expect(mounts.filter((m) => m.name === 'backups')).toEqual([
      { container: 'drill', name: 'backups', mountPath: '/backups', readOnly: true },
    ]);
    const emptyDirs = new Map(
      (spec.volumes ?? []).filter((v) => v.emptyDir).map((v) => [v.name, v.emptyDir]),
    );
    expect([...emptyDirs.values()].every((d) => d?.sizeLimit !== undefined)).toBe(true);
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
      expect(tmp && emptyDirs.has(tmp.name), `${c.name} has an emptyDir at /tmp`).toBe(true);
    }
  });

  it.each([
    ['k8s', base],
    ['k8s/overlays/canary', canary],
    ['k8s/overlays/expectations', expectations],
  ])('%s: every container runs restricted, with requests and limits', (_, rendered) => {
    const spec = podSpec(rendered.docs);
    expect(spec.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const volumes = new Set(spec.volumes?.map((v) => v.name));
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      expect(c.securityContext, c.name).toEqual(RESTRICTED_CONTAINER);
      expect(Object.keys(c.resources?.requests ?? {}), c.name).toEqual(
        expect.arrayContaining(['cpu', 'memory']),
      );
      expect(Object.keys(c.resources?.limits ?? {}).sort(), c.name).toEqual(['cpu', 'memory']);
      expect((c.volumeMounts ?? []).filter((m) => !volumes.has(m.name))).toEqual([]);
    }
  });

  it.each([
    ['k8s', base],
    ['k8s/overlays/canary', canary],
    ['k8s/overlays/expectations', expectations],
  ])('%s: holds no Secret and no password, only references to them', (_, rendered) => {
    expect(rendered.docs.filter((d) => d.kind === 'Secret')).toEqual([]);
    expect(rendered.text).not.toMatch(/\b(password|passwd|pgpassword)\b["']?\s*[:=]\s*["']?[^\s"'$]/i);
    expect(rendered.text).not.toMatch(/[a-z]+:\/\/[^/\s:@]+:[^/\s@]+@/i);
    const spec = podSpec(rendered.docs);
    const env = [...(spec.initContainers ?? []), ...spec.containers].flatMap((c) => c.env ?? []);
    expect(env.filter((e) => /PASS|SECRET|TOKEN|KEY/i.test(e.name) && e.value !== undefined)).toEqual([]);
  });

  it('the drill may create Events and read Jobs, nothing else; the CI gate Role is bound to nobody', () => {
    expect(find<k8s.V1Role>(base.docs, 'Role', 'pg-restore-drill').rules).toEqual([
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['get'] },
    ]);
    expect(find<k8s.V1Role>(base.docs, 'Role', 'pg-restore-drill-ci-gate').rules).toEqual([
      { apiGroups: ['batch'], resources: ['cronjobs'], verbs: ['get'] },
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
      { apiGroups: [''], resources: ['events'], verbs: ['list'] },
    ]);
    const bindings = base.docs.filter((d) => d.kind === 'RoleBinding') as unknown as k8s.V1RoleBinding[];
    expect(bindings.map((b) => ({ role: b.roleRef, subjects: b.subjects }))).toEqual([
      {
        role: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pg-restore-drill' },
        subjects: [{ kind: 'ServiceAccount', name: 'pg-restore-drill', namespace: 'data' }],
      },
    ]);
    expect(podSpec(base.docs).serviceAccountName).toEqual('pg-restore-drill');
  });

  it('the drill pod accepts no connection and reaches only DNS, the Pushgateway and PostgreSQL', () => {
    const policy = find<k8s.V1NetworkPolicy>(base.docs, 'NetworkPolicy', 'pg-restore-drill').spec;
    const podLabels = find(base.docs, 'CronJob', 'pg-restore-drill').spec?.jobTemplate.spec?.template.metadata
      ?.labels;
    expect(podLabels).toMatchObject(policy?.podSelector?.matchLabels ?? { missing: 'podSelector' });
    expect(policy?.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy?.ingress).toEqual([]);
    expect(policy?.egress).toEqual([
      {
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } }],
        ports: [
          { protocol: 'UDP', port: 53 },
          { protocol: 'TCP', port: 53 },
        ],
      },
      {
        to: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus-pushgateway' } },
          },
        ],
        ports: [{ protocol: 'TCP', port: 9091 }],
      },
      {
        to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'postgresql' } } }],
        ports: [{ protocol: 'TCP', port: 5432 }],
      },
    ]);
    // The Pushgateway the ConfigMap names is the one the policy lets through.
    const push = new URL(settings(base.docs).DRILL_PUSHGATEWAY_URL ?? '');
    expect([push.hostname.split('.')[1], push.port]).toEqual(['monitoring', '9091']);
  });

  it('the canary overlay targets the live server without a sidecar, its password from the chart Secret', () => {
    const spec = podSpec(canary.docs);
    expect(spec.initContainers).toBeUndefined();
    expect(spec.volumes?.map((v) => v.name)).toEqual(['backups', 'drill-tmp']);
    const drill = container(spec, 'drill');
    expect(drill.command).toBeUndefined();
    expect(drill.args).toEqual(CANARY_ARGS);
    expect(drill.env?.find((e) => e.name === 'PGPASSWORD')?.valueFrom).toEqual({
      secretKeyRef: { name: 'postgres-postgresql', key: 'postgres-password' },
    });
    expect(settings(canary.docs).DRILL_METRICS_TARGET).toEqual('live-canary');
  });

  it('the canary overlay runs on schedule with a drill that parses its args as canary mode on the live server', () => {
    const cronJob = find(canary.docs, 'CronJob', 'pg-restore-drill');
    expect(cronJob.spec?.suspend).toBeUndefined();
    expect(readConfig(CANARY_ARGS, settings(canary.docs), '/app')).toMatchObject({
      mode: 'canary',
      target: 'url',
      scratch: false,
    });
  });

  it('the expectations overlay mounts its ConfigMap read-only and points DRILL_EXPECT at a file the drill accepts', async () => {
    const spec = podSpec(expectations.docs);
    const volume = spec.volumes?.find((v) => v.name === 'expectations');
    const generated = expectations.docs.find(
      (d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith('pg-restore-drill-expectations-'),
    ) as unknown as k8s.V1ConfigMap;
    expect(volume?.configMap?.name).toBe(generated.metadata?.name);
    expect(container(spec, 'drill').volumeMounts).toContainEqual({
      name: 'expectations',
      mountPath: '/etc/pg-restore-drill',
      readOnly: true,
    });
    const config = readConfig(BASE_ARGS, settings(expectations.docs), '/app');
    expect(config.expect).toBe('/etc/pg-restore-drill/expect.yaml');
    expect(Object.keys(generated.data ?? {})).toEqual(['expect.yaml']);
    const file = await loadExpectations(join(ROOT, 'k8s/overlays/expectations/expect.yaml'));
    expect(file.assertions.map((a) => a.database)).toEqual(['backup_test']);
  });
});
