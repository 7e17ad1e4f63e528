import type { BackupCandidate } from '../backups/backup-source.ts';
import type { RestoreMode } from '../config.ts';
import { TargetError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Connection } from '../pg/connection.ts';
import type { PgVersion } from '../pg/version.ts';
import type { TableName } from '../table/table-name.ts';
import type { TargetChoice, TargetKind } from './registry.ts';

/**
 * Where the client tools run for a target, as plain data (it travels to the drill specs through
 * vitest's provide/inject): `executorFor` (attach.ts) turns it back into an Executor, and its switch
 * fails to compile when a kind is added here and not there.
 */
export type TargetTools =
  /** A bin directory on this host. */
  | { kind: 'host'; binDir: string }
  /** Inside this container; `mounts` are host directories mounted read-only at their own paths. */
  | { kind: 'container'; containerId: string; mounts: string[] }
  /** Inside this pod, reached through the Kubernetes exec API. */
  | {
      kind: 'pod';
      namespace: string;
      name: string;
      container: string;
      /** The server's port inside the pod (default: the connection's). */
      port?: number;
      kubeconfig?: string;
      context?: string;
    };

/** What the drill needs to know of a started (or attached) server: plain data, no handles. */
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
  tools: TargetTools;
}

/** A target this drill started or attached to, with the means to let go of it. */
export interface StartedTarget {
  handle: TargetHandle;
  /** Stops and removes what was started; a no-op for servers the drill only attached to. */
  stop(): Promise<void>;
  /** Leaves the server running and says how to reach and remove it (`--keep`). */
  keep(): Promise<string>;
}

/**
 * The settings the targets read, and nothing else of the drill's configuration. Field names follow
 * DrillConfig's, so a DrillConfig is one.
 */
export interface TargetOptions {
  target: TargetChoice;
  /** cluster mode writes a whole pg_dumpall: only into a scratch server. */
  mode: RestoreMode;
  /** `--table`: the table drill writes only a scratch database of its own, on any server. */
  table?: TableName | undefined;
  canary: string;
  /** The backups directory, if given: mounted into a container when the newest is a directory archive. */
  backups: string | undefined;
  /** container */
  image: string;
  /** local, url: where the client tools are looked for. */
  pgBinDir: string | undefined;
  pgSearchRoots: string[];
  /** local: parent of the throwaway cluster's directory, when given (lib/targets/memory-root.ts). */
  tempDir: string | undefined;
  /** local: the initdb template cache's directory, `off`, or undefined for the default. */
  initdbCache: string | undefined;
  /** url, pod: the server the checks connect to. Never logged. */
  databaseUrl: string | undefined;
  /** url: declared disposable. */
  scratch: boolean;
  /** pod */
  pod: string | undefined;
  podContainer: string;
  /** pod: the port PostgreSQL serves inside the pod (the forward's, and the pod's own tools'). */
  podPort: number;
  kubeconfig: string | undefined;
  context: string | undefined;
  namespace: string | undefined;
}

export interface TargetDeps {
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** Labels what the drill starts, so leftovers can be traced to a run. */
  runId: string;
  /** The backup the drill will restore, when known before the target starts (`--backups`). */
  newestBackup?: BackupCandidate;
  /**
   * Called once the target is at what it must wait for: a local target's first process of its own
   * (initdb, the template's copy, or the server: the waits from there on are on other processes), any
   * other target at once. The drill loads
   * vitest and its spec from then on, so that loading does not hold up the target's first steps on
   * the one thread they share (lib/drill/run-drill.ts).
   */
  starting?: () => void;
}

/** One kind of target: one file (local.ts, url.ts, container.ts, pod.ts) and one line in registry.ts. */
export interface Target {
  readonly kind: TargetKind;
  start(options: TargetOptions, deps: TargetDeps): Promise<StartedTarget>;
}

/** The bin directory of a target whose client tools run on this host (a local or url target). */
export function hostBinDir(handle: TargetHandle): string {
  if (handle.tools.kind !== 'host') {
    throw new TargetError(
      `The client tools of ${handle.description} run in its ${handle.tools.kind}, not here.`,
    );
  }
  return handle.tools.binDir;
}
