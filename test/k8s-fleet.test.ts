/**
 * k8s/examples/fleet as the cluster gets it: one drill per backup set, each set's values (PVC, canary,
 * RTO, cluster label, schedule) in its own objects and nowhere else, every object valid against the
 * Kubernetes schemas, and the monitoring once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { commandMissing, engineSkip } from './support/engine-skip.ts';
import { find, type Manifest, render, schemaErrors } from './support/manifests.ts';
import { ROOT } from './support/run-cli.ts';

const hasKubectl = !engineSkip(
  'the fleet example tests (kubectl kustomize)',
  commandMissing('kubectl', ['version', '--client'], 'install the kubectl client, 1.27 or newer'),
);

const FLEET = 'k8s/examples/fleet';

interface BackupSet {
  name: string;
  values: { pvc: string; canary: string; rto: string; cluster: string; history: string; schedule: string };
}

/** The sets as the example lists them: read from its files, so the test follows what an operator edits. */
function backupSets(): BackupSet[] {
  const dir = join(ROOT, FLEET, 'sets');
  return readdirSync(dir).map((name) => ({
    name,
    values: parse(readFileSync(join(dir, name, 'backup-set.yaml'), 'utf8')).data,
  }));
}

function drillCronJobs(docs: Manifest[]): k8s.V1CronJob[] {
  return docs.filter(
    (d) =>
      d.kind === 'CronJob' &&
      (d.metadata as k8s.V1ObjectMeta).labels?.['app.kubernetes.io/component'] === 'drill',
  ) as unknown as k8s.V1CronJob[];
}

describe.skipIf(!hasKubectl)('k8s/examples/fleet rendered with kubectl kustomize', () => {
  const fleet = hasKubectl ? render(FLEET) : { text: '', docs: [] };
  const sets = backupSets();

  it('lists three backup sets, each with its own cluster label, PVC and schedule', () => {
    expect(sets.map((s) => s.name).sort()).toEqual(['analytics', 'billing', 'orders']);
    for (const key of ['cluster', 'pvc', 'schedule'] as const) {
      expect(new Set(sets.map((s) => s.values[key])).size, key).toBe(sets.length);
    }
  });

  it('renders one drill CronJob per backup set, and every object is valid against the Kubernetes schemas', () => {
    expect(
      drillCronJobs(fleet.docs)
        .map((c) => c.metadata?.name)
        .sort(),
    ).toEqual(sets.map((s) => `pg-restore-drill-${s.name}`).sort());
    expect(
      fleet.docs.flatMap((d) => schemaErrors(d).map((e) => `${d.kind}/${d.metadata.name}: ${e}`)),
    ).toEqual([]);
  });

  it.each(backupSets().map((s) => [s.name, s] as const))(
    'set %s: its CronJob reads its PVC on its schedule, with its own settings, identity and labels',
    (_, set) => {
      const name = `pg-restore-drill-${set.name}`;
      const cronJob = find(fleet.docs, 'CronJob', name);
      const pod = cronJob.spec?.jobTemplate.spec?.template;
      expect(cronJob.spec?.schedule).toBe(set.values.schedule);
      expect(pod?.spec?.volumes?.find((v) => v.name === 'backups')?.persistentVolumeClaim).toEqual({
        claimName: set.values.pvc,
        readOnly: true,
      });
      expect(pod?.spec?.serviceAccountName).toBe(name);
      expect(pod?.metadata?.labels?.['pg-restore-drill/backup-set']).toBe(set.name);
      const drill = pod?.spec?.containers.find((c) => c.name === 'drill');
      expect(drill?.envFrom).toEqual([{ configMapRef: { name } }]);
      const settings = find<k8s.V1ConfigMap>(fleet.docs, 'ConfigMap', name).data ?? {};
      expect({
        canary: settings.DRILL_CANARY,
        rto: settings.DRILL_RTO,
        cluster: settings.DRILL_METRICS_CLUSTER,
      }).toEqual({ canary: set.values.canary, rto: set.values.rto, cluster: set.values.cluster });
      // Its history ConfigMap is its own, and the drill is told its name; its Role may patch only that one.
      const history = `pg-restore-drill-history-${set.name}`;
      expect(set.values.history).toBe(history);
      expect(find<k8s.V1ConfigMap>(fleet.docs, 'ConfigMap', history).metadata?.name).toBe(history);
      expect(settings.DRILL_HISTORY_CONFIGMAP).toBe(history);
      const rules = find<k8s.V1Role>(fleet.docs, 'Role', name).rules ?? [];
      expect(rules.filter((r) => r.resources?.includes('configmaps')).map((r) => r.resourceNames)).toEqual([
        [history],
      ]);
      const binding = find<k8s.V1RoleBinding>(fleet.docs, 'RoleBinding', name);
      expect([binding.roleRef.name, binding.subjects?.map((s) => s.name)]).toEqual([name, [name]]);
    },
  );

  it('holds the alerts and the dashboard once, and no set-values ConfigMap', () => {
    const names = fleet.docs.map((d) => `${d.kind}/${d.metadata.name}`);
    expect(names.filter((n) => n.startsWith('PrometheusRule/'))).toEqual(['PrometheusRule/pg-restore-drill']);
    expect(names.filter((n) => n === 'ConfigMap/pg-restore-drill-dashboard')).toHaveLength(1);
    expect(names.filter((n) => n.includes('backup-set'))).toEqual([]);
    expect(new Set(names).size).toBe(names.length);
  });
});
