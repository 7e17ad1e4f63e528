import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAllYaml, loadYaml } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRILL_METRIC_NAMES } from '../../lib/report/metrics.ts';
import { commandMissing, engineSkip } from '../../test/support/engine-skip.ts';

const RULE_FILE = join(import.meta.dirname, 'prometheus-rule.yaml');
const TESTS_DIR = join(import.meta.dirname, 'tests');
/** Every promtool test file: alerts.test.yaml and those beside it (forecast, selftest, cluster, …). */
const PROMTOOL_TEST_FILES = readdirSync(TESTS_DIR)
  .filter((name) => name.endsWith('.test.yaml'))
  .sort();
const DASHBOARD_FILE = join(import.meta.dirname, 'grafana-dashboard.yaml');
const RUNBOOK_FILE = join(import.meta.dirname, '..', '..', 'docs', 'runbooks', 'drill-alerts.md');
const RUNBOOK_BASE = 'https://github.com/OWNER/pg-restore-drill/blob/main/docs/runbooks/drill-alerts.md';
/** What the daily check (--check-only, job pg_restore_drill_check) pushes beside the drill's own names. */
const CHECK_METRIC_NAMES = [
  'pg_dr_check_success',
  'pg_dr_check_last_run_timestamp_seconds',
  'pg_dr_backup_integrity_ok',
];
/** The kube-state-metrics series the pg-restore-drill-kubernetes group reads (its defaults export them). */
const KUBE_STATE_METRICS = [
  'kube_job_failed',
  'kube_job_owner',
  'kube_job_status_start_time',
  'kube_cronjob_spec_suspend',
  'kube_cronjob_status_last_schedule_time',
  'kube_cronjob_created',
  'kube_cronjob_status_last_successful_time',
];
const KNOWN_METRICS = new Set<string>([
  ...DRILL_METRIC_NAMES,
  ...CHECK_METRIC_NAMES,
  ...KUBE_STATE_METRICS,
  'push_time_seconds',
  'push_failure_time_seconds',
]);

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleGroups {
  groups: { name: string; rules: Rule[] }[];
}
interface ExpAlert {
  exp_labels?: Record<string, string>;
}
interface PromtoolTests {
  rule_files: string[];
  tests: {
    name?: string;
    alert_rule_test?: { alertname: string; eval_time: string; exp_alerts?: ExpAlert[] }[];
  }[];
}
interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

// Under CI=true a missing promtool fails this file (engineSkip throws).
const hasPromtool = !engineSkip(
  'the promtool rule tests',
  commandMissing('promtool', ['--version'], 'install the Debian package prometheus'),
);

function ruleSpec(): RuleGroups {
  const docs: unknown[] = loadAllYaml(readFileSync(RULE_FILE, 'utf8'));
  expect(docs).toHaveLength(1);
  const rule = docs[0] as { kind?: string; spec?: RuleGroups };
  expect(rule.kind).toEqual('PrometheusRule');
  if (rule.spec === undefined) throw new Error(`${RULE_FILE} has no spec`);
  return rule.spec;
}

function alertingRules(): (Rule & { alert: string })[] {
  return ruleSpec().groups.flatMap((group) =>
    group.rules.filter((rule): rule is Rule & { alert: string } => !!rule.alert),
  );
}

function promtoolTests(file: string): PromtoolTests {
  return loadYaml<PromtoolTests>(readFileSync(join(TESTS_DIR, file), 'utf8'));
}

/** The cases of every test file together. */
function allPromtoolCases(): NonNullable<PromtoolTests['tests'][number]['alert_rule_test']> {
  return PROMTOOL_TEST_FILES.flatMap((file) =>
    promtoolTests(file).tests.flatMap((test) => test.alert_rule_test ?? []),
  );
}

function dashboardPanels(): Panel[] {
  const docs: unknown[] = loadAllYaml(readFileSync(DASHBOARD_FILE, 'utf8'));
  expect(docs).toHaveLength(1);
  const configMap = docs[0] as {
    kind?: string;
    metadata?: { labels?: Record<string, string> };
    data?: Record<string, string>;
  };
  expect(configMap.kind).toEqual('ConfigMap');
  expect(configMap.metadata?.labels?.grafana_dashboard).toEqual('1');
  const json = Object.entries(configMap.data ?? {}).filter(([key]) => key.endsWith('.json'));
  expect(json).toHaveLength(1);
  const dashboard = JSON.parse(json[0]?.[1] ?? '') as { panels?: Panel[] };
  const flatten = (panels: Panel[]): Panel[] =>
    panels.flatMap((panel) => [panel, ...flatten(panel.panels ?? [])]);
  return flatten(dashboard.panels ?? []);
}

function dashboardExprs(): { title: string; expr: string }[] {
  return dashboardPanels().flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ title: panel.title ?? '', expr: target.expr ?? '' })),
  );
}

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'by', 'without', 'on', 'ignoring', 'offset']);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or strings. */
function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const match of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const isCall = bare
      .slice((match.index ?? 0) + match[0].length)
      .trimStart()
      .startsWith('(');
    if (!isCall && !PROMQL_KEYWORDS.has(match[0])) names.push(match[0]);
  }
  return names;
}

function unknownMetrics(exprs: { where: string; expr: string }[]): string[] {
  return exprs.flatMap(({ where, expr }) => {
    const names = metricNamesIn(expr);
    if (names.length === 0) return [`${where}: names no metric: ${expr}`];
    return names.filter((name) => !KNOWN_METRICS.has(name)).map((name) => `${where}: ${name}`);
  });
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
function markdownAnchors(markdown: string): string[] {
  const anchors: string[] = [];
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) inFence = !inFence;
    const heading = inFence ? null : /^#{1,6}\s+(.+?)\s*$/.exec(line);
    if (heading?.[1] !== undefined) {
      anchors.push(
        heading[1]
          .toLowerCase()
          .replace(/[^a-z0-9 _-]/g, '')
          .replace(/ /g, '-'),
      );
    }
  }
  return anchors;
}

