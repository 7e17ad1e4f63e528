/**
 * Restore progress for the operator: on a terminal (`tty`), one line updated in place (bytes of the
 * backup read of the total, rate, ETA); in a CI log (`plain`), the same words as a line of its own every
 * interval; in a pod's log (`json`), one JSON object a line. Never in report.json or JUnit: it goes to
 * stderr only. Which one `auto` means is decided in lib/log.ts.
 */

export type ProgressMode = 'tty' | 'plain' | 'json' | 'off';

export interface ProgressOptions {
  mode: ProgressMode;
  out: NodeJS.WritableStream;
  /** What is being measured, e.g. `restore`. */
  phase: string;
  totalBytes: number;
  /** How often a line is written: a TTY repaints faster than a log should grow. */
  intervalMs: number;
  /** Monotonic milliseconds. */
  clock: () => number;
}

export interface Progress {
  /** Bytes consumed so far (cumulative). */
  update(bytes: number): void;
  /** The final line (TTY: ends the in-place line). */
  done(): void;
}

export function formatRate(bytesPerSecond: number): string {
  const mb = bytesPerSecond / (1024 * 1024);
  return mb >= 10 ? `${mb.toFixed(0)} MB/s` : `${mb.toFixed(1)} MB/s`;
}

/** A progress meter; `off` gives one that does nothing. */
export function progressMeter(options: ProgressOptions): Progress {
  if (options.mode === 'off') return { update: () => {}, done: () => {} };
  const started = options.clock();
  let last = Number.NEGATIVE_INFINITY;
  let bytes = 0;
  const facts = () => {
    const seconds = Math.max((options.clock() - started) / 1000, 0.001);
    const rate = bytes / seconds;
    const remaining = Math.max(options.totalBytes - bytes, 0);
    return {
      percent: options.totalBytes > 0 ? Math.min(100, (100 * bytes) / options.totalBytes) : 100,
      rate,
      eta: rate > 0 ? remaining / rate : undefined,
      seconds,
    };
  };
  const write = (final: boolean) => {
    const f = facts();
    if (options.mode !== 'json') {
      const mb = (n: number) => (n / (1024 * 1024)).toFixed(1);
      const eta = f.eta === undefined || final ? '' : `, ETA ${Math.ceil(f.eta)} s`;
      const done = final && options.mode === 'plain' ? `, done in ${f.seconds.toFixed(1)} s` : '';
      const text = `  ${options.phase}: ${f.percent.toFixed(0)}% of the backup read (${mb(bytes)} / ${mb(options.totalBytes)} MB), ${formatRate(f.rate)}${eta}${done}`;
      // A terminal repaints one line; a log gets a line of its own each time.
      options.out.write(options.mode === 'tty' ? `\r\x1b[K${text}${final ? '\n' : ''}` : `${text}\n`);
      return;
    }
    options.out.write(
      `${JSON.stringify({
        event: final ? 'phase-progress-done' : 'phase-progress',
        phase: options.phase,
        bytes,
        totalBytes: options.totalBytes,
        percent: Math.round(f.percent * 10) / 10,
        bytesPerSecond: Math.round(f.rate),
        etaSeconds: f.eta === undefined || final ? null : Math.ceil(f.eta),
        elapsedSeconds: Math.round(f.seconds * 10) / 10,
      })}\n`,
    );
  };
  return {
    update(total) {
      bytes = total;
      const now = options.clock();
      if (now - last >= options.intervalMs) {
        last = now;
        write(false);
      }
    },
    done() {
      write(true);
    },
  };
}
