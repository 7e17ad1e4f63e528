import type { Readable, Writable } from 'node:stream';
import type { PgVersion } from '../pg/version.ts';

/** The client tools the drill runs. */
export type PgTool = 'psql' | 'pg_dumpall' | 'pg_dump' | 'pg_restore';

export interface ToolRun {
  /** Bytes for the tool's standard input; absent means none. */
  stdin?: Readable;
  /** Where standard output goes; absent means it is discarded. */
  stdout?: Writable;
  /** Stops the tool (SIGTERM, then SIGKILL) when aborted. */
  signal?: AbortSignal;
}

export interface ToolResult {
  exitCode: number | null;
  /** The signal that ended the tool, if one did. */
  signal: string | null;
  /** Standard error, capped. */
  stderr: string;
}

/** Runs one client tool next to a server: on this host, in a container, in a pod. */
export interface Executor {
  readonly where: string;
  /** The tools see this machine's files (a path argument works); else every input must go through stdin. */
  readonly readsHostPaths: boolean;
  run(tool: PgTool, args: readonly string[], options?: ToolRun): Promise<ToolResult>;
  /** Version of a client tool as it will run, e.g. psql 15.18. */
  toolVersion(tool: PgTool): Promise<PgVersion | undefined>;
}
