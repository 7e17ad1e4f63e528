import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { thrown } from '../test/support/thrown.ts';
import { ownPod } from './config/kube-settings.ts';
import { ENVIRONMENT, helpText, readConfig, SETTINGS } from './config.ts';
import { ConfigError } from './errors.ts';

const CWD = '/srv/drill';

describe('readConfig', () => {
  it('uses the defaults when nothing is given', () => {
    expect(readConfig([], {}, CWD)).toEqual({
      backups: undefined,
      backupPattern: 'postgres-backup-{timestamp}',
      timestampFormat: 'YYYY-MM-DD-HHmmss',
      mode: 'cluster',
      target: 'auto',
      pod: undefined,
      podContainer: 'postgresql',
      podPort: 5432,
      cluster: false,
      cronjob: 'pg-restore-drill',
      clusterTimeoutSeconds: undefined,
      kubeconfig: undefined,
      context: undefined,
      namespace: undefined,
      image: 'postgres:18.1',
      databaseUrl: undefined,
      scratch: false,
      pgBinDir: undefined,
      pgSearchRoots: ['/usr/lib/postgresql'],
      canary: 'backup_test',
      rtoSeconds: 300,
      rtoCeilingSeconds: 900,
      waitForNewestSeconds: 600,
      growthCheckIntervalSeconds: 5,
      historyConfigMap: 'pg-restore-drill-history',
      checkOnly: false,
      jobs: 2,
      verify: 'canary',
      sourceTimeZone: 'UTC',
      allowUnverified: false,
      selfTest: false,
      expect: undefined,
      assertionTimeoutSeconds: 30,
      reportDir: '/srv/drill/drill-report',
      junit: undefined,
      pushgateway: undefined,
      requirePush: false,
      terminationLog: '/dev/termination-log',
      metricsCluster: 'default',
      metricsTarget: undefined,
      progress: 'auto',
      progressIntervalSeconds: 10,
      logFormat: 'auto',
      keep: false,
      tempDir: undefined,
      help: false,
      jobName: undefined,
      jobUid: undefined,
      podName: undefined,
      podNamespace: undefined,
    });
  });

  it('lets a flag beat the environment, and the environment beat the default', () => {
    expect(readConfig(['--rto', '60'], { DRILL_RTO: '120' }, CWD).rtoSeconds).toBe(60);
    expect(readConfig([], { DRILL_RTO: '120' }, CWD).rtoSeconds).toBe(120);
    expect(readConfig([], {}, CWD).rtoSeconds).toBe(300);
    expect(readConfig(['--target=local'], { DRILL_TARGET: 'url' }, CWD).target).toBe('local');
    expect(readConfig([], { DRILL_TARGET: 'url', DRILL_BACKUPS: '/mnt/b' }, CWD).target).toBe('url');
  });

  it('treats an empty environment variable as unset', () => {
    expect(readConfig([], { DRILL_RTO: '', DRILL_CANARY: '' }, CWD)).toMatchObject({
      rtoSeconds: 300,
      canary: 'backup_test',
    });
  });

  it('reads every setting from its environment twin', () => {
    const env = {
      DRILL_BACKUPS: '/mnt/backups',
      DRILL_BACKUP_PATTERN: 'db-{timestamp}',
      DRILL_TIMESTAMP_FORMAT: 'YYYYMMDD',
      DRILL_MODE: 'canary',
      DRILL_TARGET: 'url',
      DRILL_POD: 'data/postgres-postgresql-0',
      DRILL_POD_CONTAINER: 'pg',
      DRILL_POD_PORT: '6432',
      DRILL_CLUSTER: 'true',
      DRILL_CRONJOB: 'drill',
      DRILL_CLUSTER_TIMEOUT: '600',
      DRILL_KUBECONFIG: 'kube.yaml',
      DRILL_KUBE_CONTEXT: 'prod',
      DRILL_NAMESPACE: 'db',
      DRILL_POSTGRES_IMAGE: 'mirror.example/library/postgres:18.1',
      DATABASE_URL: 'postgres://drill@db:5432/postgres',
      DRILL_SCRATCH: 'yes',
      DRILL_PG_BINDIR: '/usr/lib/postgresql/15/bin',
      DRILL_PG_SEARCH_ROOTS: '/opt/pg:/usr/local/pgsql',
      DRILL_CANARY: 'canary_db',
      DRILL_JOBS: '4',
      DRILL_VERIFY: 'deep',
      DRILL_SOURCE_TIME_ZONE: 'Europe/Berlin',
      DRILL_ALLOW_UNVERIFIED: 'yes',
      DRILL_SELF_TEST: 'yes',
      DRILL_EXPECT: 'expect.yaml',
      DRILL_ASSERTION_TIMEOUT: '5',
      DRILL_RTO: '90.5',
      DRILL_RTO_CEILING: '200',
      DRILL_WAIT_FOR_NEWEST: '0',
      DRILL_GROWTH_CHECK_INTERVAL: '0.5',
      DRILL_HISTORY_CONFIGMAP: 'pg-restore-drill-history-orders',
      DRILL_CHECK_ONLY: 'true',
      DRILL_REPORT_DIR: '/var/report',
      DRILL_JUNIT: 'junit.xml',
      DRILL_PUSHGATEWAY_URL: 'http://pushgateway.monitoring:9091',
      DRILL_REQUIRE_PUSH: 'true',
      DRILL_METRICS_CLUSTER: 'prod',
      DRILL_METRICS_TARGET: 'sidecar',
      DRILL_PROGRESS: 'json',
      DRILL_PROGRESS_INTERVAL: '30',
      DRILL_LOG_FORMAT: 'json',
      DRILL_KEEP: 'on',
      DRILL_TEMP_DIR: '/var/tmp',
      DRILL_JOB_NAME: 'pg-restore-drill-29384000',
      DRILL_JOB_UID: '9d3e6f1a-1111-4222-8333-444455556666',
      POD_NAME: 'pg-restore-drill-29384000-x7k2p',
      POD_NAMESPACE: 'data',
    };
    expect(readConfig([], env, CWD)).toEqual({
      backups: '/mnt/backups',
      backupPattern: 'db-{timestamp}',
      timestampFormat: 'YYYYMMDD',
      mode: 'canary',
      target: 'url',
      pod: 'data/postgres-postgresql-0',
      podContainer: 'pg',
      podPort: 6432,
      cluster: true,
      cronjob: 'drill',
      clusterTimeoutSeconds: 600,
      kubeconfig: '/srv/drill/kube.yaml',
      context: 'prod',
      namespace: 'db',
      image: 'mirror.example/library/postgres:18.1',
      databaseUrl: 'postgres://drill@db:5432/postgres',
      scratch: true,
      pgBinDir: '/usr/lib/postgresql/15/bin',
      pgSearchRoots: ['/opt/pg', '/usr/local/pgsql'],
      canary: 'canary_db',
      rtoSeconds: 90.5,
      rtoCeilingSeconds: 200,
      waitForNewestSeconds: 0,
      growthCheckIntervalSeconds: 0.5,
      historyConfigMap: 'pg-restore-drill-history-orders',
      checkOnly: true,
      jobs: 4,
      verify: 'deep',
      sourceTimeZone: 'Europe/Berlin',
      allowUnverified: true,
      selfTest: true,
      expect: '/srv/drill/expect.yaml',
      assertionTimeoutSeconds: 5,
      reportDir: '/var/report',
      junit: '/srv/drill/junit.xml',
      pushgateway: 'http://pushgateway.monitoring:9091',
      requirePush: true,
      terminationLog: '/dev/termination-log',
      metricsCluster: 'prod',
      metricsTarget: 'sidecar',
      progress: 'json',
      progressIntervalSeconds: 30,
      logFormat: 'json',
      keep: true,
      tempDir: '/var/tmp',
      help: false,
      jobName: 'pg-restore-drill-29384000',
      jobUid: '9d3e6f1a-1111-4222-8333-444455556666',
      podName: 'pg-restore-drill-29384000-x7k2p',
      podNamespace: 'data',
    });
  });

  it.each([
    ['true', true],
    ['1', true],
    ['YES', true],
    ['on', true],
    ['false', false],
    ['0', false],
    ['no', false],
    ['Off', false],
  ])('reads DRILL_KEEP=%s as %s', (value, keep) => {
    expect(readConfig([], { DRILL_KEEP: value }, CWD).keep).toBe(keep);
  });

  it('lets --keep beat DRILL_KEEP=false', () => {
    expect(readConfig(['--keep'], { DRILL_KEEP: 'false' }, CWD).keep).toBe(true);
  });

  it('rejects DRILL_KEEP=maybe with a ConfigError naming --keep, DRILL_KEEP and where the value came from', () => {
    const error = thrown(() => readConfig([], { DRILL_KEEP: 'maybe' }, CWD));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({
      code: 'DRILL_CONFIG',
      exitCode: 2,
      setting: 'keep',
      message: 'Expected --keep / DRILL_KEEP to be true or false, got `maybe` from DRILL_KEEP.',
    });
  });

  it('rejects a Pushgateway URL it cannot push to, naming the setting and hiding credentials', () => {
    const error = thrown(() => readConfig(['--pushgateway', 'ftp://user:secret@gw:9091'], {}, CWD));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({
      setting: 'pushgateway',
      message:
        '--pushgateway / DRILL_PUSHGATEWAY_URL: "ftp://***@gw:9091" has scheme "ftp"; expected an http:// or https:// URL of the Pushgateway without query or fragment, e.g. http://pushgateway.monitoring:9091',
    });
  });

  it('rejects an unknown --target, naming the setting and the value', () => {
    const error = thrown(() => readConfig(['--target', 'docker'], {}, CWD));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({
      setting: 'target',
      message:
        'Expected --target / DRILL_TARGET to be one of auto, container, local, url, pod, got `docker` from --target.',
    });
  });

  it('puts the RTO ceiling at 3 × the budget unless told, and never below the budget', () => {
    expect(readConfig(['--rto', '20'], {}, CWD).rtoCeilingSeconds).toBe(60);
    expect(readConfig(['--rto', '20', '--rto-ceiling', '20'], {}, CWD).rtoCeilingSeconds).toBe(20);
    const error = thrown(() => readConfig(['--rto', '20'], { DRILL_RTO_CEILING: '10' }, CWD));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({
      setting: 'rto-ceiling',
      message:
        'Expected --rto-ceiling / DRILL_RTO_CEILING (10 s) to be at least the RTO budget --rto (20 s): the ceiling is where a restore over budget is finally stopped.',
    });
  });

  it('rejects a negative --wait-for-newest, naming it', () => {
    expect(thrown(() => readConfig(['--wait-for-newest=-5'], {}, CWD))).toMatchObject({
      setting: 'wait-for-newest',
      exitCode: 2,
      message:
        'Expected --wait-for-newest / DRILL_WAIT_FOR_NEWEST to be a number of seconds (0 or more), got `-5` from --wait-for-newest.',
    });
  });

  it('refuses --canary none when nothing else would be verified, naming the fix', () => {
    expect(thrown(() => readConfig(['--canary', 'none'], {}, CWD))).toMatchObject({
      code: 'DRILL_CONFIG',
      exitCode: 2,
      setting: 'verify',
      message:
        '--canary none with --verify canary would verify nothing: there is no canary to check. Use --verify deep (every table of the backup is read back and compared), or name the canary database with --canary DB.',
    });
    expect(readConfig(['--canary', 'none', '--verify', 'deep'], {}, CWD)).toMatchObject({
      canary: 'none',
      verify: 'deep',
    });
    expect(
      thrown(() => readConfig(['--canary', 'none', '--verify', 'deep', '--mode', 'canary'], {}, CWD)),
    ).toMatchObject({
      setting: 'canary',
      message:
        "--mode canary restores the canary's section of a pg_dumpall, and --canary none names no canary. Name the canary database with --canary DB, or use --mode cluster with --verify deep.",
    });
  });

  it.each([
    [['--rto', '0'], {}, '--rto', '0'],
    [['--rto=-1'], {}, '--rto', '-1'],
    [['--rto', 'abc'], {}, '--rto', 'abc'],
    [['--rto', 'Infinity'], {}, '--rto', 'Infinity'],
    [[], { DRILL_RTO: 'abc' }, 'DRILL_RTO', 'abc'],
  ])(
    'rejects rto %j %j, naming the flag, its twin, the value and %s it came from',
    (argv, env, from, value) => {
      const error = thrown(() => readConfig(argv, env, CWD));
      expect(error).toBeInstanceOf(ConfigError);
      expect(error).toMatchObject({
        setting: 'rto',
        message: `Expected --rto / DRILL_RTO to be a positive number of seconds, got \`${value}\` from ${from}.`,
      });
    },
  );

  it('rejects a dash-led value given as a separate argument, as parseArgs reads it as ambiguous', () => {
    expect(thrown(() => readConfig(['--rto', '-1'], {}, CWD))).toMatchObject({
      setting: 'argv',
      message: expect.stringMatching(/--rto.*See --help\.$/),
    });
  });

  it('rejects an unknown flag with a ConfigError', () => {
    const error = thrown(() => readConfig(['--backup', '/mnt'], {}, CWD));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({
      setting: 'argv',
      exitCode: 2,
      message: expect.stringMatching(/^Unknown option '--backup'.*\. See --help\.$/),
    });
  });

  it('rejects a positional argument', () => {
    expect(thrown(() => readConfig(['/mnt/backups'], {}, CWD))).toMatchObject({ setting: 'argv' });
  });

  it.each([
    [
      'canary',
      ['--canary', 'drop table'],
      /^Expected --canary \/ DRILL_CANARY to be a database name .*got `drop table` from --canary\.$/,
    ],
    ['canary', ['--canary', 'x'.repeat(64)], /got `x{64}` from --canary\.$/],
    [
      'database-url',
      ['--database-url', 'mysql://db/x'],
      /^Expected --database-url \/ DATABASE_URL to start with postgres:\/\//,
    ],
  ])('rejects a bad %s', (setting, argv, message) => {
    const error = thrown(() => readConfig(argv, {}, CWD));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ setting, message: expect.stringMatching(message) });
  });

  it('keeps a password in a database URL out of the error message', () => {
    const error = thrown(() => readConfig(['--database-url', 'mysql://u:s3cret@db/x'], {}, CWD));
    expect((error as Error).message).not.toMatch(/s3cret/);
  });

  it('resolves relative paths against cwd and keeps absolute ones', () => {
    const config = readConfig(
      ['--backups', 'backups', '--report-dir', '../out', '--pg-bindir', '/opt/pg/bin', '--temp-dir', './tmp'],
      { DRILL_JUNIT: 'reports/junit.xml' },
      CWD,
    );
    expect(config).toMatchObject({
      backups: '/srv/drill/backups',
      reportDir: '/srv/out',
      pgBinDir: '/opt/pg/bin',
      tempDir: '/srv/drill/tmp',
      junit: '/srv/drill/reports/junit.xml',
    });
  });

  it('reads --help', () => {
    expect(readConfig(['--help'], {}, CWD).help).toBe(true);
  });

  it('reads the downward-API variables from the environment only, never as flags', () => {
    expect(thrown(() => readConfig(['--job-name', 'x'], {}, CWD))).toMatchObject({
      setting: 'argv',
      message: expect.stringMatching(/^Unknown option '--job-name'/),
    });
    expect(ownPod({ DRILL_JOB_NAME: 'drill-1', DRILL_JOB_UID: '', POD_NAME: 'drill-1-abcde' })).toEqual({
      jobName: 'drill-1',
      jobUid: undefined,
      podName: 'drill-1-abcde',
      podNamespace: undefined,
    });
  });

  it('names the flag and its twin when the bad value came from the environment', () => {
    expect(thrown(() => readConfig([], { DRILL_JOBS: '1.5' }, CWD))).toMatchObject({
      setting: 'jobs',
      message: 'Expected --jobs / DRILL_JOBS to be a whole number of at least 1, got `1.5` from DRILL_JOBS.',
    });
    expect(thrown(() => readConfig(['--pod-port', '65536'], {}, CWD))).toMatchObject({
      setting: 'pod-port',
      message:
        'Expected --pod-port / DRILL_POD_PORT to be a TCP port, 1 to 65535, got `65536` from --pod-port.',
    });
    expect(thrown(() => readConfig([], { DRILL_VERIFY: 'full' }, CWD))).toMatchObject({
      setting: 'verify',
      message: 'Expected --verify / DRILL_VERIFY to be one of canary, deep, got `full` from DRILL_VERIFY.',
    });
  });
});

