import { setTimeout as delay } from 'node:timers/promises';
import { BackupStillBeingWrittenError } from '../errors.ts';
import type { BackupCandidate, BackupLook, BackupSource, Discovery } from './backup-source.ts';
import { requireCandidates } from './directory-source.ts';
import type { BackupNaming } from './naming.ts';

export interface SettleOptions {
  source: BackupSource;
  naming: BackupNaming;
  /** Between two looks at the newest backup's size and mtime. */
  intervalMs: number;
  /** How long a backup that is still growing is waited for. */
  waitMs: number;
  signal?: AbortSignal;
  /** Monotonic milliseconds. */
  clock: () => number;
  /** Wall-clock epoch milliseconds, to tell how long ago the backup was last written (default Date.now). */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Told once when the newest backup is found still growing (the drill says so on stderr). */
  onGrowing?: (candidate: BackupCandidate, from: BackupLook, to: BackupLook) => void;
}

export interface Settled {
  candidate: BackupCandidate;
  discovery: Discovery;
  /** The look both times agreed on: what the precheck reads. */
  look: BackupLook;
  /** How long the drill waited for the backup to stop growing (0 when it never grew). */
  waitedMs: number;
  /** It was growing when first seen: it was still being written. */
  grew: boolean;
}

const same = (a: BackupLook, b: BackupLook) => a.sizeBytes === b.sizeBytes && a.mtimeMs === b.mtimeMs;

/**
 * The newest backup once it has stopped growing: its mtime is at least `intervalMs` in the past (nothing
 * was written to it for as long as a second look would wait: the nightly file of a finished job, taken
 * at once), or two looks `intervalMs` apart agree on its size and mtime. A backup still being written (the nightly job running late) is waited for, up to `waitMs`,
 * then BackupStillBeingWrittenError. Each round discovers again: a newer backup that appears meanwhile
 * becomes the one waited for, and an older complete one is never taken instead.
 */
export async function settledNewest(options: SettleOptions): Promise<Settled> {
  const sleep = options.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal }));
  const started = options.clock();
  let grew = false;
  let firstGrowth: { from: BackupLook; to: BackupLook } | undefined;
  let discovery = await options.source.discover();
  let candidate = requireCandidates(discovery, options.naming);
  let before = await options.source.look(candidate);
  const quietMs = (options.now ?? Date.now)() - before.mtimeMs;
  if (quietMs >= options.intervalMs) return { candidate, discovery, look: before, waitedMs: 0, grew: false };
  for (;;) {
    await sleep(options.intervalMs, options.signal);
    options.signal?.throwIfAborted();
    discovery = await options.source.discover();
    const newest = requireCandidates(discovery, options.naming);
    if (newest.path !== candidate.path) {
      // A newer backup appeared while we looked: it is the one to drill; look at it twice too.
      candidate = newest;
      before = await options.source.look(candidate);
      continue;
    }
    candidate = newest;
    const after = await options.source.look(candidate);
    if (same(before, after)) {
      return { candidate, discovery, look: after, waitedMs: grew ? options.clock() - started : 0, grew };
    }
    if (!grew) {
      grew = true;
      firstGrowth = { from: before, to: after };
      options.onGrowing?.(candidate, before, after);
    }
    const waited = options.clock() - started;
    if (waited >= options.waitMs) {
      throw new BackupStillBeingWrittenError(
        candidate.path,
        `${candidate.path} is still being written: it grew from ${firstGrowth?.from.sizeBytes} to ${after.sizeBytes} bytes while the drill waited ${(waited / 1000).toFixed(1)} s for it (--wait-for-newest / DRILL_WAIT_FOR_NEWEST ${options.waitMs / 1000} s). The backup job is still running or hung: check it, and drill again once it has finished. The drill never falls back to an older backup.`,
      );
    }
    before = after;
  }
}

/**
 * After a precheck found the backup cut short: was it still growing meanwhile? Then the truth is "still
 * being written", not "truncated … fix the job".
 */
export async function grewSince(
  source: BackupSource,
  candidate: BackupCandidate,
  seen: BackupLook,
): Promise<BackupLook | undefined> {
  const now = await source.look(candidate).catch(() => undefined);
  return now && !same(now, seen) ? now : undefined;
}
