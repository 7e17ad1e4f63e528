import type { Connection } from '../pg/connection.ts';
import type { PgVersion } from '../pg/version.ts';

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
