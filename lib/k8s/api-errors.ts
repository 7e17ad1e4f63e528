import { ApiException } from '@kubernetes/client-node';
import { type KubeAction, KubeApiError, KubeForbiddenError } from './errors.ts';

/** The parts of a Kubernetes `Status` body we report. */
interface StatusBody {
  message?: string;
  reason?: string;
}

/** `cronjobs.batch "pg-restore-drill"` / `pods/log "x"`: the resource as kubectl and RBAC spell it. */
export function describeAction(action: KubeAction): string {
  const resource = action.group ? `${action.resource}.${action.group}` : action.resource;
  return `${resource}${action.name ? ` "${action.name}"` : ''} in namespace ${action.namespace}`;
}

/** The Role rule that would allow `action`, as YAML a reader can paste. */
export function missingRule(action: KubeAction): string {
  return `apiGroups: ["${action.group}"], resources: ["${action.resource}"], verbs: ["${action.verb}"]`;
}

/** HTTP status of a failed call: ours carry it, typed APIs throw ApiException, Watch an Error with statusCode. */
export function httpStatusOf(error: unknown): number | undefined {
  if (error instanceof KubeApiError) return error.status;
  if (error instanceof ApiException) return error.code;
  if (typeof error === 'object' && error !== null) {
    const status = (error as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number') return status;
  }
  return undefined;
}

/** The Status message the server sent with an error, when it sent one. */
export function statusMessageOf(error: unknown): string | undefined {
  if (!(error instanceof ApiException)) return undefined;
  const body: unknown = error.body;
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.trim() || undefined;
    }
  }
  if (typeof parsed === 'object' && parsed !== null) return (parsed as StatusBody).message;
  return undefined;
}

/**
 * One clear error for a failed API call: a 403 names the RBAC rule to add, a 401 the credentials, a
 * connection failure the server. `action` says what we were doing.
 */
export function kubeError(error: unknown, action: KubeAction): KubeApiError {
  if (error instanceof KubeApiError) return error;
  const status = httpStatusOf(error);
  const detail = statusMessageOf(error);
  const what = `${action.verb} ${describeAction(action)}`;
  if (status === 403) {
    return new KubeForbiddenError(
      action,
      status,
      `Forbidden: the API server refused to ${what}${detail ? ` (${detail})` : ''}. The Role bound to this identity needs: ${missingRule(action)}.`,
      { cause: error },
    );
  }
  if (status === 401) {
    return new KubeApiError(
      action,
      status,
      `Unauthorized: the API server did not accept our credentials when trying to ${what}; check the kubeconfig user (an expired token?) or the service account.`,
      { cause: error },
    );
  }
  if (status !== undefined) {
    return new KubeApiError(
      action,
      status,
      `The API server answered HTTP ${status} when trying to ${what}${detail ? `: ${detail.replace(/\.$/, '')}` : ''}.`,
      { cause: error },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new KubeApiError(action, undefined, `Could not ${what}: ${message}`, { cause: error });
}
