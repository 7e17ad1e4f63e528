/**
 * Settles as `work` does, unless `signal` aborts first: then `onAbort` runs (to stop the work itself, say
 * by destroying its socket) and the race rejects with the signal's reason. One listener, removed when the
 * race ends, so a signal that lives across many calls (a step's, one COPY per table) collects none. An
 * already aborted signal rejects at once, after `onAbort`.
 */
export async function raceAbort<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  onAbort: () => void = () => {},
): Promise<T> {
  if (!signal) return work;
  let listener = (): void => {};
  const aborted = new Promise<never>((_, reject) => {
    listener = () => {
      onAbort();
      reject(signal.reason);
    };
  });
  if (signal.aborted) listener();
  else signal.addEventListener('abort', listener, { once: true });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', listener);
  }
}
