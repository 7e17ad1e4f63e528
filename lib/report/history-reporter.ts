import type { Logger } from '../log.ts';
import { appendHistoryFile, historyEntry } from './history.ts';
import type { DrillReport } from './report.ts';
import type { Reporter } from './reporter.ts';

/** A history reporter, and what became of its entry, for the summary's `history` line. */
export interface HistoryReporter extends Reporter {
  /** `history.jsonl in DIR` / `configmap …: N entries`, or `NOT recorded: why`; undefined before it ran. */
  readonly outcome: string | undefined;
}

/** Where a drill records its history: the report directory's file, or (in the cluster) the ConfigMap. */
export type HistoryPlace =
  | { kind: 'file'; reportDir: string }
  | {
      kind: 'configmap';
      /** The ConfigMap's name (--history-configmap). */
      name: string;
      env: NodeJS.ProcessEnv;
      kubeconfig: string | undefined;
      context: string | undefined;
      namespace: string | undefined;
    };

/**
 * The drill history as a reporter: one line a run, added after report.json is written. Recording it can
 * fail (a read-only directory, the API server, RBAC): that is logged and listed, never the verdict.
 */
export function historyReporter(place: HistoryPlace, restoreMode: string, log: Logger): HistoryReporter {
  const reporter = {
    name: 'the drill history',
    outcome: undefined as string | undefined,
    async publish(report: DrillReport) {
      try {
        reporter.outcome = await record(place, historyEntry(report, restoreMode));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        reporter.outcome = `NOT recorded: ${message}`;
        log.warn(`could not record the drill history: ${message}`);
      }
    },
  };
  return reporter;
}

async function record(place: HistoryPlace, entry: ReturnType<typeof historyEntry>): Promise<string> {
  if (place.kind === 'file') return appendHistoryFile(place.reportDir, entry);
  // Loaded only in the cluster: the Kubernetes client costs a drill elsewhere 0.7 s and 70 MB.
  const [{ loadKubeConfig }, { appendHistoryConfigMap }] = await Promise.all([
    import('../k8s/kube-config.ts'),
    import('../k8s/history-configmap.ts'),
  ]);
  const { kubeConfig, namespace } = loadKubeConfig(place);
  const written = await appendHistoryConfigMap({ kubeConfig, namespace, name: place.name }, entry);
  return `configmap ${namespace}/${place.name} (${written.entries} entries; ${written.calls.join(', ')})`;
}
