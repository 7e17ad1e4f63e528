import type pg from 'pg';
import { raceAbort } from '../abort.ts';
import { bufferReleaser } from '../exec/buffer-release.ts';

/** Sees each row of a `COPY … TO STDOUT` (text format): `bytes[start, end)`, without its newline. */
export type CopyRowFn = (bytes: Buffer, start: number, end: number) => void;

/** Backend message types (protocol 3): those a COPY TO's output is made of, and the ones that may come between. */
const COPY_DATA = 0x64; // 'd'
const COPY_OUT_RESPONSE = 0x48; // 'H'
const COPY_DONE = 0x63; // 'c'
const NOTICE = 0x4e; // 'N'
const PARAMETER_STATUS = 0x53; // 'S'
const NOTIFICATION = 0x41; // 'A'
const NEWLINE = 10;
/** A message's type byte and its length word. */
const HEADER = 5;

/** What pg's Connection is to a Submittable: its socket and the simple-query send. */
interface PgConnection {
  stream: NodeJS.EventEmitter;
  query(text: string): void;
  sendCopyFail(message: string): void;
}

type DataListener = (chunk: Buffer) => void;

/**
 * One for every COPY of this thread (the read-back runs several side by side): each socket chunk is a
 * fresh Buffer, dead once its rows are seen, and freed only by a collection of the young generation;
 * made at the first COPY, not at import.
 */
let releaseSocketChunk: ((bytes: number) => void) | undefined;

/**
 * One `COPY … TO STDOUT` on a node-postgres client, its rows handed over as they arrive, straight from
 * the socket's chunks. Why not pg's own message parser: it makes an object and a Buffer per CopyData
 * message, one per row (some 0.5 µs a row, 5 s of CPU for the 9.5 M rows of a 1 GB dump), and psql in
 * between costs its own CPU and a pipe: on two cores, where the server's COPY, the reader and the digest
 * share the CPU, that was a fifth of deep verification (docs/benchmarks.md). The technique is
 * pg-copy-streams' (a Submittable that takes the socket's data while the COPY's messages flow and hands
 * it back from the first message that is not one of them): pg then parses CommandComplete, an
 * ErrorResponse and ReadyForQuery itself, so the client stays usable after the COPY, or after its error.
 */
export class CopyOutQuery {
  private connection: PgConnection | undefined;
  private pgListener: DataListener | undefined;
  /** A message cut by a chunk's end: its parts, and their length together. */
  private parts: Buffer[] = [];
  private partsLength = 0;
  private error: Error | undefined;
  rows = 0;

  readonly done: Promise<number>;
  private settle!: (error: Error | undefined) => void;

  private readonly text: string;
  private readonly onRow: CopyRowFn;

  constructor(text: string, onRow: CopyRowFn) {
    this.text = text;
    this.onRow = onRow;
    this.done = new Promise<number>((resolve, reject) => {
      this.settle = (error) => (error ? reject(error) : resolve(this.rows));
    });
  }

  /** Called by pg when the query's turn comes. */
  submit(connection: PgConnection): Error | undefined {
    const listeners = connection.stream.listeners('data') as DataListener[];
    const [listener] = listeners;
    // pg-protocol's parser is the socket's only data listener; anything else and we do not know whose bytes these are.
    if (listeners.length !== 1 || !listener)
      return new Error('COPY TO: the client socket is not in the state expected');
    this.connection = connection;
    this.pgListener = listener;
    connection.stream.removeListener('data', listener);
    connection.stream.on('data', this.onData);
    connection.query(this.text);
    return undefined;
  }

