import { ConfigError } from '../errors.ts';
import { parsePushgatewayUrl } from '../report/pushgateway-url.ts';
import { LOG_FORMAT_CHOICES, PROGRESS_CHOICES } from './drill-config.ts';
import { flag, type Given, oneOf, path, type SettingTable, seconds, text } from './setting.ts';

/** The Pushgateway URL, checked now so a typo fails before the drill runs, not after. */
function pushgatewayUrl(given: Given): string | undefined {
  const value = text(given);
  if (value === undefined) return undefined;
  try {
    parsePushgatewayUrl(value);
  } catch (error) {
    // Its message names --pushgateway / DRILL_PUSHGATEWAY_URL and shows the URL without credentials.
    throw new ConfigError(given.name, (error as Error).message, { cause: error });
  }
  return value;
}

/** A path, or nothing when set empty (`DRILL_TERMINATION_LOG=` turns the termination message off). */
function pathOrOff(given: Given): string | undefined {
  return given.value === '' ? undefined : path(given);
}

/** Where the verdict goes: the report files, the Pushgateway, and the progress on stderr. */
export const REPORT_SETTINGS = {
  'report-dir': {
    field: 'reportDir',
    env: 'DRILL_REPORT_DIR',
    default: 'drill-report',
    arg: 'DIR',
    parse: path,
    help: 'where report.json and summary.txt are written',
  },
  junit: {
    field: 'junit',
    env: 'DRILL_JUNIT',
    arg: 'FILE',
    parse: path,
    help: 'also write a JUnit XML report (one test case per check)',
  },
  pushgateway: {
    field: 'pushgateway',
    env: 'DRILL_PUSHGATEWAY_URL',
    arg: 'URL',
    parse: pushgatewayUrl,
    help: 'push the drill metrics (pg_dr_drill_*) to this Prometheus Pushgateway, on success and on failure',
  },
  'require-push': {
    field: 'requirePush',
    env: 'DRILL_REQUIRE_PUSH',
    default: false,
    parse: flag,
    help: 'fail the run (exit 1) when the metrics push fails; by default a failed push is reported and the verdict stands',
  },
  'termination-log': {
    field: 'terminationLog',
    env: 'DRILL_TERMINATION_LOG',
    default: '/dev/termination-log',
    arg: 'FILE',
    parse: pathOrOff,
    help: "write the verdict line (and each failed check's) to this file when it exists, as Kubernetes reads a container's termination message; empty: never",
  },
  'history-configmap': {
    field: 'historyConfigMap',
    env: 'DRILL_HISTORY_CONFIGMAP',
    default: 'pg-restore-drill-history',
    arg: 'NAME',
    parse: text,
    help: "in the drill's Job: the ConfigMap each run appends its one-line summary to (k8s/base/history-configmap.yaml; each set of a fleet has its own)",
  },
  'metrics-cluster': {
    field: 'metricsCluster',
    env: 'DRILL_METRICS_CLUSTER',
    default: 'default',
    arg: 'NAME',
    parse: text,
    help: 'the `pg_cluster` grouping label of the pushed metrics (which PostgreSQL cluster the backups belong to; called `cluster` in 0.1.0)',
  },
  'metrics-target': {
    field: 'metricsTarget',
    env: 'DRILL_METRICS_TARGET',
    arg: 'NAME',
    parse: text,
    help: 'the `target` grouping label of the pushed metrics (default: the target kind, e.g. local, container, url)',
  },
  progress: {
    field: 'progress',
    env: 'DRILL_PROGRESS',
    default: 'auto',
    arg: 'MODE',
    parse: oneOf(PROGRESS_CHOICES),
    help: 'restore progress on stderr: auto (a line updated in place on a terminal, plain lines in a log, JSON lines in a pod or under --log-format json) | tty | plain | json | off',
  },
  'progress-interval': {
    field: 'progressIntervalSeconds',
    env: 'DRILL_PROGRESS_INTERVAL',
    default: 10,
    arg: 'SECONDS',
    parse: seconds,
    help: 'seconds between progress lines in a log (a terminal repaints every 0.2 s)',
  },
  'log-format': {
    field: 'logFormat',
    env: 'DRILL_LOG_FORMAT',
    default: 'auto',
    arg: 'FORMAT',
    parse: oneOf(LOG_FORMAT_CHOICES),
    help: 'what stderr carries: auto (JSON lines in a pod, human lines elsewhere) | human | json (one JSON object per line: log lines and progress)',
  },
} as const satisfies SettingTable;
