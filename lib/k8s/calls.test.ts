import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { MAX_RETRY_PAUSE_MS, retryAfterMs, retryNote, retryPause } from './calls.ts';
import { KubeApiError } from './errors.ts';

const NOW = new Date('2026-11-24T03:10:00.000Z');
const action = { verb: 'get', resource: 'cronjobs', group: 'batch', namespace: 'data' };
const refused = (headers: Record<string, string>) =>
  new KubeApiError(action, 429, 'The API server answered HTTP 429.', {
    cause: new ApiException(429, 'Too Many Requests', '', headers),
  });

describe('Retry-After and the pause before a retry', () => {
  it('reads Retry-After in seconds or as an HTTP date', () => {
    expect(retryAfterMs(refused({ 'retry-after': '3' }), NOW)).toBe(3000);
    expect(retryAfterMs(refused({ 'retry-after': 'Tue, 24 Nov 2026 03:10:07 GMT' }), NOW)).toBe(7000);
    expect(retryAfterMs(refused({}), NOW)).toBeUndefined();
    expect(retryAfterMs(new Error('no response'), NOW)).toBeUndefined();
  });

  it('honours Retry-After up to the cap; without one, doubles from 250 ms, capped too', () => {
    expect(retryPause(refused({ 'retry-after': '2' }), 1, NOW)).toBe(2000);
    expect(retryPause(refused({ 'retry-after': '86400' }), 1, NOW)).toBe(MAX_RETRY_PAUSE_MS);
    expect([1, 2, 3, 4, 10].map((attempt) => retryPause(refused({}), attempt, NOW))).toEqual([
      250,
      500,
      1000,
      2000,
      MAX_RETRY_PAUSE_MS,
    ]);
  });

  it('says what was refused and when it is asked again', () => {
    expect(retryNote(new Error('The API server answered HTTP 429: Too many requests.'), 1500)).toBe(
      'The API server answered HTTP 429: Too many requests; asking again in 1.5 s.',
    );
  });
});
