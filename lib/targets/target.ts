import type { Readable, Writable } from 'node:stream';
import type { PgVersion } from '../backups/dump-header.ts';

/** The client tools the drill runs. */
export type PgTool = 'psql' | 'pg_dumpall' | 'pg_dump' | 'pg_restore';

/** How to reach a server from where the drill's `pg` client runs. */
export interface Connection {
  /** Host name, IP, or a Unix socket directory (starts with `/`). */
  host: string;
  port: number;
  user: string;
  /** Kept out of JSON and logs by `redactConnection`; never put in argv. */
  password: string | undefined;
  /** The maintenance database to connect to first. */
  database: string;
}

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

export type TargetKind = 'local' | 'url' | 'container' | 'pod';

/**
 * What the drill needs to know of a started (or attached) server, in a form that can be handed to the
 * drill specs: plain data, no handles. `attach()` turns it back into an Executor.
 */
export interface TargetHandle {
  kind: TargetKind;
  /** A redacted description for the operator. */
  description: string;
  connection: Connection;
  serverVersion: PgVersion;
  /**
   * Started by this drill (or declared disposable): safe to fill with a whole cluster. A target that is
   * not scratch must never receive a whole pg_dumpall.
   */
  scratch: boolean;
  /** Where the client tools are: a bin directory on this host… */
  binDir?: string;
  /** …or inside this container… */
  containerId?: string;
  /** Host directories mounted read-only at their own paths in that container (a directory archive's). */
  containerMounts?: string[];
  /** …or inside this pod, reached through the Kubernetes exec API. */
  pod?: { namespace: string; name: string; container: string; kubeconfig?: string; context?: string };
}

/** A target this drill started or attached to, with the means to let go of it. */
export interface StartedTarget {
  handle: TargetHandle;
  /** Stops and removes what was started; a no-op for servers the drill only attached to. */
  stop(): Promise<void>;
  /** Leaves the server running and says how to reach and remove it (`--keep`). */
  keep(): Promise<string>;
}
