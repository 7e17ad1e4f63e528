/**
 * k8s/ as the cluster gets it: the base and the canary overlay rendered by `kubectl kustomize`, every
 * object valid against the Kubernetes OpenAPI schemas (kubernetes-models, @kubernetes-models/
 * prometheus-operator) and free of fields the API does not know (the models of @kubernetes/client-node,
 * generated from the same OpenAPI), and the properties the drill's safety rests on asserted exactly.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { readConfig } from '../lib/config.ts';
import { loadExpectations } from '../lib/expect/expectations.ts';
import { commandMissing, engineSkip } from './support/engine-skip.ts';
import { container, find, type Manifest, podSpec, render, schemaErrors } from './support/manifests.ts';
import { ROOT } from './support/run-cli.ts';

// Under CI=true a missing kubectl fails this file (engineSkip throws): CI without it is broken.
const hasKubectl = !engineSkip(
  'the k8s/ manifest tests (kubectl kustomize)',
  commandMissing('kubectl', ['version', '--client'], 'install the kubectl client, 1.27 or newer'),
);

// The user and group are the pod's (k8s/components/backup-access), set once for every container.
const RESTRICTED_CONTAINER = {
  runAsNonRoot: true,
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

/**
 * The Job's activeDeadlineSeconds, phase by phase (docs/deploy.md "The Job's deadline"): every phase of a
 * run that still ends in a verdict, at its worst. Figures from docs/benchmarks.md (2026-12-01, 2 cores)
 * and /work/shared/POSTGRES-NOTES.md where measured; the first three cannot be measured without a cluster.
 */
function deadlineBudget(env: Record<string, string>): [string, number][] {
  const ceiling = Number(env.DRILL_RTO_CEILING);
  return [
    ['Pending: scheduling, with a node scale-up (not measurable here)', 300],
    ['image pull on a cold node: the image is 653 MB (podman images), at 4 MB/s or more', 180],
    ["the sidecar's initdb and start: its startupProbe's bound (about 1 s measured)", 120],
    [
      'the wait for a newest backup still being written (DRILL_WAIT_FOR_NEWEST)',
      Number(env.DRILL_WAIT_FOR_NEWEST),
    ],
    ["an archive's integrity pass: 0.25 x the restore (gzip -t 4.5 s for a 18.9 s restore)", 0.25 * ceiling],
    ['the restore, stopped at the RTO ceiling (DRILL_RTO_CEILING)', ceiling],
    ['deep verification: 0.34 x the restore at 1 GB, budgeted 0.4 x', 0.4 * ceiling],
    ['the self-test: two integrity passes of damaged copies and one deep verification', 0.9 * ceiling],
    ["the drill's own start, steps and stop: 2.6-3.5 s measured", 30],
    ['report, metrics push (3 attempts of 5 s), Event (5 s)', 30],
  ];
}

type RoleName = 'pg-restore-drill' | 'pg-restore-drill-ci-gate';
/** One Kubernetes API call in lib/: the client-node method (or the collection a watch opens). */
interface ApiCall {
  call: string;
  where: string;
  /** The Role whose subject makes it, and the rule it needs; none: no in-cluster identity makes it. */
  role?: RoleName;
  rule?: { group: string; resource: string; verb: string; names?: string[] };
  why?: string;
}
/**
 * Every API call the code makes, with the rule it needs: the Roles must hold exactly these rules. A call
 * in lib/ missing here fails the test, and so does a row whose call is gone from lib/, but PENDING's.
 */
