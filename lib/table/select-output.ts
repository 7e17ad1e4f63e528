import type { DumpLine } from '../dump/dump-lexer.ts';

/**
 * The table selection's output: lines it writes (settings, definitions) and lines of the dump passed
 * on byte for byte (the table's rows, runs of them within one chunk as one slice), with the map from
 * psql's input line back to the backup's line.
 */
export class SelectOutput {
  readonly pieces: Buffer[] = [];
  #lines = 0;
  #run: { bytes: Buffer; start: number; end: number } | undefined;
  readonly #runs: { out: number; dump: number }[] = [];

  /** psql's input line → the backup's line. */
  lineOf(outputLine: number): number {
    let run = this.#runs[0];
    for (const r of this.#runs) if (r.out <= outputLine) run = r;
    return run ? run.dump + (outputLine - run.out) : outputLine;
  }

  /** A line of text (latin1: the dump's bytes as read), from dump line `dumpLine`. */
  write(text: string, dumpLine: number): void {
    this.flush();
    this.#map(dumpLine);
    this.pieces.push(Buffer.from(`${text}\n`, 'latin1'));
  }

  /** A line of the dump as it is. */
  keep(line: DumpLine): void {
    this.#map(line.number);
    if (line.end >= line.bytes.length) {
      this.flush();
      this.pieces.push(Buffer.concat([line.bytes.subarray(line.start, line.end), Buffer.from('\n')]));
      return;
    }
    const run = this.#run;
    if (run && run.bytes === line.bytes && run.end === line.start) run.end = line.end + 1;
    else {
      this.flush();
      this.#run = { bytes: line.bytes, start: line.start, end: line.end + 1 };
    }
  }

  /** Ends the run of kept bytes (at each chunk's end: the lexer reuses nothing, but order matters). */
  flush(): void {
    if (this.#run) this.pieces.push(this.#run.bytes.subarray(this.#run.start, this.#run.end));
    this.#run = undefined;
  }

  take(): Buffer[] {
    return this.pieces.splice(0);
  }

  #map(dumpLine: number): void {
    this.#lines++;
    const last = this.#runs[this.#runs.length - 1];
    if (!last || last.dump + (this.#lines - last.out) !== dumpLine)
      this.#runs.push({ out: this.#lines, dump: dumpLine });
  }
}