describe('self-contained mode on a live server', () => {
  it('is refused without --backups on --target url (no --scratch) and --target pod, naming the way out', () => {
    const url = thrown(() => readConfig(['--target', 'url'], {}, CWD)) as ConfigError;
    expect(url).toBeInstanceOf(ConfigError);
    expect(url.setting).toBe('backups');
    expect(url.message).toBe(
      'Without --backups the drill makes its own backup: it seeds its canary on the target and copies the whole server with pg_dumpall. --target url is a live server (no --scratch): give --backups DIR, the backups to drill, or declare the server disposable with --scratch.',
    );
    const pod = thrown(() =>
      readConfig(['--target', 'pod', '--pod', 'data/pg-0', '--mode', 'canary'], {}, CWD),
    ) as ConfigError;
    expect(pod.message).toMatch(/--target pod is a live server: give --backups DIR, the backups to drill\.$/);
    // A pod in --mode cluster is left to the pod target's own refusal.
    expect(readConfig(['--target', 'pod', '--pod', 'data/pg-0'], {}, CWD).target).toBe('pod');
    expect(readConfig(['--target', 'url', '--scratch'], {}, CWD).target).toBe('url');
    expect(readConfig(['--target', 'url', '--backups', '/mnt/b'], {}, CWD).backups).toBe('/mnt/b');
    expect(readConfig(['--target', 'local'], {}, CWD).backups).toBeUndefined();
  });
});

