import type { BatchV1Api } from '@kubernetes/client-node';
import { boundedCall } from './calls.ts';
import type { GateRun } from './gate-verdict.ts';

/**
 * A cancelled gate (SIGINT / SIGTERM: the pipeline was cancelled) deletes the Job it created, with
 * propagationPolicy Background (a Job's own default is Orphan: its pod would run on), so a cancelled
 * pipeline leaves no drill running. Returns what happened, in one sentence.
 */
export async function deleteGateJob(run: GateRun, batch: BatchV1Api): Promise<string> {
  const { namespace, job } = run;
  try {
    await boundedCall({ verb: 'delete', resource: 'jobs', group: 'batch', namespace, name: job }, (call) =>
      batch.deleteNamespacedJob(
        { name: job, namespace, propagationPolicy: 'Background', body: { propagationPolicy: 'Background' } },
        call,
      ),
    );
    return `deleted Job ${namespace}/${job} (propagationPolicy Background: its pod is deleted with it)`;
  } catch (error) {
    return `could not delete Job ${namespace}/${job}, which keeps running (${(error as Error).message}); stop it with kubectl -n ${namespace} delete job/${job}`;
  }
}
