import type { PgVersion } from '../pg/version.ts';
import type { DatabaseSession, TableCheck } from '../verify/deep.ts';
import { forecastOf, type RtoForecast } from './forecast.ts';
import { formatBytes, formatDuration } from './format.ts';
import { isTargetFault } from './not-the-backups.ts';
import type { PushOutcome } from './publish-metrics.ts';
import { type SelfTestReport, selfTestLines, selfTestOf } from './self-test.ts';
import { PHASES, type Phase, type StepRecord } from './steps.ts';

export { formatBytes, formatDuration, isTargetFault };

/** Bumped on any change a consumer of report.json would notice. */
export const REPORT_SCHEMA_VERSION = 1;

export type Verdict = 'passed' | 'failed' | 'interrupted' | 'error';

/** The backup the drill tested, as the `backup:` step found it. */
export interface BackupFacts {
  file: string;
  path: string;
  sizeBytes: number;
  takenAt: string;
  /** Backup age when the drill started: the RPO at drill time. */
  ageSeconds: number;
}

/** What reading the dump end to end established, as the precheck step found it. */
export interface DumpFacts {
  kind: string;
  sqlBytes: number;
  dumpedFrom?: PgVersion;
  dumpedBy?: PgVersion;
}

export interface RestoreFacts {
  seconds: number;
  rtoBudgetSeconds: number;
  sqlBytes: number;
  skippedStatements: { line: number; statement: string }[];
  /** A `--clean` dump's DROPs that could not succeed on the empty server, commented out and listed. */
  expectedDrops?: { line: number; statement: string; reason: string }[];
  /** Tablespaces made inside the server's own directory: the dump's LOCATION → where they went. */
  tablespaces?: { line: number; name: string; original: string; mapped?: string }[];
  /** Errors the expectations file's allow rules accepted. */
  acceptedErrors?: { line: number | undefined; sqlstate: string; message: string; rule: number }[];
}

/** The table drill's two records: what was restored (and left out), and the comparison with the dump. */
export interface TableDrillFacts {
  restore: {
    table: string;
    scratch: string;
    seconds: number;
    rtoBudgetSeconds: number;
    sqlBytes: number;
    restored: string[];
    leftOut: { type: string; name: string; why: string }[];
  } | null;
  check: (TableCheck & { scratch: string; recordFile: string | null }) | null;
}

/** What the report says of the server the drill restored into (lib/report knows no targets). */
export interface TargetSummary {
  kind: string;
  /** Redacted: no password, no secret. */
  description: string;
  serverVersion: PgVersion;
  scratch: boolean;
}

/** report.json: everything an operator or a dashboard needs of one run. No secrets. */
export interface DrillReport {
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  runId: string;
  verdict: Verdict;
  exitCode: number;
  startedAt: string;
  finishedAt: string;
  mode: 'self-contained' | 'backups';
  target: { kind: string; description: string; serverVersion: string; scratch: boolean } | null;
  backup: BackupFacts | null;
  dump: DumpFacts | null;
  restore: RestoreFacts | null;
  /** --verify deep: every table of the backup, count and digest, dump against restored server. */
  deep: { tables: TableCheck[]; sessions?: DatabaseSession[] } | null;
  /** `--table`: the table-level recovery drill, its restore (phase "table") and its check. */
  table?: TableDrillFacts | null;
  /** Seconds per phase (only phases that ran) and the whole run. */
  phases: Partial<Record<Phase, number>> & { total: number };
  /** `interrupted`: steps a stop cut short (absent from reports of runs before it was counted). */
  counts: { passed: number; failed: number; skipped: number; interrupted?: number };
  checks: StepRecord[];
  /** Failures outside any check: configuration, target start, a spec that did not load, a signal. */
  errors: string[];
  /** Cleanups that failed (a target that would not stop, a database that would not drop): not the verdict. */
  cleanupFailures: string[];
  /** The metrics push, when one was asked for. */
  push: PushOutcome | null;
  /** The Kubernetes Event on the drill's Job, when the drill ran in a pod. */
  event: { recorded: boolean; name?: string; error?: string } | null;
  /** --self-test: each deliberate fault, its check, whether it went red (absent: no self-test ran). */
  selfTest?: SelfTestReport;
  /** The RTO forecast (lib/report/forecast.ts), when the restore completed. */
  forecast: RtoForecast | null;
}

