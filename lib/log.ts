import { ownPod } from './config/kube-settings.ts';
import type { ProgressMode } from './report/progress.ts';

/** Where the drill says what it does. Passed in, so tests can read it and libraries stay quiet. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

/** What stderr carries: `human` lines, or `json` objects one a line (a pod's log, a log shipper). */
export type LogFormat = 'auto' | 'human' | 'json';

/** Says nothing: the default for library calls. */
export const silentLogger: Logger = { info: () => {}, warn: () => {} };

/**
 * Writes to a stream (stderr by default, so stdout stays for machine-readable output): human lines, or
 * under `json` one object a line, `{"time", "level", "message"}`, as a pod's log collector reads them.
 */
export function streamLogger(
  stream: NodeJS.WritableStream,
  format: Exclude<LogFormat, 'auto'> = 'human',
  now: () => Date = () => new Date(),
): Logger {
  if (format === 'json') {
    const line = (level: string, message: string) =>
      stream.write(`${JSON.stringify({ time: now().toISOString(), level, message })}\n`);
    return { info: (message) => line('info', message), warn: (message) => line('warning', message) };
  }
  return {
    info: (message) => stream.write(`${message}\n`),
    warn: (message) => stream.write(`warning: ${message}\n`),
  };
}

/** In a Kubernetes pod: the API server's service variable, or the variables the drill's Job sets. */
export function inPod(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.KUBERNETES_SERVICE_HOST || ownPod(env).jobName);
}

/** `auto` resolved: JSON in a pod, human lines anywhere else (a terminal, a CI log). */
export function logFormatFor(format: LogFormat, env: NodeJS.ProcessEnv): 'human' | 'json' {
  if (format !== 'auto') return format;
  return inPod(env) ? 'json' : 'human';
}

/**
 * `auto` progress fits where it is read: a line repainted in place on a terminal, a plain human line
 * every interval in a CI log (a non-terminal stderr), JSON lines only where the log is JSON (a pod, or
 * `--log-format json`). An explicit `--progress` wins.
 */
export function progressModeFor(
  settings: { progress: 'auto' | ProgressMode; progressIntervalSeconds: number; logFormat: LogFormat },
  where: { env: NodeJS.ProcessEnv; stderrIsTTY: boolean },
): { mode: ProgressMode; intervalMs: number } {
  const json = logFormatFor(settings.logFormat, where.env) === 'json';
  const auto: ProgressMode = json ? 'json' : where.stderrIsTTY ? 'tty' : 'plain';
  const mode = settings.progress === 'auto' ? auto : settings.progress;
  return { mode, intervalMs: mode === 'tty' ? 200 : settings.progressIntervalSeconds * 1000 };
}