describe('--source-time-zone', () => {
  it("refuses an Area/Location name the tz database does not know, naming the setting; other forms are PostgreSQL's", () => {
    const typo = thrown(() => readConfig(['--source-time-zone', 'Europe/Berln'], {}, CWD)) as ConfigError;
    expect([typo.setting, typo.message]).toEqual([
      'source-time-zone',
      'Expected --source-time-zone / DRILL_SOURCE_TIME_ZONE to be a time zone of the tz database, as `SHOW TimeZone` prints it on the source server (Europe/Berlin, America/New_York, UTC), got `Europe/Berln` from --source-time-zone.',
    ]);
    for (const zone of [
      'Europe/Berlin',
      'America/Argentina/Buenos_Aires',
      'posix/Europe/Berlin',
      'UTC',
      'EST5EDT',
      '<+03>-3',
    ])
      expect(readConfig(['--source-time-zone', zone], {}, CWD).sourceTimeZone).toBe(zone);
  });
});

describe('a flag this run would ignore', () => {
  const refused = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
    thrown(() => readConfig(argv, env, CWD)) as ConfigError;

  it('is refused, naming the flag, where it applies and the way out', () => {
    const scratch = refused(['--target', 'local', '--scratch']);
    expect([scratch.setting, scratch.message]).toEqual([
      'scratch',
      '--scratch applies only to --target url (it declares that server disposable); with --target local it would do nothing. Drop it, or choose --target url.',
    ]);
    expect(refused(['--target', 'url', '--scratch', '--image', 'postgres:18']).message).toBe(
      '--image applies only to --target container (or auto); with --target url it would do nothing. Drop it, or choose --target container.',
    );
    expect(refused(['--target', 'local', '--pod', 'data/pg-0']).setting).toBe('pod');
    expect(refused(['--target', 'container', '--initdb-cache', '/c']).setting).toBe('initdb-cache');
    expect(refused(['--target', 'url', '--scratch', '--keep']).setting).toBe('keep');
    expect(refused(['--allow-unverified']).message).toBe(
      '--allow-unverified applies only to --verify deep; with --verify canary it would do nothing. Drop it, or choose --verify deep.',
    );
    expect(refused(['--check-only', '--table', 'shop.public.orders', '--verify', 'deep']).message).toBe(
      '--table, --verify: --check-only reads the newest backup and restores nothing, so they do nothing there. Drop them, or drop --check-only for the restore drill.',
    );
  });

  it('is taken where it applies; a DRILL_* variable (a shared environment) never refused; --cluster hands its flags on', () => {
    expect(readConfig(['--target', 'url', '--scratch'], {}, CWD).scratch).toBe(true);
    expect(readConfig(['--image', 'postgres:17'], {}, CWD).image).toBe('postgres:17');
    expect(readConfig(['--target', 'local', '--initdb-cache', 'off', '--keep'], {}, CWD).keep).toBe(true);
    expect(readConfig(['--verify', 'deep', '--allow-unverified'], {}, CWD).allowUnverified).toBe(true);
    const shared = { DRILL_POSTGRES_IMAGE: 'postgres:18', DRILL_SCRATCH: 'true', DRILL_VERIFY: 'deep' };
    expect(readConfig(['--check-only', '--target', 'local'], shared, CWD).checkOnly).toBe(true);
    expect(readConfig(['--cluster', '--target', 'local', '--image', 'postgres:18'], {}, CWD).cluster).toBe(
      true,
    );
  });
});