function runPromtool(args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { encoding: 'utf8', timeout: 290_000 });
  return { status: result.status, output: `promtool ${args.join(' ')}\n${result.stdout}${result.stderr}` };
}

describe.skipIf(!hasPromtool)('PrometheusRule checked by promtool', () => {
  let dir = '';
  let rulesFile = '';

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'drill-alerts-'));
    rulesFile = join(dir, 'prometheus-rule.rules.yaml');
    // JSON is YAML, and keeps every expr and template string exactly as parsed from the manifest.
    writeFileSync(rulesFile, JSON.stringify(ruleSpec(), null, 2));
  });

  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('accepts the rules extracted from the manifest (promtool check rules)', () => {
    const result = runPromtool(['check', 'rules', rulesFile]);
    expect(result.status, result.output).toEqual(0);
  });

  it('finds the promtool test files', () => {
    expect(PROMTOOL_TEST_FILES).toEqual(expect.arrayContaining(['alerts.test.yaml', 'cluster.test.yaml']));
  });

  it.each(PROMTOOL_TEST_FILES)(
    'passes the unit tests in tests/%s (promtool test rules)',
    (file) => {
      const testFile = join(dir, file);
      writeFileSync(testFile, JSON.stringify({ ...promtoolTests(file), rule_files: [rulesFile] }, null, 2));

      const result = runPromtool(['test', 'rules', testFile]);
      expect(result.status, result.output).toEqual(0);
    },
    300_000,
  );

  it('parses every dashboard query as PromQL', () => {
    const rules = dashboardExprs().map(({ expr }, index) => ({
      record: `dashboard:query_${index}`,
      // Grafana variables are only valid PromQL once substituted.
      expr: expr.replace(/\$__\w+/g, '5m').replace(/\$\w+/g, '.*'),
    }));
    const file = join(dir, 'dashboard-queries.rules.yaml');
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));

    const result = runPromtool(['check', 'rules', file]);
    expect(result.status, result.output).toEqual(0);
  });
});

describe('PrometheusRule metadata, runbook and test coverage', () => {
  it('gives every alert a severity, summary, description and a runbook URL on the single base', () => {
    for (const rule of alertingRules()) {
      expect(['critical', 'warning'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toMatch(/\S/);
      expect(rule.annotations?.description, rule.alert).toMatch(/\S/);
      expect(rule.annotations?.runbook_url, rule.alert).toEqual(
        `${RUNBOOK_BASE}#${rule.alert.toLowerCase()}`,
      );
    }
  });

  it('has a runbook section for every alert', () => {
    const anchors = markdownAnchors(readFileSync(RUNBOOK_FILE, 'utf8'));
    const wanted = alertingRules().map((rule) => new URL(rule.annotations?.runbook_url ?? '').hash.slice(1));

    expect(wanted.filter((anchor) => !anchors.includes(anchor))).toEqual([]);
    expect(anchors).toContain('scrape-config');
  });

  it('has a firing and a silent promtool case for every alert, and a firing case for every rule', () => {
    const cases = allPromtoolCases();
    const firing = cases.filter((c) => (c.exp_alerts ?? []).length > 0);
    const silent = new Set(cases.filter((c) => (c.exp_alerts ?? []).length === 0).map((c) => c.alertname));
    const rules = alertingRules();
    const names = [...new Set(rules.map((rule) => rule.alert))];

    expect(names.filter((name) => !firing.some((c) => c.alertname === name))).toEqual([]);
    expect(names.filter((name) => !silent.has(name))).toEqual([]);
    // Rules sharing an alert name (PgRestoreDrillMissing) each need their own firing case.
    const untested = rules.filter(
      (rule) =>
        !firing.some(
          (c) =>
            c.alertname === rule.alert &&
            (c.exp_alerts ?? []).some((exp) =>
              Object.entries(rule.labels ?? {}).every(([key, value]) => exp.exp_labels?.[key] === value),
            ),
        ),
    );
    expect(untested.map((rule) => `${rule.alert} ${JSON.stringify(rule.labels)}`)).toEqual([]);
  });

  it('only queries metrics the drill, its daily check, the Pushgateway or kube-state-metrics export', () => {
    const exprs = alertingRules().map((rule) => ({ where: rule.alert, expr: rule.expr }));
    expect(unknownMetrics(exprs)).toEqual([]);
  });
});

describe('Grafana dashboard ConfigMap', () => {
  it('embeds a dashboard with the drill panels', () => {
    const titles = dashboardPanels().map((panel) => panel.title);

    expect(titles).toEqual(
      expect.arrayContaining([
        'Restore duration vs RTO budget',
        'Backup age at drill time',
        'Success history',
        'Phase breakdown',
      ]),
    );
  });

  it('only queries metrics the drill or the Pushgateway export', () => {
    const exprs = dashboardExprs().map(({ title, expr }) => ({ where: title, expr }));

    expect(exprs.length).toBeGreaterThan(0);
    expect(unknownMetrics(exprs)).toEqual([]);
  });

  it('recognises metric names the way the checks above rely on', () => {
    expect(
      metricNamesIn(
        'sum by (phase) (rate(pg_dr_drill_x{a="b{c}"}[5m])) - on(job) time() > bool 3 unless absent(push_time_seconds)',
      ),
    ).toEqual(['pg_dr_drill_x', 'push_time_seconds']);
  });
});
