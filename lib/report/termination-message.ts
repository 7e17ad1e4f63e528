import { open } from 'node:fs/promises';
import type { DrillReport } from './report.ts';
import { formatSummary } from './report.ts';
import type { Reporter } from './reporter.ts';

/** The kubelet reads at most 4096 bytes of a container's termination message. */
const LIMIT_BYTES = 4096;

/**
 * The verdict line and each failed check's and error's line of the summary, cut to what the kubelet keeps: what
 * `kubectl get pod` shows as the container's termination message after the pod is gone from the log.
 */
export function terminationMessage(report: DrillReport): string {
  const lines = formatSummary(report).split('\n');
  const wanted = [lines[0] ?? '', ...lines.filter((line) => /^ {2}(FAILED|ERROR) {4}/.test(line))];
  let message = '';
  for (const line of wanted) {
    const next = message === '' ? line : `${message}\n${line}`;
    if (Buffer.byteLength(next) > LIMIT_BYTES) break;
    message = next;
  }
  return `${message}\n`;
}

/**
 * Writes the termination message to `path` (the container's terminationMessagePath, /dev/termination-log)
 * only when that file exists: the kubelet mounts it into every container, nowhere else is it created.
 * First of the reporters: a local write that cannot hang, done before any network call.
 */
export function terminationMessageReporter(path: string): Reporter {
  return {
    name: `the termination message (${path})`,
    async publish(report: DrillReport) {
      const file = await open(path, 'r+').catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (!file) return;
      try {
        await file.truncate(0);
        await file.write(terminationMessage(report), 0);
      } finally {
        await file.close();
      }
    },
  };
}