const API_CALLS: ApiCall[] = [
  {
    call: 'createNamespacedEvent',
    where: 'lib/k8s/events.ts',
    role: 'pg-restore-drill',
    rule: { group: 'events.k8s.io', resource: 'events', verb: 'create' },
  },
  {
    call: 'readNamespacedJob',
    where: 'lib/k8s/events.ts',
    why: 'only without DRILL_JOB_UID, which the CronJob sets',
  },
  {
    call: 'readNamespacedPod',
    where: 'lib/k8s/events.ts',
    why: 'only without DRILL_JOB_NAME, which the CronJob sets',
  },
  {
    call: 'readNamespacedConfigMap',
    where: 'lib/k8s/history-configmap.ts',
    role: 'pg-restore-drill',
    rule: { group: '', resource: 'configmaps', verb: 'get', names: ['pg-restore-drill-history'] },
  },
  {
    call: 'patchNamespacedConfigMap',
    where: 'lib/k8s/history-configmap.ts',
    role: 'pg-restore-drill',
    rule: { group: '', resource: 'configmaps', verb: 'patch', names: ['pg-restore-drill-history'] },
  },
  {
    call: 'createNamespacedConfigMap',
    where: 'lib/k8s/history-configmap.ts',
    why: 'only when the history ConfigMap is missing: k8s/base ships it, and the error says to apply k8s/',
  },
  {
    call: 'readNamespacedCronJob',
    where: 'lib/k8s/ci-gate.ts',
    role: 'pg-restore-drill-ci-gate',
    rule: { group: 'batch', resource: 'cronjobs', verb: 'get' },
  },
  {
    call: 'createNamespacedJob',
    where: 'lib/k8s/ci-gate.ts',
    role: 'pg-restore-drill-ci-gate',
    rule: { group: 'batch', resource: 'jobs', verb: 'create' },
  },
  {
    call: 'listNamespacedJob',
    where: 'lib/k8s/job-watch.ts',
    role: 'pg-restore-drill-ci-gate',
    rule: { group: 'batch', resource: 'jobs', verb: 'list' },
  },
  {
    call: 'watch /apis/batch/v1/namespaces/{namespace}/jobs',
    where: 'lib/k8s/job-watch.ts',
    role: 'pg-restore-drill-ci-gate',
    rule: { group: 'batch', resource: 'jobs', verb: 'watch' },
  },
  {
    call: 'deleteNamespacedJob',
    where: "H3's cancelled gate",
    role: 'pg-restore-drill-ci-gate',
    rule: { group: 'batch', resource: 'jobs', verb: 'delete' },
  },
  {
    call: 'listNamespacedPod',
    where: 'lib/k8s/job-watch.ts, gate-verdict.ts',
    role: 'pg-restore-drill-ci-gate',
    rule: { group: '', resource: 'pods', verb: 'list' },
  },
  {
    call: 'watch /api/v1/namespaces/{namespace}/pods',
    where: 'lib/k8s/job-watch.ts',
    role: 'pg-restore-drill-ci-gate',
    rule: { group: '', resource: 'pods', verb: 'watch' },
  },
  {
    call: 'GET /api/v1/namespaces/{namespace}/pods/{name}/log',
    where: 'lib/k8s/pod-logs.ts',
    role: 'pg-restore-drill-ci-gate',
    rule: { group: '', resource: 'pods/log', verb: 'get' },
  },
  {
    call: 'listNamespacedEvent',
    where: 'lib/k8s/gate-verdict.ts',
    role: 'pg-restore-drill-ci-gate',
    rule: { group: '', resource: 'events', verb: 'list' },
  },
  {
    call: 'new PortForward',
    where: 'lib/k8s/port-forward.ts',
    why: "--target pod's own port-forward runs as the operator's own identity, outside the cluster",
  },
  {
    call: 'new Exec',
    where: 'lib/exec/pod-socket.ts',
    why: "--target pod runs as the operator's own identity, outside the cluster",
  },
];
/** Calls of API_CALLS that other branches of this round add: the lead empties this at merge. */
const PENDING: string[] = [];

