import { describe, expect, it } from 'vitest';
import { collector } from './exec/tool-output.ts';
import { logFormatFor, progressModeFor, streamLogger } from './log.ts';

const POD = { KUBERNETES_SERVICE_HOST: '127.0.0.1' };
const settings = { progress: 'auto' as const, progressIntervalSeconds: 10, logFormat: 'auto' as const };

describe('progressModeFor', () => {
  it.each([
    ['a terminal', {}, true, 'tty', 200],
    ['a CI log (stderr not a terminal)', {}, false, 'plain', 10_000],
    ['a pod', POD, false, 'json', 10_000],
    [
      "a pod of the drill's Job without the service variable",
      { DRILL_JOB_NAME: 'drill-1' },
      false,
      'json',
      10_000,
    ],
    ['a pod with a terminal attached (kubectl run -it)', POD, true, 'json', 10_000],
  ])('auto in %s: %s', (_where, env, stderrIsTTY, mode, intervalMs) => {
    expect(progressModeFor(settings, { env, stderrIsTTY })).toEqual({ mode, intervalMs });
  });

  it('auto under --log-format json is JSON lines, also on a terminal; under human never JSON, also in a pod', () => {
    expect(progressModeFor({ ...settings, logFormat: 'json' }, { env: {}, stderrIsTTY: true }).mode).toBe(
      'json',
    );
    expect(progressModeFor({ ...settings, logFormat: 'human' }, { env: POD, stderrIsTTY: false }).mode).toBe(
      'plain',
    );
  });

  it('an explicit --progress wins', () => {
    expect(progressModeFor({ ...settings, progress: 'off' }, { env: POD, stderrIsTTY: true })).toEqual({
      mode: 'off',
      intervalMs: 10_000,
    });
    expect(progressModeFor({ ...settings, progress: 'tty' }, { env: {}, stderrIsTTY: false }).mode).toBe(
      'tty',
    );
  });
});

describe('logFormatFor', () => {
  it('auto is JSON in a pod and human elsewhere; an explicit format wins', () => {
    expect([
      logFormatFor('auto', POD),
      logFormatFor('auto', {}),
      logFormatFor('json', {}),
      logFormatFor('human', POD),
    ]).toEqual(['json', 'human', 'json', 'human']);
  });
});

describe('streamLogger', () => {
  /** A sink that keeps what is written to it (the executors' collector). */
  function capture() {
    const { sink, text } = collector();
    return { out: sink, text };
  }

  it('writes human lines, warnings marked', () => {
    const sink = capture();
    const log = streamLogger(sink.out);
    log.info('throwaway PostgreSQL 15.18 started');
    log.warn('SIGTERM received');
    expect(sink.text()).toBe('throwaway PostgreSQL 15.18 started\nwarning: SIGTERM received\n');
  });

  it('writes one JSON object a line under json, nothing else', () => {
    const sink = capture();
    const log = streamLogger(sink.out, 'json', () => new Date('2026-11-24T03:00:00.000Z'));
    log.info('a "quoted"\nmessage');
    log.warn('SIGTERM received');
    expect(
      sink
        .text()
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual([
      { time: '2026-11-24T03:00:00.000Z', level: 'info', message: 'a "quoted"\nmessage' },
      { time: '2026-11-24T03:00:00.000Z', level: 'warning', message: 'SIGTERM received' },
    ]);
  });
});
