import { randomBytes } from 'node:crypto';
import type { V1CronJob, V1Job } from '@kubernetes/client-node';

/** The label that tells our Jobs from the CronJob's scheduled ones. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const CI_MANAGER = 'pg-restore-drill-ci';
/** What `kubectl create job --from=cronjob/…` puts on the Job it makes. */
export const INSTANTIATE_ANNOTATION = 'cronjob.kubernetes.io/instantiate';

/** Names and label values in Kubernetes: at most 63 characters. */
const MAX_NAME = 63;

/** Five characters of [a-z0-9]: enough that two CI runs in the same second never collide. */
export function randomSuffix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(5)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

/**
 * `pg-restore-drill-ci-20261124031000-x7k2p`: the CronJob's name, `ci`, the UTC time and a random suffix,
 * cut to 63 characters (the Job name is also a label value on its pods).
 */
export function ciJobName(cronJob: string, now: Date, suffix: string = randomSuffix()): string {
  const stamp = now.toISOString().slice(0, 19).replace(/[-T:]/g, '');
  const tail = `-ci-${stamp}-${suffix}`;
  const base = cronJob.slice(0, MAX_NAME - tail.length).replace(/-+$/, '');
  return `${base}${tail}`;
}

/**
 * The Job `kubectl create job NAME --from=cronjob/CRONJOB` creates: the template's spec unchanged, its
 * labels (plus ours, to tell CI runs apart), its annotations after `cronjob.kubernetes.io/instantiate:
 * manual`, and a controller reference to the CronJob (without blockOwnerDeletion, which would need the
 * cronjobs/finalizers permission), so deleting the CronJob deletes it.
 */
export function jobFromCronJob(cronJob: V1CronJob, name: string): V1Job {
  const template = cronJob.spec?.jobTemplate;
  if (!template?.spec) throw new Error(`CronJob ${cronJob.metadata?.name} has no jobTemplate.spec`);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: cronJob.metadata?.namespace,
      annotations: { [INSTANTIATE_ANNOTATION]: 'manual', ...template.metadata?.annotations },
      labels: { ...template.metadata?.labels, [MANAGED_BY_LABEL]: CI_MANAGER },
      ownerReferences: [
        {
          apiVersion: 'batch/v1',
          kind: 'CronJob',
          name: cronJob.metadata?.name ?? '',
          uid: cronJob.metadata?.uid ?? '',
          controller: true,
        },
      ],
    },
    spec: template.spec,
  };
}
