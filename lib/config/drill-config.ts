import type { LogFormat } from '../log.ts';
import type { ProgressMode } from '../report/progress.ts';
import type { AllowRule } from '../restore/allowed-errors.ts';
import type { TableName } from '../table/table-name.ts';

export const MODE_CHOICES = ['cluster', 'canary', 'canary-copy'] as const;
export type RestoreMode = (typeof MODE_CHOICES)[number];

import type { TargetChoice } from '../targets/registry.ts';

export { TARGET_CHOICES, type TargetChoice } from '../targets/registry.ts';
export const VERIFY_CHOICES = ['canary', 'deep'] as const;
export const PROGRESS_CHOICES = ['auto', 'tty', 'plain', 'json', 'off'] as const;
export const LOG_FORMAT_CHOICES = ['auto', 'human', 'json'] as const;

/** The validated configuration of one drill run: one field per row of SETTINGS (lib/config/settings.ts). */
export interface DrillConfig {
  backups: string | undefined;
  backupPattern: string;
  timestampFormat: string;
  mode: RestoreMode;
  target: TargetChoice;
  pod: string | undefined;
  podContainer: string;
  podPort: number;
  cluster: boolean;
  cronjob: string;
  clusterTimeoutSeconds: number | undefined;
  kubeconfig: string | undefined;
  context: string | undefined;
  namespace: string | undefined;
  image: string;
  /** A libpq-style URL; holds a password only if the operator put one there. Never logged. */
  databaseUrl: string | undefined;
  scratch: boolean;
  pgBinDir: string | undefined;
  pgSearchRoots: string[];
  canary: string;
  rtoSeconds: number;
  /** The restore is stopped here; between the budget and the ceiling it runs on and fails the RTO check. */
  rtoCeilingSeconds: number;
  /** How long a newest backup that is still growing is waited for. */
  waitForNewestSeconds: number;
  /** Between the two looks at the newest backup that tell whether it is still growing. */
  growthCheckIntervalSeconds: number;
  /** `--check-only`: the daily check of the newest backup (lib/drill/check-only.ts), no restore. */
  checkOnly: boolean;
  jobs: number;
  verify: (typeof VERIFY_CHOICES)[number];
  sourceTimeZone: string;
  allowUnverified: boolean;
  /** --self-test: the checks are run against deliberate faults first, and must go red on each. */
  selfTest: boolean;
  /** The expectations file (`--expect`), loaded and validated by the drill before any work. */
  expect: string | undefined;
  assertionTimeoutSeconds: number;
  /** `--table DB.SCHEMA.TABLE`: the table-level recovery drill of that one table (a mode of its own). */
  table: TableName | undefined;
  reportDir: string;
  junit: string | undefined;
  pushgateway: string | undefined;
  requirePush: boolean;
  /** The container's termination message file (Kubernetes' /dev/termination-log), written when it exists. */
  terminationLog: string | undefined;
  metricsCluster: string;
  /** The cluster's history ConfigMap (--history-configmap). */
  historyConfigMap: string;
  metricsTarget: string | undefined;
  progress: 'auto' | ProgressMode;
  progressIntervalSeconds: number;
  /** What stderr carries: JSON lines in a pod or when asked, human lines elsewhere. */
  logFormat: LogFormat;
  keep: boolean;
  /** `--initdb-cache`: a directory, `off`, or undefined for the default (lib/targets/initdb-cache.ts). */
  initdbCache: string | undefined;
  /** `--temp-dir`, when given: else the system temp dir, or memory for a self-contained cluster. */
  tempDir: string | undefined;
  help: boolean;
  /** The drill's own Job, when it runs in one (DRILL_JOB_NAME, from the downward API). */
  jobName: string | undefined;
  /** That Job's uid (DRILL_JOB_UID): `kubectl describe job` shows only events that carry it. */
  jobUid: string | undefined;
  /** The drill's own pod (POD_NAME), not the database pod of --pod. */
  podName: string | undefined;
  /** The drill's own pod's namespace (POD_NAMESPACE). */
  podNamespace: string | undefined;
  /** Restore errors the operator accepts: the expectations file's `allow:` (not a flag of its own). */
  allowedErrors?: AllowRule[];
}