export interface ReportInput {
  runId: string;
  mode: DrillReport['mode'];
  startedAt: Date;
  finishedAt: Date;
  target: TargetSummary | undefined;
  steps: StepRecord[];
  errors: string[];
  /** Cleanups that failed, each with why. */
  cleanupFailures?: string[];
  /** The signal that stopped the run, if one did. */
  interrupted: string | undefined;
  /** Why the drill could not start (no backups, no tools, an unsafe target): exit 2. */
  startError?: string;
}

/** Exit status per verdict; an interrupted run exits as a shell reports the signal (128 + number). */
function exitCodeFor(verdict: Verdict, signal: string | undefined): number {
  if (verdict === 'passed') return 0;
  if (verdict === 'interrupted') return signal === 'SIGINT' ? 130 : 143;
  return 1;
}

/** Builds the report from the steps' records; the verdict and exit code follow from them. */
export function buildReport(input: ReportInput): DrillReport {
  const tally = { passed: 0, failed: 0, skipped: 0, interrupted: 0 };
  for (const step of input.steps) tally[step.status]++;
  // Said only when a stop cut a step short: an ordinary run's counts are the three they always were.
  const { interrupted, ...three } = tally;
  const counts: DrillReport['counts'] = interrupted ? tally : three;
  const phases: DrillReport['phases'] = {
    total: round((input.finishedAt.getTime() - input.startedAt.getTime()) / 1000),
  };
  for (const phase of PHASES) {
    const ran = input.steps.filter((s) => s.phase === phase && s.status !== 'skipped');
    if (ran.length) phases[phase] = round(ran.reduce((sum, s) => sum + s.durationMs, 0) / 1000);
  }
  const facts = (key: string) => input.steps.map((s) => s.facts[key]).find((v) => v !== undefined) ?? null;
  const errors = input.startError ? [input.startError, ...input.errors] : input.errors;
  // Every failed step failed on the target: `error`, exit 2. One failed on the backup itself: `failed`.
  const targetFault =
    counts.failed > 0 && input.steps.every((s) => s.status !== 'failed' || isTargetFault(s));
  const verdict: Verdict = input.interrupted
    ? 'interrupted'
    : errors.length > 0 || input.steps.length === 0 || targetFault
      ? 'error'
      : counts.failed > 0
        ? 'failed'
        : 'passed';
  const table = tableFacts(facts('tableRestore'), facts('tableCheck'));
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    runId: input.runId,
    verdict,
    exitCode:
      input.startError || (verdict === 'error' && targetFault) ? 2 : exitCodeFor(verdict, input.interrupted),
    startedAt: input.startedAt.toISOString(),
    finishedAt: input.finishedAt.toISOString(),
    mode: input.mode,
    target: input.target
      ? {
          kind: input.target.kind,
          description: input.target.description,
          serverVersion: input.target.serverVersion.text,
          scratch: input.target.scratch,
        }
      : null,
    backup: facts('backup') as BackupFacts | null,
    dump: facts('dump') as DumpFacts | null,
    restore: facts('restore') as RestoreFacts | null,
    deep: facts('deep') as DrillReport['deep'],
    ...(table ? { table } : {}),
    phases,
    counts,
    checks: input.steps,
    errors,
    cleanupFailures: input.cleanupFailures ?? [],
    push: null,
    event: null,
    ...selfTestOf(input.steps),
    forecast: forecastOf(facts),
  };
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