  private readonly onData = (chunk: Buffer): void => {
    releaseSocketChunk ??= bufferReleaser();
    releaseSocketChunk(chunk.length);
    let bytes = chunk;
    let at = 0;
    if (this.partsLength > 0 && this.partsLength < HEADER) {
      // The cut fell inside a header (rare): joined with the whole chunk once.
      bytes = Buffer.concat([...this.parts, chunk]);
      this.parts = [];
      this.partsLength = 0;
    } else if (this.partsLength > 0) {
      // Complete the cut message only: copying whole chunks would copy the table once more. The first
      // part holds the header: it was held alone, and was at least a header long (see above).
      const have = this.partsLength;
      const need = 1 + (this.parts[0] as Buffer).readUInt32BE(1);
      if (have + chunk.length < need) {
        this.hold(chunk);
        return;
      }
      const message = Buffer.concat([...this.parts, chunk.subarray(0, need - have)]);
      this.parts = [];
      this.partsLength = 0;
      at = need - have;
      if (!this.message(message, 0, need)) {
        this.handBack(Buffer.concat([message, chunk.subarray(at)]));
        return;
      }
    }
    const end = bytes.length;
    while (at + HEADER <= end) {
      const next = at + 1 + bytes.readUInt32BE(at + 1);
      if (next > end) break;
      if (!this.message(bytes, at, next)) {
        this.handBack(bytes.subarray(at));
        return;
      }
      at = next;
    }
    if (at < end) this.hold(bytes.subarray(at));
  };

  private hold(bytes: Buffer): void {
    this.parts.push(bytes);
    this.partsLength += bytes.length;
  }

  /** One whole message at `bytes[from, to)`: false when it is not the COPY's (pg's to parse). */
  private message(bytes: Buffer, from: number, to: number): boolean {
    const type = bytes[from];
    if (type === COPY_DATA) {
      this.rows++;
      const last = to - 1;
      this.onRow(bytes, from + HEADER, bytes[last] === NEWLINE ? last : to);
      return true;
    }
    return (
      type === COPY_OUT_RESPONSE ||
      type === COPY_DONE ||
      type === NOTICE ||
      type === PARAMETER_STATUS ||
      type === NOTIFICATION
    );
  }

  /** The rest of the stream is pg's again, from `rest` on. */
  private handBack(rest: Buffer): void {
    const connection = this.connection;
    const listener = this.pgListener;
    if (!connection || !listener) return;
    connection.stream.removeListener('data', this.onData);
    connection.stream.on('data', listener);
    this.pgListener = undefined;
    if (rest.length > 0) listener(rest);
  }

  // pg's Submittable handlers, called as it parses what follows the COPY's data.
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handleRowDescription(): void {
    this.error ??= new Error('COPY TO: the statement returned rows, not COPY data');
  }
  handleDataRow(): void {}
  handleCopyInResponse(connection: PgConnection): void {
    this.error ??= new Error('COPY TO: the statement asked for COPY input');
    connection.sendCopyFail('pg-restore-drill reads, it never writes');
  }
  handleCopyData(): void {}
  handleError(error: Error): void {
    // The server's ErrorResponse (pg has already let go of the query: the ReadyForQuery that follows is
    // the client's, not ours), or the session's end; either way nothing more of the COPY comes.
    this.handBack(Buffer.alloc(0));
    this.settle(this.error ?? error);
  }
  handleReadyForQuery(): void {
    this.settle(this.error);
  }
}

/**
 * Runs `COPY … TO STDOUT` (text) on `client` and calls `onRow` with each row's bytes, without its
 * newline; resolves with the row count. The statement's error (or the session's end) rejects, and the
 * client stays usable after a statement error. On abort the client's socket is destroyed: the server's
 * COPY ends as its next write fails, and the client is unusable.
 */
export async function copyOut(
  client: pg.Client,
  statement: string,
  onRow: CopyRowFn,
  signal?: AbortSignal,
): Promise<number> {
  signal?.throwIfAborted();
  const query = new CopyOutQuery(statement, onRow);
  // A Submittable: pg queues it like any query and hands it the connection in its turn.
  client.query(query as unknown as pg.QueryConfig);
  return raceAbort(query.done, signal, () =>
    (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy(),
  );
}
