import { describe, expect, it } from 'vitest';
import { REPEAT_WINDOW_MS, type StopSignal, stopOnSignals } from './stop-signals.ts';

function harness() {
  let now = 1000;
  const handlers = new Map<StopSignal, (signal: StopSignal) => void>();
  const exits: number[] = [];
  const lines: string[] = [];
  const controller = stopOnSignals({
    log: { info: (m) => lines.push(`info: ${m}`), warn: (m) => lines.push(`warning: ${m}`) },
    listen: (signal, handler) => handlers.set(signal, handler),
    exit: (code) => exits.push(code),
    now: () => now,
  });
  const send = (signal: StopSignal, afterMs = 0) => {
    now += afterMs;
    handlers.get(signal)?.(signal);
  };
  return { controller, send, exits, lines };
}

describe('stopOnSignals', () => {
  it('takes a group SIGTERM and its relayed copies as one request: aborted once, no exit', () => {
    const h = harness();
    h.send('SIGTERM');
    h.send('SIGTERM', 3);
    h.send('SIGTERM', REPEAT_WINDOW_MS - 10);
    expect([h.controller.signal.aborted, h.controller.signal.reason, h.exits]).toEqual([true, 'SIGTERM', []]);
    expect(h.lines).toEqual([
      'warning: SIGTERM received: stopping the drill, cleaning up and writing the report',
      'info: SIGTERM again within 2 s: the same request (a relayed copy), still stopping',
      'info: SIGTERM again within 2 s: the same request (a relayed copy), still stopping',
    ]);
  });

  it('exits at once on a signal sent after the window: 143 for SIGTERM, 130 for SIGINT', () => {
    const term = harness();
    term.send('SIGTERM');
    term.send('SIGTERM', REPEAT_WINDOW_MS);
    expect(term.exits).toEqual([143]);
    const int = harness();
    int.send('SIGINT');
    int.send('SIGINT', REPEAT_WINDOW_MS + 500);
    expect([int.controller.signal.reason, int.exits]).toEqual(['SIGINT', [130]]);
  });

  it('does nothing before a signal', () => {
    const h = harness();
    expect([h.controller.signal.aborted, h.exits, h.lines]).toEqual([false, [], []]);
  });
});
