import { DrillError } from '../errors.ts';

/**
 * What can stop the cluster side of the drill before it has a verdict. All are exit 2 (the drill could
 * not be run as asked), each with a stable code and the facts an operator needs to fix it.
 */

/** No kubeconfig to load, a context that is not in it, a file that does not parse. */
export class KubeConfigError extends DrillError {
  static override readonly code = 'DRILL_K8S_CONFIG';
  override readonly exitCode = 2;
}

/** What a request was doing, in RBAC terms, so a refusal can name the rule that is missing. */
export interface KubeAction {
  verb: string;
  /** Plural resource, with subresource when there is one: `cronjobs`, `pods/log`, `pods/exec`. */
  resource: string;
  /** API group; '' is the core group. */
  group: string;
  namespace: string;
  name?: string;
}

/** The API server answered with an error (or could not be reached) for one request. */
export class KubeApiError extends DrillError {
  static override readonly code: string = 'DRILL_K8S_API';
  override readonly exitCode = 2;
  readonly action: KubeAction;
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;
  constructor(action: KubeAction, status: number | undefined, message: string, options?: ErrorOptions) {
    super(message, options);
    this.action = action;
    this.status = status;
  }
}

/** 403: the identity we run as lacks an RBAC rule; `action` is the rule to grant. */
export class KubeForbiddenError extends KubeApiError {
  static override readonly code = 'DRILL_K8S_FORBIDDEN';
}

/** The API server did not answer a request within its timeout (KUBE_CALL_TIMEOUT_MS): unreachable, or an egress policy drops it. */
export class KubeTimeoutError extends KubeApiError {
  static override readonly code = 'DRILL_K8S_TIMEOUT';
}

/** The CronJob the CI gate starts from is not there. */
export class CronJobNotFoundError extends KubeApiError {
  static override readonly code = 'DRILL_K8S_CRONJOB_NOT_FOUND';
}

/** Running a tool inside a pod failed for a reason of the exec channel, not of the tool. */
export class PodExecError extends DrillError {
  static override readonly code: string = 'DRILL_K8S_EXEC';
  override readonly exitCode = 2;
  /** `namespace/pod (container)`. */
  readonly pod: string;
  constructor(pod: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.pod = pod;
  }
}

/** The API server cannot half-close stdin (no v5.channel.k8s.io): psql would never see the end of input. */
export class ExecStdinUnsupportedError extends PodExecError {
  static override readonly code = 'DRILL_K8S_EXEC_STDIN';
}
