import { tmpdir } from 'node:os';
import { delimiter, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from './errors.ts';
import type { LogFormat } from './log.ts';
import { DEFAULT_SEARCH_ROOTS } from './pg/binaries.ts';
import type { ProgressMode } from './report/progress.ts';
import { parsePushgatewayUrl } from './report/pushgateway.ts';
import type { AllowRule } from './restore/allowed-errors.ts';
import { DEFAULT_POSTGRES_IMAGE } from './targets/container.ts';

/**
 * Every setting of the drill: its flag, its environment twin, its default and what it means. An explicit
 * flag wins, then the environment, then the default. This table is the one place defaults live; `--help`
 * is printed from it.
 */
export const SETTINGS = {
  backups: {
    env: 'DRILL_BACKUPS',
    default: undefined,
    arg: 'DIR',
    help: 'directory of backups (e.g. the mounted backup volume); without it the drill makes its own backup first (self-contained mode)',
  },
  'backup-pattern': {
    env: 'DRILL_BACKUP_PATTERN',
    default: 'postgres-backup-{timestamp}',
    arg: 'PATTERN',
    help: 'backup file name without extension; .sql.gz and .sql are recognised',
  },
  'timestamp-format': {
    env: 'DRILL_TIMESTAMP_FORMAT',
    default: 'YYYY-MM-DD-HHmmss',
    arg: 'FORMAT',
    help: 'dayjs format of {timestamp}, read strictly as UTC',
  },
  mode: {
    env: 'DRILL_MODE',
    default: 'cluster',
    arg: 'MODE',
    help: "cluster: replay the whole pg_dumpall (only into a scratch server) | canary: drop the canary and restore only its section (safe on a live server) | canary-copy: restore the canary's section as drill_<run id> next to it, drop nothing",
  },
  target: {
    env: 'DRILL_TARGET',
    default: 'auto',
    arg: 'KIND',
    help: 'where to restore: auto (container if an engine answers, else local) | container (testcontainers, tools run inside) | local (throwaway cluster from PostgreSQL binaries) | url (an existing server)',
  },
  pod: {
    env: 'DRILL_POD',
    default: undefined,
    arg: 'NS/POD',
    help: 'for --target pod: the database pod whose psql/pg_restore run the restore through the exec API (e.g. data/postgres-postgresql-0); the checks connect with --database-url',
  },
  'pod-container': {
    env: 'DRILL_POD_CONTAINER',
    default: 'postgresql',
    arg: 'NAME',
    help: 'the container of --pod that has the PostgreSQL tools',
  },
  cluster: {
    env: 'DRILL_CLUSTER',
    default: false,
    arg: undefined,
    help: 'CI gate: run the drill in the cluster as a Job made from the CronJob, follow its log, exit with its verdict',
  },
  cronjob: {
    env: 'DRILL_CRONJOB',
    default: 'pg-restore-drill',
    arg: 'NAME',
    help: 'the CronJob --cluster makes its Job from',
  },
  'cluster-timeout': {
    env: 'DRILL_CLUSTER_TIMEOUT',
    default: 1800,
    arg: 'SECONDS',
    help: "how long --cluster waits for the Job to finish (the CronJob's activeDeadlineSeconds)",
  },
  kubeconfig: {
    env: 'DRILL_KUBECONFIG',
    default: undefined,
    arg: 'FILE',
    help: 'kubeconfig for --cluster and --target pod (default: KUBECONFIG, then ~/.kube/config, then the in-cluster service account)',
  },
  context: {
    env: 'DRILL_KUBE_CONTEXT',
    default: undefined,
    arg: 'NAME',
    help: 'kubeconfig context (default: its current context)',
  },
  namespace: {
    env: 'DRILL_NAMESPACE',
    default: undefined,
    arg: 'NAME',
    help: "namespace of the CronJob / pod (default: the context's, the service account's, then data)",
  },
  image: {
    env: 'DRILL_POSTGRES_IMAGE',
    default: DEFAULT_POSTGRES_IMAGE,
    arg: 'IMAGE',
    help: 'PostgreSQL image for --target container; use the production major (or a registry mirror of it)',
  },
  'database-url': {
    env: 'DATABASE_URL',
    default: undefined,
    arg: 'URL',
    help: 'postgres://user@host:port/db of an existing server for --target url (the libpq PG* variables also work); prefer PGPASSWORD or a pgpass file to a password in the URL',
  },
  scratch: {
    env: 'DRILL_SCRATCH',
    default: false,
    arg: undefined,
    help: 'declare the --target url server disposable (like the CronJob sidecar): only then may a whole cluster be restored into it',
  },
  'pg-bindir': {
    env: 'DRILL_PG_BINDIR',
    default: undefined,
    arg: 'DIR',
    help: 'PostgreSQL bin directory (default: pg_config --bindir, initdb on PATH, then the newest under --pg-search-roots)',
  },
  'pg-search-roots': {
    env: 'DRILL_PG_SEARCH_ROOTS',
    default: DEFAULT_SEARCH_ROOTS.join(delimiter),
    arg: 'DIRS',
    help: `directories holding one folder per PostgreSQL major with a bin/ inside, separated by ${delimiter}`,
  },
  canary: {
    env: 'DRILL_CANARY',
    default: 'backup_test',
    arg: 'DB',
    help: 'canary database: dropped, restored and checked; `none` for a backup without one (an archive of an application database)',
  },
  jobs: {
    env: 'DRILL_JOBS',
    default: 2,
    arg: 'N',
    help: 'parallel pg_restore jobs for custom/directory archives the tools can read as files (1 through stdin)',
  },
  verify: {
    env: 'DRILL_VERIFY',
    default: 'canary',
    arg: 'LEVEL',
    help: 'canary: the canary checks | deep: also every table of the backup, row count and content digest read back from the restored server',
  },
  'source-time-zone': {
    env: 'DRILL_SOURCE_TIME_ZONE',
    default: 'UTC',
    arg: 'ZONE',
    help: 'TimeZone of the server the backup was taken from (pg_dump writes timestamptz in it and does not record it); deep verification reads back in it wherever the restored database and role set none of their own',
  },
  'allow-unverified': {
    env: 'DRILL_ALLOW_UNVERIFIED',
    default: false,
    arg: undefined,
    help: "with --verify deep: tables whose dump data cannot be digested (an INSERT not in pg_dump's form) are listed as not verified instead of failing the drill",
  },
  expect: {
    env: 'DRILL_EXPECT',
    default: undefined,
    arg: 'FILE',
    help: 'expectations file (YAML, written by `pg-restore-drill record`; docs/expectations.md): the tables, counts and digests the backup must hold, the canary contract, your own SQL assertions; read and checked before any work',
  },
  'assertion-timeout': {
    env: 'DRILL_ASSERTION_TIMEOUT',
    default: 30,
    arg: 'SECONDS',
    help: "statement_timeout of each assertion of the expectations file (an assertion's timeoutSeconds wins)",
  },
  rto: {
    env: 'DRILL_RTO',
    default: 300,
    arg: 'SECONDS',
    help: 'restore time budget (RTO); a slower restore fails `restore: within the RTO budget`, saying how long it took',
  },
  'rto-ceiling': {
    env: 'DRILL_RTO_CEILING',
    default: undefined,
    arg: 'SECONDS',
    help: 'hard ceiling: a restore over the budget runs on until this, so the real RTO is measured, and is stopped there (default: 3 × --rto)',
  },
  'wait-for-newest': {
    env: 'DRILL_WAIT_FOR_NEWEST',
    default: 600,
    arg: 'SECONDS',
    help: 'how long to wait for a newest backup that is still being written (its size or mtime changing) before failing; 0: fail at once',
  },
  'growth-check-interval': {
    env: 'DRILL_GROWTH_CHECK_INTERVAL',
    default: 5,
    arg: 'SECONDS',
    help: "seconds between the looks at the newest backup's size and mtime that tell whether it is still being written (a backup last written longer ago than this is taken at once)",
  },
  'report-dir': {
    env: 'DRILL_REPORT_DIR',
    default: 'drill-report',
    arg: 'DIR',
    help: 'where report.json and summary.txt are written',
  },
  junit: {
    env: 'DRILL_JUNIT',
    default: undefined,
    arg: 'FILE',
    help: 'also write a JUnit XML report (one test case per check)',
  },
  pushgateway: {
    env: 'DRILL_PUSHGATEWAY_URL',
    default: undefined,
    arg: 'URL',
    help: 'push the drill metrics (pg_dr_drill_*) to this Prometheus Pushgateway, on success and on failure',
  },
  'require-push': {
    env: 'DRILL_REQUIRE_PUSH',
    default: false,
    arg: undefined,
    help: 'fail the run (exit 1) when the metrics push fails; by default a failed push is reported and the verdict stands',
  },
  'metrics-cluster': {
    env: 'DRILL_METRICS_CLUSTER',
    default: 'default',
    arg: 'NAME',
    help: 'the `cluster` grouping label of the pushed metrics (which PostgreSQL cluster the backups belong to)',
  },
  'metrics-target': {
    env: 'DRILL_METRICS_TARGET',
    default: undefined,
    arg: 'NAME',
    help: 'the `target` grouping label of the pushed metrics (default: the target kind, e.g. local, container, url)',
  },
  progress: {
    env: 'DRILL_PROGRESS',
    default: 'auto',
    arg: 'MODE',
    help: 'restore progress on stderr: auto (a line updated in place on a terminal, plain lines in a log, JSON lines in a pod or under --log-format json) | tty | plain | json | off',
  },
  'progress-interval': {
    env: 'DRILL_PROGRESS_INTERVAL',
    default: 10,
    arg: 'SECONDS',
    help: 'seconds between progress lines in a log (a terminal repaints every 0.2 s)',
  },
  'log-format': {
    env: 'DRILL_LOG_FORMAT',
    default: 'auto',
    arg: 'FORMAT',
    help: 'what stderr carries: auto (JSON lines in a pod, human lines elsewhere) | human | json (one JSON object per line: log lines and progress)',
  },
  keep: {
    env: 'DRILL_KEEP',
    default: false,
    arg: undefined,
    help: 'leave the throwaway server running afterwards and print how to connect',
  },
  'temp-dir': {
    env: 'DRILL_TEMP_DIR',
    default: undefined,
    arg: 'DIR',
    help: 'where throwaway clusters and self-made backups live (default: the system temp directory)',
  },
  help: { env: undefined, default: false, arg: undefined, help: 'print this help' },
} as const;

type SettingName = keyof typeof SETTINGS;

export const MODE_CHOICES = ['cluster', 'canary', 'canary-copy'] as const;
export type RestoreMode = (typeof MODE_CHOICES)[number];
export const TARGET_CHOICES = ['auto', 'container', 'local', 'url', 'pod'] as const;
export type TargetChoice = (typeof TARGET_CHOICES)[number];

/** The validated configuration of one drill run. */
export interface DrillConfig {
  backups: string | undefined;
  backupPattern: string;
  timestampFormat: string;
  mode: RestoreMode;
  target: TargetChoice;
  pod: string | undefined;
  podContainer: string;
  cluster: boolean;
  cronjob: string;
  clusterTimeoutSeconds: number;
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
  jobs: number;
  verify: 'canary' | 'deep';
  sourceTimeZone: string;
  allowUnverified: boolean;
  /** The expectations file (`--expect`), loaded and validated by the drill before any work. */
  expect: string | undefined;
  assertionTimeoutSeconds: number;
  reportDir: string;
  junit: string | undefined;
  pushgateway: string | undefined;
  requirePush: boolean;
  metricsCluster: string;
  metricsTarget: string | undefined;
  progress: 'auto' | ProgressMode;
  progressIntervalSeconds: number;
  logFormat: LogFormat;
  keep: boolean;
  tempDir: string;
  help: boolean;
  /** Restore errors the operator accepts: the expectations file's `allow:` (not a flag of its own). */
  allowedErrors?: AllowRule[];
}

/** Reads flags, then `env`, then defaults; every bad value is a ConfigError naming the setting. */
export function readConfig(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string): DrillConfig {
  const options = Object.fromEntries(
    Object.entries(SETTINGS).map(([name, s]) => [
      name,
      { type: s.arg ? ('string' as const) : ('boolean' as const) },
    ]),
  );
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false })
      .values as typeof values;
  } catch (error) {
    throw new ConfigError('argv', `${(error as Error).message}. See --help.`);
  }
  const raw = (name: SettingName): { value: string | number | boolean | undefined; from: string } => {
    const setting = SETTINGS[name];
    if (values[name] !== undefined) return { value: values[name], from: `--${name}` };
    const fromEnv = setting.env ? env[setting.env] : undefined;
    if (setting.env && fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, from: setting.env };
    return { value: setting.default, from: 'default' };
  };
  const text = (name: SettingName): string | undefined => {
    const { value } = raw(name);
    return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
  };
  const flag = (name: SettingName): boolean => {
    const { value, from } = raw(name);
    if (typeof value === 'boolean') return value;
    if (value === undefined || typeof value === 'number') return false;
    if (/^(1|true|yes|on)$/i.test(value)) return true;
    if (/^(0|false|no|off)$/i.test(value)) return false;
    throw new ConfigError(name, `Expected ${from} to be true or false, got \`${value}\`.`);
  };

  const mode = text('mode') ?? 'cluster';
  if (!(MODE_CHOICES as readonly string[]).includes(mode)) {
    throw new ConfigError(
      'mode',
      `Expected --mode / DRILL_MODE to be one of ${MODE_CHOICES.join(', ')}, got \`${mode}\`.`,
    );
  }
  const target = text('target') ?? 'auto';
  if (!(TARGET_CHOICES as readonly string[]).includes(target)) {
    throw new ConfigError(
      'target',
      `Expected --target / DRILL_TARGET to be one of ${TARGET_CHOICES.join(', ')}, got \`${target}\`.`,
    );
  }
  const positive = (name: SettingName): number => {
    const { value, from } = raw(name);
    const number = Number(value);
    if (!Number.isFinite(number) || number <= 0) {
      throw new ConfigError(
        name,
        `Expected ${from === 'default' ? `--${name}` : from} to be a positive number of seconds, got \`${String(value)}\`.`,
      );
    }
    return number;
  };
  const wholeNumber = (name: SettingName): number => {
    const { value, from } = raw(name);
    const number = Number(value);
    if (!Number.isInteger(number) || number < 1) {
      throw new ConfigError(
        name,
        `Expected ${from === 'default' ? `--${name}` : from} to be a whole number of at least 1, got \`${String(value)}\`.`,
      );
    }
    return number;
  };
  const verify = text('verify') ?? 'canary';
  if (!['canary', 'deep'].includes(verify)) {
    throw new ConfigError(
      'verify',
      `Expected --verify / DRILL_VERIFY to be canary or deep, got \`${verify}\`.`,
    );
  }
  const progress = text('progress') ?? 'auto';
  if (!['auto', 'tty', 'plain', 'json', 'off'].includes(progress)) {
    throw new ConfigError(
      'progress',
      `Expected --progress / DRILL_PROGRESS to be auto, tty, plain, json or off, got \`${progress}\`.`,
    );
  }
  const logFormat = text('log-format') ?? 'auto';
  if (!['auto', 'human', 'json'].includes(logFormat)) {
    throw new ConfigError(
      'log-format',
      `Expected --log-format / DRILL_LOG_FORMAT to be auto, human or json, got \`${logFormat}\`.`,
    );
  }
  const rtoSeconds = positive('rto');
  const rtoCeilingSeconds = raw('rto-ceiling').value === undefined ? rtoSeconds * 3 : positive('rto-ceiling');
  if (rtoCeilingSeconds < rtoSeconds) {
    throw new ConfigError(
      'rto-ceiling',
      `Expected --rto-ceiling / DRILL_RTO_CEILING (${rtoCeilingSeconds} s) to be at least the RTO budget --rto (${rtoSeconds} s): the ceiling is where a restore over budget is finally stopped.`,
    );
  }
  const waitForNewest = Number(raw('wait-for-newest').value);
  if (!Number.isFinite(waitForNewest) || waitForNewest < 0) {
    throw new ConfigError(
      'wait-for-newest',
      `Expected --wait-for-newest / DRILL_WAIT_FOR_NEWEST to be a number of seconds (0 or more), got \`${String(raw('wait-for-newest').value)}\`.`,
    );
  }
  const canary = text('canary') ?? 'backup_test';
  if (!/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/.test(canary)) {
    // `none` passes this check too: it means "no canary" (drills/restore.drill.ts).
    throw new ConfigError(
      'canary',
      `Expected --canary / DRILL_CANARY to be a database name of at most 63 plain characters, got \`${canary}\`.`,
    );
  }
  if (canary === 'none' && mode !== 'cluster') {
    throw new ConfigError(
      'canary',
      `--mode ${mode} restores the canary's section of a pg_dumpall, and --canary none names no canary. Name the canary database with --canary DB, or use --mode cluster with --verify deep.`,
    );
  }
  if (canary === 'none' && verify === 'canary') {
    throw new ConfigError(
      'verify',
      '--canary none with --verify canary would verify nothing: there is no canary to check. Use --verify deep (every table of the backup is read back and compared), or name the canary database with --canary DB.',
    );
  }
  const databaseUrl = text('database-url');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(
      'database-url',
      'Expected --database-url / DATABASE_URL to start with postgres:// or postgresql://.',
    );
  }
  const path = (name: SettingName) => {
    const value = text(name);
    return value === undefined ? undefined : resolve(cwd, value);
  };
  return {
    backups: path('backups'),
    backupPattern: text('backup-pattern') ?? 'postgres-backup-{timestamp}',
    timestampFormat: text('timestamp-format') ?? 'YYYY-MM-DD-HHmmss',
    mode: mode as RestoreMode,
    target: target as TargetChoice,
    pod: text('pod'),
    podContainer: text('pod-container') ?? 'postgresql',
    cluster: flag('cluster'),
    cronjob: text('cronjob') ?? 'pg-restore-drill',
    clusterTimeoutSeconds: positive('cluster-timeout'),
    kubeconfig: path('kubeconfig'),
    context: text('context'),
    namespace: text('namespace'),
    image: text('image') ?? DEFAULT_POSTGRES_IMAGE,
    databaseUrl,
    scratch: flag('scratch'),
    pgBinDir: path('pg-bindir'),
    pgSearchRoots: (text('pg-search-roots') ?? '').split(delimiter).filter(Boolean),
    canary,
    rtoSeconds,
    rtoCeilingSeconds,
    waitForNewestSeconds: waitForNewest,
    growthCheckIntervalSeconds: positive('growth-check-interval'),
    jobs: wholeNumber('jobs'),
    verify: verify as DrillConfig['verify'],
    sourceTimeZone: text('source-time-zone') ?? 'UTC',
    allowUnverified: flag('allow-unverified'),
    expect: path('expect'),
    assertionTimeoutSeconds: positive('assertion-timeout'),
    reportDir: path('report-dir') ?? resolve(cwd, 'drill-report'),
    junit: path('junit'),
    pushgateway: pushgatewayUrl(text('pushgateway')),
    requirePush: flag('require-push'),
    metricsCluster: text('metrics-cluster') ?? 'default',
    metricsTarget: text('metrics-target'),
    progress: progress as DrillConfig['progress'],
    progressIntervalSeconds: positive('progress-interval'),
    logFormat: logFormat as LogFormat,
    keep: flag('keep'),
    tempDir: path('temp-dir') ?? tmpdir(),
    help: flag('help'),
  };
}