/** The short human summary printed at the end and kept as summary.txt. */
export function formatSummary(report: DrillReport): string {
  const lines = [`pg-restore-drill: ${report.verdict.toUpperCase()}  (run ${report.runId}, ${report.mode})`];
  if (report.backup) {
    lines.push(
      `  backup    ${report.backup.file}  ${formatBytes(report.backup.sizeBytes)}${report.dump ? ` (${formatBytes(report.dump.sqlBytes)} SQL)` : ''}, taken ${report.backup.takenAt}, age ${formatDuration(report.backup.ageSeconds)}`,
    );
  }
  if (report.target) {
    const from = report.dump?.dumpedFrom ? `, dump from ${report.dump.dumpedFrom.text}` : '';
    lines.push(`  target    ${report.target.description}, PostgreSQL ${report.target.serverVersion}${from}`);
  }
  if (report.restore) {
    lines.push(
      `  restore   ${report.restore.seconds.toFixed(2)} s (RTO budget ${report.restore.rtoBudgetSeconds} s)`,
    );
    const { expectedDrops = [], tablespaces = [], acceptedErrors = [] } = report.restore;
    if (expectedDrops.length) {
      const absent = expectedDrops.filter((d) => d.reason.startsWith('the server has no'));
      const own = expectedDrops.filter((d) => d.reason.startsWith('the role the drill connects as')).length;
      const kept = expectedDrops.length - absent.length - own;
      lines.push(
        `  drops     expected on an empty scratch server: ${absent.length} DROP statement(s) for objects it did not have${absent.length ? `: ${absent.map((d) => d.statement.replace(/;$/, '')).join(', ')}` : ''}${own ? `; ${own} DROP of the role the drill connects as` : ''}${kept ? `; ${kept} statement(s) of the database the drill holds its session in, kept` : ''}`,
      );
    }
    for (const t of tablespaces) {
      lines.push(`  tblspace  ${t.name}: ${t.original} → ${t.mapped ?? '(in place)'}`);
    }
    for (const a of acceptedErrors) {
      lines.push(`  accepted  line ${a.line ?? '?'}: ${a.sqlstate} ${a.message} (allow rule ${a.rule})`);
    }
  }
  if (report.forecast) lines.push(`  forecast  ${report.forecast.sentence}`);
  lines.push(...tableLines(report));
  const phaseText = [...PHASES, 'total' as const]
    .filter((p) => report.phases[p] !== undefined)
    .map((p) => `${p} ${report.phases[p]?.toFixed(2)} s`)
    .join(' · ');
  lines.push(`  phases    ${phaseText}`);
  lines.push(...checkLines(report));
  for (const error of report.errors) lines.push(`  ERROR     ${error}`);
  for (const failure of report.cleanupFailures) lines.push(`  CLEANUP   ${failure}`);
  if (report.event) {
    lines.push(
      `  event     ${report.event.recorded ? `recorded (${report.event.name})` : `NOT recorded: ${report.event.error}`}`,
    );
  }
  if (report.push) {
    lines.push(
      `  metrics   ${report.push.ok ? 'pushed' : 'NOT pushed'} to ${report.push.url}${report.push.error ? `: ${report.push.error}` : ''}`,
    );
  }
  return lines.join('\n');
}

/** The counts, then each failed step (ERROR for the target's fault) and each one a stop cut short. */
function checkLines(report: DrillReport): string[] {
  const { passed, failed, skipped, interrupted } = report.counts;
  const lines = [
    `  checks    ${passed} passed, ${failed} failed, ${skipped} skipped${interrupted ? `, ${interrupted} interrupted` : ''}`,
    ...selfTestLines(report.selfTest),
  ];
  for (const step of report.checks.filter((s) => s.status === 'failed')) {
    const label = isTargetFault(step) ? 'ERROR   ' : 'FAILED  ';
    lines.push(`  ${label}  ${step.name}: ${step.message.split('\n', 1)[0]}`);
  }
  for (const step of report.checks.filter((s) => s.status === 'interrupted'))
    lines.push(`  STOPPED   ${step.name}: ${step.message}`);
  return lines;
}

function tableFacts(restore: unknown, check: unknown): TableDrillFacts | null {
  if (restore === null && check === null) return null;
  return { restore: restore as TableDrillFacts['restore'], check: check as TableDrillFacts['check'] };
}

/** The table drill's lines: "table shop.public.orders: restored 1 234 567 rows in 4.2 s, digest matches the dump". */
function tableLines(report: DrillReport): string[] {
  const { table } = report;
  if (!table?.restore) return [];
  const { restore, check } = table;
  const rows = check?.restoredRows ?? null;
  const count = rows === null ? '' : ` ${String(rows).replace(/\B(?=(\d{3})+(?!\d))/g, ' ')} rows`;
  const verdict = !check
    ? 'not compared with the dump'
    : check.digestMatch && check.dumpRows > 0
      ? 'digest matches the dump'
      : `differs from the dump (dump ${check.dumpRows} rows digest ${check.dumpDigest}, restored ${check.restoredRows ?? '?'} rows digest ${check.restoredDigest ?? '?'})`;
  const lines = [
    `  table     ${restore.table}: restored${count} in ${restore.seconds.toFixed(1)} s, ${verdict}`,
  ];
  lines.push(`  scratch   ${restore.scratch} (dropped at the end); RTO budget ${restore.rtoBudgetSeconds} s`);
  for (const l of restore.leftOut) lines.push(`  left out  ${l.type} ${l.name}: ${l.why}`);
  return lines;
}
