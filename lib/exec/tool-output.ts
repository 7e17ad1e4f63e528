import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { type PgVersion, parseVersion } from '../pg/version.ts';
import type { Executor, PgTool } from './executor.ts';

/** Keep this much of a tool's stderr, wherever it runs: with ON_ERROR_STOP the error that matters comes first. */
export const STDERR_CAP_BYTES = 256 * 1024;

/** `kept` and as much of `text` as the cap leaves room for. */
export function keepStderr(kept: string, text: string): string {
  return kept.length < STDERR_CAP_BYTES ? kept + text.slice(0, STDERR_CAP_BYTES - kept.length) : kept;
}

/** The stderr of a tool started by a shell that first writes `pid:N` (what an abort kills), then execs it. */
export interface PidStderr {
  sink: Writable;
  /** The tool's own stderr, capped, without the pid line. */
  text(): string;
  pid(): string | undefined;
  /** Settles when the pid line has arrived. */
  pidKnown: Promise<void>;
}

/** A stderr sink for the container and pod executors: reads the pid line, keeps the rest (capped). */
export function pidStderr(): PidStderr {
  let kept = '';
  let pid: string | undefined;
  let seen: () => void = () => {};
  const pidKnown = new Promise<void>((resolve) => {
    seen = resolve;
  });
  // One decoder across chunks: a character split between two frames stays whole.
  const decoder = new StringDecoder('utf8');
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      let text = decoder.write(chunk);
      if (pid === undefined) {
        const match = /^pid:(\d+)\n/.exec(text);
        if (match) {
          pid = match[1];
          seen();
          text = text.slice(match[0].length);
        }
      }
      kept = keepStderr(kept, text);
      done();
    },
  });
  return { sink, text: () => kept, pid: () => pid, pidKnown };
}

/** Calls `abort` when `signal` aborts (at once if it already has); returns the means to stop listening. */
export function onAbort(signal: AbortSignal | undefined, abort: () => void): () => void {
  if (signal?.aborted) abort();
  signal?.addEventListener('abort', abort, { once: true });
  return () => signal?.removeEventListener('abort', abort);
}

/** A sink that keeps what a tool writes, for the small outputs we read whole (versions, test SQL). */
export function collector(): { sink: Writable; text(): string } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  return { sink, text: () => Buffer.concat(chunks).toString('utf8') };
}

/** A tool's version as it will run (`psql --version`), whichever executor runs it. */
export async function toolVersionVia(run: Executor['run'], tool: PgTool): Promise<PgVersion | undefined> {
  const out = collector();
  const result = await run(tool, ['--version'], { stdout: out.sink }).catch(() => undefined);
  if (result?.exitCode !== 0) return undefined;
  return versionFromBanner(out.text());
}

/** `psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` → 15.18. */
export function versionFromBanner(banner: string): PgVersion | undefined {
  const text = /\(PostgreSQL\)\s+(\S+)/.exec(banner)?.[1];
  return text ? parseVersion(text) : undefined;
}