/** The Pushgateway URL, checked now so a typo fails before the drill runs, not after. */
function pushgatewayUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    parsePushgatewayUrl(value);
  } catch (error) {
    throw new ConfigError('pushgateway', (error as Error).message);
  }
  return value;
}

/** `--help`: every flag with its environment twin and default. */
export function helpText(): string {
  const lines = [
    'Usage: npm run drill -- [options]',
    '       npm run drill -- record [--all] [--database-url URL | --backups DIR] --out FILE   (see record --help)',
    '',
    'Restores the newest backup into a throwaway PostgreSQL with psql, verifies the canary database',
    'and reports. Exit 0: every check passed; 1: a check failed; 2: bad usage or configuration;',
    '130/143: interrupted (SIGINT/SIGTERM).',
    '',
    'Options (flag, environment variable, default):',
  ];
  for (const [name, s] of Object.entries(SETTINGS)) {
    const flag = `--${name}${s.arg ? ` ${s.arg}` : ''}`;
    const def = s.default === undefined || s.default === false ? '' : ` (default: ${s.default})`;
    lines.push(`  ${flag.padEnd(28)} ${s.env ?? ''}`);
    lines.push(`      ${s.help}${def}`);
  }
  lines.push(
    '',
    'The libpq variables PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE describe a --target url server too.',
  );
  return lines.join('\n');
}
