/**
 * `pg-restore-drill history [--json] [--limit N] [--report-dir DIR | --kube ...]`: the drill history,
 * newest first, with the RTO trend, from the report directory's history.jsonl or (with --kube, or in a
 * pod) the cluster's ConfigMap. Read-only; its own small option table.
 */
import { parseArgs } from 'node:util';
import { SETTINGS } from '../config.ts';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { HistoryError, parseHistory, type ReadHistory, readHistoryFile } from './history.ts';
import { formatHistoryTable, historyRows, rtoTrend } from './history-table.ts';

/** How many runs are listed unless --limit says otherwise. */
export const DEFAULT_HISTORY_LIMIT = 20;

const OPTIONS = {
  'report-dir': {
    arg: 'DIR',
    help: `the drills' report directory (default DRILL_REPORT_DIR, then ${SETTINGS['report-dir'].default})`,
  },
  kube: {
    arg: undefined,
    help: "read the cluster's ConfigMap pg-restore-drill-history instead (the default in a pod)",
  },
  kubeconfig: {
    arg: 'FILE',
    help: 'with --kube: the kubeconfig (default KUBECONFIG, ~/.kube/config, in-cluster)',
  },
  context: { arg: 'NAME', help: 'with --kube: the kubeconfig context' },
  namespace: { arg: 'NAME', help: "with --kube: the ConfigMap's namespace (default: the context's)" },
  limit: { arg: 'N', help: `the newest N runs (default ${DEFAULT_HISTORY_LIMIT})` },
  json: {
    arg: undefined,
    help: 'JSON for machines: {source, runs: [...newest first, with rtoDeltaSeconds], rtoTrend}',
  },
  help: { arg: undefined, help: 'print this help' },
} as const;

function helpText(): string {
  const rows = Object.entries(OPTIONS).map(
    ([name, o]) => `  --${name}${o.arg ? ` ${o.arg}` : ''}`.padEnd(26) + o.help,
  );
  return [
    'Usage: pg-restore-drill history [--json] [--limit N] [--report-dir DIR | --kube]',
    '',
    ...rows,
  ].join('\n');
}

export interface HistoryCliDeps {
  out: NodeJS.WritableStream;
  log: Logger;
}

/** Runs the `history` subcommand; returns its exit status (0, or 2 for bad usage / no history). */
export async function runHistory(
  argv: string[],
  env: NodeJS.ProcessEnv,
  deps: HistoryCliDeps,
): Promise<number> {
  const options = Object.fromEntries(
    Object.entries(OPTIONS).map(([name, o]) => [name, { type: o.arg ? 'string' : 'boolean' } as const]),
  );
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new ConfigError('history', `${(error as Error).message}\n\n${helpText()}`);
  }
  if (values.help) {
    deps.out.write(`${helpText()}\n`);
    return 0;
  }
  const limit = parseLimit(values.limit as string | undefined);
  const { source, history } = await load(values, env);
  for (const line of history.badLines)
    deps.log.warn(`${source}: line ${line} is not a history entry; skipped`);
  const rows = historyRows(history.entries, limit);
  if (values.json) {
    deps.out.write(`${JSON.stringify({ source, runs: rows, rtoTrend: rtoTrend(rows) }, null, 2)}\n`);
  } else {
    deps.out.write(`${formatHistoryTable(rows, source)}\n`);
  }
  return 0;
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_HISTORY_LIMIT;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(
      'limit',
      `Expected --limit to be a whole number of runs, at least 1, got \`${text}\`.`,
    );
  }
  return value;
}

/** The history from the ConfigMap (--kube, or in a pod) or the report directory's file. */
async function load(
  values: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
): Promise<{ source: string; history: ReadHistory }> {
  if (values.kube || (env.KUBERNETES_SERVICE_HOST && values['report-dir'] === undefined)) {
    const [{ loadKubeConfig }, { readHistoryConfigMap }] = await Promise.all([
      import('../k8s/kube-config.ts'),
      import('../k8s/history-configmap.ts'),
    ]);
    const { kubeConfig, namespace } = loadKubeConfig({
      env,
      kubeconfig: values.kubeconfig as string | undefined,
      context: values.context as string | undefined,
      namespace: values.namespace as string | undefined,
    });
    const name = env.DRILL_HISTORY_CONFIGMAP || SETTINGS['history-configmap'].default;
    const source = `configmap ${namespace}/${name}`;
    const text = await readHistoryConfigMap({ kubeConfig, namespace, name });
    if (text === undefined) {
      throw new HistoryError(
        `No drill history in the cluster: ${source} does not exist (kubectl apply -k k8s/ creates it; the CronJob's drills fill it).`,
      );
    }
    return { source, history: parseHistory(text) };
  }
  const reportDir =
    (values['report-dir'] as string | undefined) ?? env.DRILL_REPORT_DIR ?? SETTINGS['report-dir'].default;
  const read = await readHistoryFile(reportDir);
  return { source: read.path, history: read };
}
