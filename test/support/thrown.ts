/** What a synchronous call threw, so a test can match the error's class, code and fields at once. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}
