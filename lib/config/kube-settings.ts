import type { DrillConfig } from './drill-config.ts';
import { flag, path, readTable, type SettingTable, seconds, text } from './setting.ts';

/** The CI gate (--cluster) and the cluster the drill reaches for it and for --target pod. */
export const KUBE_SETTINGS = {
  cluster: {
    field: 'cluster',
    env: 'DRILL_CLUSTER',
    default: false,
    parse: flag,
    help: 'CI gate: run the drill in the cluster as a Job made from the CronJob, follow its log, exit with its verdict',
  },
  cronjob: {
    field: 'cronjob',
    env: 'DRILL_CRONJOB',
    default: 'pg-restore-drill',
    arg: 'NAME',
    parse: text,
    help: 'the CronJob --cluster makes its Job from',
  },
  'cluster-timeout': {
    field: 'clusterTimeoutSeconds',
    env: 'DRILL_CLUSTER_TIMEOUT',
    arg: 'SECONDS',
    // Unset: derived from the CronJob's template (lib/k8s/gate-timeout.ts).
    parse: (given) => (given.value === undefined ? undefined : seconds(given)),
    help: "how long --cluster waits for the Job to finish (default: the CronJob's activeDeadlineSeconds + the pod's terminationGracePeriodSeconds + 60 s)",
  },
  kubeconfig: {
    field: 'kubeconfig',
    env: 'DRILL_KUBECONFIG',
    arg: 'FILE',
    parse: path,
    help: 'kubeconfig for --cluster and --target pod (default: KUBECONFIG, then ~/.kube/config, then the in-cluster service account)',
  },
  context: {
    field: 'context',
    env: 'DRILL_KUBE_CONTEXT',
    arg: 'NAME',
    parse: text,
    help: 'kubeconfig context (default: its current context)',
  },
  namespace: {
    field: 'namespace',
    env: 'DRILL_NAMESPACE',
    arg: 'NAME',
    parse: text,
    help: "namespace of the CronJob / pod (default: the context's, the service account's, then data)",
  },
} as const satisfies SettingTable;

/**
 * The drill's own Job and pod, which the CronJob's container sets through the downward API (k8s/): read
 * from the environment only. They say which Job the DrillSucceeded / DrillFailed Event is about.
 */
export const OWN_POD_SETTINGS = {
  'job-name': {
    field: 'jobName',
    env: 'DRILL_JOB_NAME',
    flag: false,
    parse: text,
    help: "the Job this drill runs in (metadata.labels['batch.kubernetes.io/job-name']): the Event is written on it",
  },
  'job-uid': {
    field: 'jobUid',
    env: 'DRILL_JOB_UID',
    flag: false,
    parse: text,
    help: "that Job's uid (metadata.labels['batch.kubernetes.io/controller-uid']); without it the Job is read for it",
  },
  'pod-name': {
    field: 'podName',
    env: 'POD_NAME',
    flag: false,
    parse: text,
    help: "this drill's pod (metadata.name): the Event's reporting instance, and without DRILL_JOB_NAME read for its Job",
  },
  'pod-namespace': {
    field: 'podNamespace',
    env: 'POD_NAMESPACE',
    flag: false,
    parse: text,
    help: "that pod's namespace (metadata.namespace); default: the kubeconfig's",
  },
} as const satisfies SettingTable;

export type OwnPod = Pick<DrillConfig, 'jobName' | 'jobUid' | 'podName' | 'podNamespace'>;

/** The drill's own Job and pod from `env`, read through the rows above. */
export function ownPod(env: NodeJS.ProcessEnv): OwnPod {
  return readTable(OWN_POD_SETTINGS, {}, env, '') as OwnPod;
}
