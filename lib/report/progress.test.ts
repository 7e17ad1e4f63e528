import { describe, expect, it } from 'vitest';
import { collector } from '../exec/tool-output.ts';
import { progressMeter } from './progress.ts';

/** A sink that keeps what is written to it (the executors' collector). */
function capture() {
  const { sink, text } = collector();
  return { out: sink, text };
}

describe('progressMeter', () => {
  it('writes one JSON line per interval in a log, and a final one', () => {
    let now = 0;
    const sink = capture();
    const meter = progressMeter({
      mode: 'json',
      out: sink.out,
      phase: 'restore',
      totalBytes: 4_000_000,
      intervalMs: 10_000,
      clock: () => now,
    });
    meter.update(0);
    now = 5_000;
    meter.update(1_000_000); // within the interval: no line
    now = 10_000;
    meter.update(2_000_000);
    now = 20_000;
    meter.done();
    const lines = sink
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      {
        event: 'phase-progress',
        phase: 'restore',
        bytes: 0,
        totalBytes: 4_000_000,
        percent: 0,
        bytesPerSecond: 0,
        etaSeconds: null,
        elapsedSeconds: 0,
      },
      {
        event: 'phase-progress',
        phase: 'restore',
        bytes: 2_000_000,
        totalBytes: 4_000_000,
        percent: 50,
        bytesPerSecond: 200_000,
        etaSeconds: 10,
        elapsedSeconds: 10,
      },
      {
        event: 'phase-progress-done',
        phase: 'restore',
        bytes: 2_000_000,
        totalBytes: 4_000_000,
        percent: 50,
        bytesPerSecond: 100_000,
        etaSeconds: null,
        elapsedSeconds: 20,
      },
    ]);
  });

  it('repaints one line in place on a terminal and ends it', () => {
    let now = 0;
    const sink = capture();
    const meter = progressMeter({
      mode: 'tty',
      out: sink.out,
      phase: 'restore',
      totalBytes: 10 * 1024 * 1024,
      intervalMs: 200,
      clock: () => now,
    });
    now = 1000;
    meter.update(5 * 1024 * 1024);
    now = 2000;
    meter.done();
    expect(sink.text()).toBe(
      '\r\x1b[K  restore: 50% of the backup read (5.0 / 10.0 MB), 5.0 MB/s, ETA 1 s' +
        '\r\x1b[K  restore: 50% of the backup read (5.0 / 10.0 MB), 2.5 MB/s\n',
    );
  });

  it('writes a plain line of its own per interval in a CI log, no escape codes, and a final one', () => {
    let now = 0;
    const sink = capture();
    const meter = progressMeter({
      mode: 'plain',
      out: sink.out,
      phase: 'restore',
      totalBytes: 10 * 1024 * 1024,
      intervalMs: 10_000,
      clock: () => now,
    });
    now = 1000;
    meter.update(1024 * 1024);
    now = 5000;
    meter.update(3 * 1024 * 1024); // within the interval: no line
    now = 11_000;
    meter.update(6 * 1024 * 1024);
    now = 12_000;
    meter.done();
    expect(sink.text().split('\n')).toEqual([
      '  restore: 10% of the backup read (1.0 / 10.0 MB), 1.0 MB/s, ETA 9 s',
      '  restore: 60% of the backup read (6.0 / 10.0 MB), 0.5 MB/s, ETA 8 s',
      '  restore: 60% of the backup read (6.0 / 10.0 MB), 0.5 MB/s, done in 12.0 s',
      '',
    ]);
  });

  it('says nothing when off', () => {
    const sink = capture();
    const meter = progressMeter({
      mode: 'off',
      out: sink.out,
      phase: 'restore',
      totalBytes: 1,
      intervalMs: 0,
      clock: () => 0,
    });
    meter.update(1);
    meter.done();
    expect(sink.text()).toBe('');
  });
});
