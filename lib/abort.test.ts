import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { raceAbort } from './abort.ts';

describe('raceAbort', () => {
  it('settles as the work does when the signal never aborts, and leaves no listener on it', async () => {
    const controller = new AbortController();
    for (let i = 0; i < 50; i++)
      await expect(raceAbort(Promise.resolve(i), controller.signal)).resolves.toBe(i);
    await expect(raceAbort(Promise.reject(new Error('work failed')), controller.signal)).rejects.toThrow(
      'work failed',
    );
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('rejects with the reason and runs onAbort once when the signal aborts before the work ends', async () => {
    const controller = new AbortController();
    let stops = 0;
    const never = new Promise<number>(() => {});
    const race = raceAbort(never, controller.signal, () => stops++);
    controller.abort(new Error('SIGTERM'));
    await expect(race).rejects.toThrow('SIGTERM');
    expect(stops).toBe(1);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('rejects at once on a signal aborted already, after onAbort', async () => {
    let stops = 0;
    await expect(
      raceAbort(new Promise(() => {}), AbortSignal.abort(new Error('gone')), () => stops++),
    ).rejects.toThrow('gone');
    expect(stops).toBe(1);
  });

  it('is the work itself without a signal', async () => {
    await expect(raceAbort(Promise.resolve('done'), undefined)).resolves.toBe('done');
  });
});