describe('SETTINGS', () => {
  const rows = Object.entries(SETTINGS);

  it('has one row per DrillConfig field, each field once', () => {
    const fields = rows.map(([, s]) => s.field);
    expect(fields.length).toBe(new Set(fields).size);
    // allowedErrors comes from the expectations file, not from a setting.
    expect(new Set(fields)).toEqual(
      new Set(Object.keys(readConfig([], {}, CWD)).filter((k) => k !== 'allowedErrors')),
    );
  });

  it('gives every row a distinct environment variable of its own', () => {
    const envs = rows.flatMap(([, s]) => ('env' in s ? [s.env] : []));
    expect(envs.length).toBe(rows.length - 1); // all but --help
    expect(new Set(envs).size).toBe(envs.length);
  });

  it('lists every variable lib/ reads, in SETTINGS or in ENVIRONMENT', async () => {
    const lib = import.meta.dirname;
    const entries = await readdir(lib, { recursive: true, withFileTypes: true });
    const read = new Set<string>();
    for (const e of entries) {
      if (!e.isFile() || !e.name.endsWith('.ts') || e.name.endsWith('.test.ts')) continue;
      const text = await readFile(join(e.parentPath, e.name), 'utf8');
      // `env.NAME` read (not assigned: host.ts writes the tools' PG* variables), and `env['NAME']`.
      for (const m of text.matchAll(
        /\benv\??\.([A-Z][A-Z0-9_]*)\b(?!\s*=[^=])|\benv\[['"]([A-Z][A-Z0-9_]*)['"]\]/g,
      )) {
        read.add((m[1] ?? m[2]) as string);
      }
    }
    const listed = new Set([
      ...rows.flatMap(([, s]) => ('env' in s ? [s.env as string] : [])),
      ...ENVIRONMENT.flatMap((e) => e.vars),
    ]);
    expect([...read].filter((name) => !listed.has(name))).toEqual([]);
    // The scan itself finds the reads this test is about.
    expect(
      [...read]
        .filter((name) => ['DRILL_JOB_NAME', 'KUBECONFIG', 'PGHOST', 'HOSTNAME'].includes(name))
        .sort(),
    ).toEqual(['HOSTNAME', 'KUBECONFIG', 'PGHOST']);
  });
});

describe('helpText', () => {
  const text = helpText();
  const lines = text.split('\n');

  it.each(Object.entries(SETTINGS))('lists %s with its environment twin and help', (name, setting) => {
    const head =
      'flag' in setting ? `  ${setting.env}` : `  --${name}${'arg' in setting ? ` ${setting.arg}` : ''} `;
    const line = lines.find((l) => l === head.trimEnd() || l.startsWith(head));
    expect(line?.trim().endsWith('env' in setting ? setting.env : `--${name}`)).toBe(true);
    expect(lines[lines.indexOf(line as string) + 1]?.startsWith(`      ${setting.help}`)).toBe(true);
  });

  it('shows each non-empty default, once, after its help', () => {
    const shown = Object.values(SETTINGS).filter((s) => 'default' in s && s.default !== false);
    expect(shown.length).toBeGreaterThan(20);
    for (const setting of shown) {
      expect(text).toContain(`${setting.help} (default: ${'default' in setting ? setting.default : ''})\n`);
    }
  });

  it('names every other variable the drill reads', () => {
    for (const { vars, help } of ENVIRONMENT) expect(text).toContain(`  ${vars.join(', ')}\n      ${help}`);
  });
});
