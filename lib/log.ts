/** Where the drill says what it does. Passed in, so tests can read it and libraries stay quiet. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

/** Says nothing: the default for library calls. */
export const silentLogger: Logger = { info: () => {}, warn: () => {} };

/** Writes to a stream (stderr by default, so stdout stays for machine-readable output). */
export function streamLogger(stream: NodeJS.WritableStream): Logger {
  return {
    info: (message) => stream.write(`${message}\n`),
    warn: (message) => stream.write(`warning: ${message}\n`),
  };
}
