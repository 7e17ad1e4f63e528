import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

export interface ChildOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Standard output and error go to this file (appended); otherwise stdout is dropped, stderr kept. */
  logFile?: string;
  /** Aborting sends `stopSignal` to the child's whole process group. */
  signal: AbortSignal;
  /** SIGINT for the drill (it cleans up and reports), SIGTERM for a tool pipeline. */
  stopSignal: NodeJS.Signals;
  /** Called with the child's pid right after it started (the RSS watcher needs it). */
  onStart?: (pid: number) => void;
}

export interface ChildResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Wall time from spawn to the process's exit (not to its output's end), monotonic clock. */
  seconds: number;
  /** Standard error when no logFile was given (capped at 1 MB). */
  stderr: string;
}

/**
 * Runs a program in its own process group, timed with the monotonic clock. Its own group, so a Ctrl-C
 * in the terminal reaches the bench only and the bench stops the child exactly once, the way that lets
 * it clean up (a second SIGINT makes the drill exit without its cleanup).
 */
export function runChild(
  command: string,
  args: readonly string[],
  options: ChildOptions,
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    if (options.signal.aborted) {
      reject(new Error(`not started (${String(options.signal.reason)}): ${command}`));
      return;
    }
    const fd = options.logFile ? openSync(options.logFile, 'a') : undefined;
    const started = performance.now();
    const child = spawn(command, args, {
      env: options.env,
      cwd: options.cwd,
      detached: true,
      stdio: ['ignore', fd ?? 'ignore', fd ?? 'pipe'],
    });
    if (fd !== undefined) closeSync(fd);
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      if (stderr.length < 1 << 20) stderr += text;
    });
    const stop = () => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, options.stopSignal);
        } catch {
          // Already gone.
        }
      }
    };
    options.signal.addEventListener('abort', stop, { once: true });
    child.once('error', (error) => {
      options.signal.removeEventListener('abort', stop);
      reject(error);
    });
    if (child.pid !== undefined) options.onStart?.(child.pid);
    // Exit, not close: a grandchild still holding the output (a server's guardian) is not the drill.
    let exitedAt: number | undefined;
    child.once('exit', () => {
      exitedAt = performance.now();
    });
    child.once('close', (exitCode, signal) => {
      const seconds = ((exitedAt ?? performance.now()) - started) / 1000;
      options.signal.removeEventListener('abort', stop);
      resolve({ exitCode, signal, seconds, stderr });
    });
  });
}

/** The last lines of a text, for an error message. */
export function tailLines(text: string, count = 8): string {
  return text.trim().split('\n').slice(-count).join('\n');
}
