/**
 * The fake Kubernetes API server for tests, in test/support/fake-kube/: server.ts (routes, faults, the
 * kubeconfig), store.ts (objects, resourceVersions, watch history, 410 Gone, bookmarks, ended and cut
 * watches), jobs.ts (the Job controller and kubelet: scenarios, sidecars, deadlines, deletion), logs.ts
 * (container logs, followed, timestamped, cut) and exec.ts (the exec WebSocket with a real process).
 * Tests that need a route of their own add it with `fake.extend(...)` in a file of their own.
 */
export type { ExecFaults, ExecRecord } from './fake-kube/exec.ts';
export {
  type JobScenario,
  type PropagationPolicy,
  STEP_MS,
  UNSCHEDULABLE_MESSAGE,
} from './fake-kube/jobs.ts';
export type { LogFaults } from './fake-kube/logs.ts';
export {
  FAKE_NAMESPACE,
  FAKE_TOKEN,
  type FakeKubeApi,
  type Forbidden,
  type HttpFault,
  type RecordedRequest,
  startFakeKubeApi,
} from './fake-kube/server.ts';
export type { WatchSettings } from './fake-kube/store.ts';
export type { FakeRoute, FakeUpgradeRoute, Resource } from './fake-kube/wire.ts';