/** The API calls in lib/'s source (tests excluded), found the way API_CALLS names them. */
function apiCallsInLib(): string[] {
  const lib = join(ROOT, 'lib');
  const found = new Set<string>();
  for (const entry of readdirSync(lib, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
    const text = readFileSync(join(entry.parentPath, entry.name), 'utf8');
    if (!text.includes("'@kubernetes/client-node'")) continue;
    for (const m of text.matchAll(/\.(\w+Namespaced\w+)\(/g)) found.add(m[1] ?? '');
    for (const m of text.matchAll(/new (Log|Exec|Attach|PortForward|Cp)\(/g)) found.add(`new ${m[1]}`);
    for (const m of text.matchAll(/path: `(\/api[^`]*)`/g)) {
      found.add(`watch ${(m[1] ?? '').replace(/\$\{(\w+)\}/g, '{$1}')}`);
    }
    // A request of our own (the followed log, with timestamps and sinceTime): its URL names the path.
    for (const m of text.matchAll(/new URL\(`[^`]*?(\/api\/[^`]*)`/g)) {
      found.add(`GET ${(m[1] ?? '').replace(/\$\{[^}]*?(\w+)\}/g, '{$1}')}`);
    }
  }
  return [...found].sort();
}

/** A Role's rules as `group/resource[names] verb` lines. */
function ruleLines(rules: k8s.V1PolicyRule[]): string[] {
  return rules
    .flatMap((r) =>
      (r.apiGroups ?? []).flatMap((group) =>
        (r.resources ?? []).flatMap((resource) =>
          r.verbs.map(
            (verb) =>
              `${group}/${resource}${r.resourceNames ? `[${r.resourceNames.join(',')}]` : ''} ${verb}`,
          ),
        ),
      ),
    )
    .sort();
}

/** `kubectl kustomize` of a kustomization made on the fly: k8s/ with `components` (paths from ROOT) added. */
function renderWith(components: string[]): { text: string; docs: Manifest[] } {
  const dir = mkdtempSync(join(tmpdir(), 'drill-kustomize-'));
  try {
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      JSON.stringify({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        resources: [relative(dir, join(ROOT, 'k8s/base')), relative(dir, join(ROOT, 'k8s/monitoring'))],
        components: components.map((c) => relative(dir, join(ROOT, c))),
      }),
    );
    return render(relative(ROOT, dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** k8s/ with the backup-access component as an operator edits it: other user, group and backups' group. */
function renderWithPatchedAccess(): { text: string; docs: Manifest[] } {
  const dir = mkdtempSync(join(tmpdir(), 'drill-access-component-'));
  try {
    const shipped = join(ROOT, 'k8s/components/backup-access');
    const patch = readFileSync(join(shipped, 'pod-security.yaml'), 'utf8');
    const edited = patch
      .replace(/runAsUser: 10001$/m, 'runAsUser: 20001')
      .replace(/runAsGroup: 10001$/m, 'runAsGroup: 20002')
      .replace(/supplementalGroups: \[\]$/m, 'supplementalGroups: [1001]');
    expect(edited.split('\n').filter((line, i) => line !== patch.split('\n')[i])).toHaveLength(3);
    writeFileSync(join(dir, 'pod-security.yaml'), edited);
    writeFileSync(join(dir, 'kustomization.yaml'), readFileSync(join(shipped, 'kustomization.yaml')));
    return renderWith([relative(ROOT, dir)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

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
      'CronJob/pg-restore-drill-check',
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

  it('schedules one drill a quarter in UTC, never two at once, never retried but after a disruption', () => {
    const { spec } = find(base.docs, 'CronJob', 'pg-restore-drill');
    const { jobTemplate, ...schedule } = spec ?? ({} as k8s.V1CronJobSpec);
    expect(schedule).toEqual({
      schedule: '0 3 1 */3 *',
      timeZone: 'Etc/UTC',
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: 14400,
      // One CI run a day for the 30-day TTL cannot push the quarterly Job out of the history.
      successfulJobsHistoryLimit: 30,
      failedJobsHistoryLimit: 30,
    });
    const { template, ...job } = jobTemplate?.spec ?? ({} as k8s.V1JobSpec);
    expect(job).toEqual({
      backoffLimit: 0,
      podFailurePolicy: {
        rules: [{ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] }],
      },
      podReplacementPolicy: 'Failed',
      activeDeadlineSeconds: 2790,
      ttlSecondsAfterFinished: 2592000,
    });
    expect(template.spec?.restartPolicy).toEqual('Never');
    expect(template.metadata?.annotations).toEqual({
      'kubectl.kubernetes.io/default-container': 'drill',
      'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false',
      'karpenter.sh/do-not-disrupt': 'true',
    });
  });

  it("sets the Job's deadline to the sum of its phases' budgets, from the settings it runs with", () => {
    const budget = deadlineBudget(settings(base.docs));
    const deadline = find(base.docs, 'CronJob', 'pg-restore-drill').spec?.jobTemplate.spec
      ?.activeDeadlineSeconds;
    expect(budget.reduce((sum, [, seconds]) => sum + seconds, 0)).toEqual(deadline);
    // The drill ends a restore at the ceiling itself: the deadline is never what stops a restore.
    expect(budget.every(([, seconds]) => seconds > 0)).toBe(true);
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
    expect(drill.args).toEqual([...BASE_ARGS, '--self-test']);
    expect(drill.envFrom).toEqual([{ configMapRef: { name: 'pg-restore-drill' } }]);
    const env = settings(base.docs);
    expect(Object.keys(env).every((name) => name.startsWith('DRILL_'))).toBe(true);
    const config = readConfig(drill.args ?? [], env, '/app');
    expect(config).toMatchObject({
      target: 'url',
      scratch: true,
      backups: '/backups',
      canary: 'backup_test',
      rtoSeconds: 300,
      pushgateway: 'http://prometheus-pushgateway.monitoring:9091',
      terminationLog: '/dev/termination-log',
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
      supplementalGroups: [],
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const volumes = new Set(spec.volumes?.map((v) => v.name));
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      expect(c.securityContext, c.name).toEqual(RESTRICTED_CONTAINER);
      expect(c.terminationMessagePolicy, c.name).toEqual('FallbackToLogsOnError');
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

  it('the table of API calls names every call lib/ makes, and only those (but the pending ones)', () => {
    const found = apiCallsInLib();
    const listed = API_CALLS.map((c) => c.call);
    expect(found.filter((call) => !listed.includes(call))).toEqual([]);
    expect(listed.filter((call) => !found.includes(call)).sort()).toEqual([...PENDING].sort());
    // The calls no in-cluster identity needs hold only because the CronJob names its own Job.
    const env = container(podSpec(base.docs), 'drill').env?.map((e) => e.name);
    expect(env).toEqual(expect.arrayContaining(['DRILL_JOB_NAME', 'DRILL_JOB_UID']));
  });

  it.each(['pg-restore-drill', 'pg-restore-drill-ci-gate'] as const)(
    'Role %s holds exactly the verbs its calls need',
    (role) => {
      const wanted = API_CALLS.flatMap((c) => (c.role === role && c.rule ? [c.rule] : [])).map(
        (r) => `${r.group}/${r.resource}${r.names ? `[${r.names.join(',')}]` : ''} ${r.verb}`,
      );
      expect(wanted.length).toBeGreaterThan(0);
      expect(ruleLines(find<k8s.V1Role>(base.docs, 'Role', role).rules ?? [])).toEqual(wanted.sort());
    },
  );

  it('binds the drill Role to its ServiceAccount only; the CI gate Role to nobody', () => {
    const bindings = base.docs.filter((d) => d.kind === 'RoleBinding') as unknown as k8s.V1RoleBinding[];
    expect(bindings.map((b) => ({ role: b.roleRef, subjects: b.subjects }))).toEqual([
      {
        role: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pg-restore-drill' },
        subjects: [{ kind: 'ServiceAccount', name: 'pg-restore-drill', namespace: 'data' }],
      },
    ]);
    expect(podSpec(base.docs).serviceAccountName).toEqual('pg-restore-drill');
  });

  const DNS_RULES = [
    {
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } }],
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ],
    },
    {
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'openshift-dns' } } }],
      ports: [
        { protocol: 'UDP', port: 5353 },
        { protocol: 'TCP', port: 5353 },
      ],
    },
  ];
  const PUSHGATEWAY_RULE = {
    to: [
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
        podSelector: {
          matchLabels: {
            'app.kubernetes.io/name': 'prometheus-pushgateway',
            'app.kubernetes.io/instance': 'prometheus-pushgateway',
          },
        },
      },
    ],
    ports: [{ protocol: 'TCP', port: 9091 }],
  };

  it('the drill pods accept no connection and reach only DNS and the Pushgateway', () => {
    const policy = find<k8s.V1NetworkPolicy>(base.docs, 'NetworkPolicy', 'pg-restore-drill').spec;
    const podLabels = find(base.docs, 'CronJob', 'pg-restore-drill').spec?.jobTemplate.spec?.template.metadata
      ?.labels;
    expect(policy?.podSelector).toEqual({
      matchLabels: { 'app.kubernetes.io/name': 'pg-restore-drill' },
      matchExpressions: [{ key: 'app.kubernetes.io/component', operator: 'In', values: ['drill', 'check'] }],
    });
    expect(podLabels).toMatchObject(policy?.podSelector?.matchLabels ?? { missing: 'podSelector' });
    expect(policy?.podSelector?.matchExpressions?.[0]?.values).toContain(
      podLabels?.['app.kubernetes.io/component'],
    );
    expect(policy?.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy?.ingress).toEqual([]);
    expect(policy?.egress).toEqual([...DNS_RULES, PUSHGATEWAY_RULE]);
  });

  it('sets the Pushgateway in one place: the URL names the Service of that release, namespace and port', () => {
    const source = parseAllDocuments(
      readFileSync(join(ROOT, 'k8s/base/pushgateway.yaml'), 'utf8'),
    )[0]?.toJS() as {
      pushgateway: { release: string; namespace: string; port: number; url: string };
    };
    const { release, namespace, port, url } = source.pushgateway;
    // The prometheus-community chart's fullname: the release, suffixed unless it names the chart already.
    const service = release.includes('prometheus-pushgateway')
      ? release
      : `${release}-prometheus-pushgateway`;
    const pushed = new URL(url);
    expect([pushed.hostname.split('.').slice(0, 2), Number(pushed.port)]).toEqual([
      [service, namespace],
      port,
    ]);
    for (const rendered of [base, canary, expectations]) {
      expect(settings(rendered.docs).DRILL_PUSHGATEWAY_URL).toEqual(url);
      const egress = find<k8s.V1NetworkPolicy>(rendered.docs, 'NetworkPolicy', 'pg-restore-drill').spec
        ?.egress;
      expect(egress?.[2]).toEqual(PUSHGATEWAY_RULE);
    }
    expect([release, namespace, port]).toEqual(['prometheus-pushgateway', 'monitoring', 9091]);
  });

  it('only the canary overlay reaches the live PostgreSQL, on 5432', () => {
    const egress = find<k8s.V1NetworkPolicy>(canary.docs, 'NetworkPolicy', 'pg-restore-drill').spec?.egress;
    expect(egress).toEqual([
      ...DNS_RULES,
      PUSHGATEWAY_RULE,
      {
        to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'postgresql' } } }],
        ports: [{ protocol: 'TCP', port: 5432 }],
      },
    ]);
    const others = [base, expectations].flatMap(
      (r) => find<k8s.V1NetworkPolicy>(r.docs, 'NetworkPolicy', 'pg-restore-drill').spec?.egress ?? [],
    );
    expect(others.filter((rule) => rule.ports?.some((p) => p.port === 5432))).toEqual([]);
  });

  it("sets the drill user, group and the backups' group once, for every drill CronJob (backup-access)", () => {
    const withGroup = renderWithPatchedAccess();
    const spec = podSpec(withGroup.docs);
    expect(spec.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 20001,
      runAsGroup: 20002,
      supplementalGroups: [1001],
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(
      [...(spec.initContainers ?? []), ...spec.containers].map((c) => c.securityContext?.runAsUser),
    ).toEqual([undefined, undefined]);
  });

  it('no-kube-api renders a drill pod without an API token, valid against the schemas', () => {
    const rendered = renderWith(['k8s/components/backup-access', 'k8s/components/no-kube-api']);
    expect(podSpec(rendered.docs).automountServiceAccountToken).toBe(false);
    expect(podSpec(base.docs).automountServiceAccountToken).toBeUndefined();
    expect(rendered.docs.flatMap((d) => schemaErrors(d))).toEqual([]);
  });

  it('the canary overlay targets the live server without a sidecar, its password from the chart Secret', () => {
    const spec = podSpec(canary.docs);
    expect(spec.initContainers).toBeUndefined();
    expect(spec.volumes?.map((v) => v.name)).toEqual(['backups', 'drill-tmp']);
    const drill = container(spec, 'drill');
    expect(drill.command).toBeUndefined();
    expect(drill.args).toEqual(CANARY_ARGS);
    expect(drill.terminationMessagePolicy).toEqual('FallbackToLogsOnError');
    expect(drill.env?.find((e) => e.name === 'PGPASSWORD')?.valueFrom).toEqual({
      secretKeyRef: { name: 'postgres-postgresql', key: 'postgres-password' },
    });
    expect(settings(canary.docs).DRILL_METRICS_TARGET).toEqual('live-canary');
  });

  it('the canary overlay ships suspended, with a drill that parses its args as canary mode on the live server', () => {
    // Applying it must write nothing to the live server until the operator unsuspends it (docs/deploy.md).
    expect(find(canary.docs, 'CronJob', 'pg-restore-drill').spec?.suspend).toBe(true);
    expect(find(base.docs, 'CronJob', 'pg-restore-drill').spec?.suspend).toBeUndefined();
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
    const config = readConfig(container(spec, 'drill').args ?? [], settings(expectations.docs), '/app');
    expect(config.expect).toBe('/etc/pg-restore-drill/expect.yaml');
    expect(Object.keys(generated.data ?? {})).toEqual(['expect.yaml']);
    const file = await loadExpectations(join(ROOT, 'k8s/overlays/expectations/expect.yaml'));
    expect(file.assertions.map((a) => a.database)).toEqual(['backup_test']);
  });
});
