/**
 * The fake Job controller (with the kubelet's part): a created Job gets one pod that walks through the
 * scenario the test set: scheduled or not, images pulled or not, init containers run, native sidecars
 * (initContainers with restartPolicy: Always) started before the main containers and stopped after
 * them, logs written line by line, the main container's exit (0, a failure code, OOMKilled), and the
 * Job's conditions as the real controller writes them; `activeDeadlineSeconds` ends it with
 * DeadlineExceeded. Deleting a Job follows its propagationPolicy (a Job's default is Orphan).
 */
import { randomBytes } from 'node:crypto';
import type {
  CoreV1Event,
  V1Container,
  V1ContainerStatus,
  V1Job,
  V1JobCondition,
  V1Pod,
  V1PodCondition,
} from '@kubernetes/client-node';
import type { PodLogs } from './logs.ts';
import type { Store } from './store.ts';

/** How long each step of the fake controller takes: only ordering matters, never the time. */
export const STEP_MS = 15;

export const UNSCHEDULABLE_MESSAGE =
  '0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.';

/** How the fake Job controller runs a Job's pod. */
export interface JobScenario {
  /**
   * succeed: Running, logs, exit 0, Complete. fail: exit `exitCode`, Failed. pending: never scheduled.
   * imagePullBackOff: scheduled, its image never pulled. oomKilled: exit 137 OOMKilled, Failed.
   * hang: runs until the deadline or a delete.
   */
  outcome: 'succeed' | 'fail' | 'pending' | 'imagePullBackOff' | 'oomKilled' | 'hang';
  /** Lines the main container writes to its log, one per step. */
  logLines?: string[];
  /** Lines each sidecar writes once started. */
  sidecarLogLines?: string[];
  /** Exit code of a failing container (default 1). */
  exitCode?: number;
  /** The Job's Failed condition (default BackoffLimitExceeded). */
  failReason?: string;
  failMessage?: string;
  /** The main container does not end (nor its log) before this settles. */
  hold?: Promise<unknown>;
}

export type PropagationPolicy = 'Background' | 'Foreground' | 'Orphan';

export interface JobController {
  run(job: V1Job, scenario: JobScenario): void;
  /** Deletes a Job as the API server and garbage collector do; returns the Job as it was, if it was. */
  remove(namespace: string, name: string, policy: PropagationPolicy): V1Job | undefined;
  close(): void;
}

const isSidecar = (c: V1Container) => c.restartPolicy === 'Always';

function running(c: V1Container, ready = true): V1ContainerStatus {
  return {
    name: c.name,
    image: c.image ?? '',
    imageID: '',
    ready,
    restartCount: 0,
    started: true,
    state: { running: { startedAt: new Date() } },
  } as V1ContainerStatus;
}

function terminated(c: V1Container, exitCode: number, reason: string): V1ContainerStatus {
  const now = new Date();
  return {
    name: c.name,
    image: c.image ?? '',
    imageID: '',
    ready: false,
    restartCount: 0,
    started: false,
    state: { terminated: { exitCode, reason, startedAt: now, finishedAt: now } },
  } as V1ContainerStatus;
}

function waiting(c: V1Container, reason: string, message?: string): V1ContainerStatus {
  return {
    name: c.name,
    image: c.image ?? '',
    imageID: '',
    ready: false,
    restartCount: 0,
    started: false,
    state: { waiting: { reason, ...(message ? { message } : {}) } },
  } as V1ContainerStatus;
}

function jobCondition(type: string, reason: string, message: string): V1JobCondition {
  const now = new Date();
  return {
    type,
    status: 'True',
    reason,
    message,
    lastProbeTime: now,
    lastTransitionTime: now,
  } as V1JobCondition;
}

const podConditions = (ready: boolean): V1PodCondition[] =>
  ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({
    type,
    status: ready || type === 'PodScheduled' || type === 'Initialized' ? 'True' : 'False',
    lastTransitionTime: new Date(),
  }));

/** One Job's run: its timers, so a delete or the deadline can stop it. */
interface Run {
  job: V1Job;
  pod: string;
  timers: Set<NodeJS.Timeout>;
  finished: boolean;
}

export function createJobController(store: Store, logs: PodLogs): JobController {
  const runs = new Map<string, Run>();
  const later = (run: Run, ms: number, step: () => void) => {
    const timer = setTimeout(() => {
      run.timers.delete(timer);
      if (!run.finished) step();
    }, ms);
    run.timers.add(timer);
  };
  const stop = (run: Run) => {
    run.finished = true;
    for (const timer of run.timers) clearTimeout(timer);
    run.timers.clear();
  };
  const namespaceOf = (run: Run) => run.job.metadata?.namespace ?? '';
  const nameOf = (run: Run) => run.job.metadata?.name ?? '';
  const podOf = (run: Run) => store.get('pods', namespaceOf(run), run.pod) as V1Pod | undefined;
  const updatePod = (run: Run, change: (pod: V1Pod) => void) => {
    const pod = podOf(run);
    if (!pod) return;
    change(pod);
    store.put('pods', pod);
  };
  const updateJob = (run: Run, change: (job: V1Job) => void) => {
    const job = store.get('jobs', namespaceOf(run), nameOf(run)) as V1Job | undefined;
    if (!job) return;
    change(job);
    store.put('jobs', job);
  };
  const spec = (run: Run) => run.job.spec?.template.spec;
  const mains = (run: Run) => spec(run)?.containers ?? [];
  const sidecars = (run: Run) => (spec(run)?.initContainers ?? []).filter(isSidecar);

  const failJob = (run: Run, reason: string, message: string) => {
    stop(run);
    updateJob(run, (j) => {
      j.status = {
        active: 0,
        ready: 0,
        failed: 1,
        startTime: j.status?.startTime,
        conditions: [jobCondition('FailureTarget', reason, message), jobCondition('Failed', reason, message)],
      };
    });
  };
  const completeJob = (run: Run) => {
    stop(run);
    const message = 'Reached expected number of succeeded pods';
    updateJob(run, (j) => {
      j.status = {
        active: 0,
        ready: 0,
        succeeded: 1,
        startTime: j.status?.startTime,
        completionTime: new Date(),
        conditions: [
          jobCondition('SuccessCriteriaMet', 'CompletionsReached', message),
          jobCondition('Complete', 'CompletionsReached', message),
        ],
      };
    });
  };

  /** The kubelet stops a pod (deadline, delete): running containers get SIGTERM and exit 143. */
  const terminatePod = (run: Run) => {
    updatePod(run, (p) => {
      p.metadata = { ...p.metadata, deletionTimestamp: new Date(), deletionGracePeriodSeconds: 30 };
      const end = (s: V1ContainerStatus) =>
        s.state?.running ? terminated({ name: s.name, image: s.image }, 143, 'Error') : s;
      p.status = {
        ...p.status,
        phase: p.status?.phase === 'Running' ? 'Failed' : p.status?.phase,
        containerStatuses: p.status?.containerStatuses?.map(end),
        initContainerStatuses: p.status?.initContainerStatuses?.map(end),
      };
    });
    for (const c of [...mains(run), ...sidecars(run)]) logs.end(namespaceOf(run), run.pod, c.name);
  };
  const removePod = (run: Run) => {
    terminatePod(run);
    store.remove('pods', namespaceOf(run), run.pod);
  };

  const unschedulable = (run: Run) => {
    const pod = podOf(run);
    updatePod(run, (p) => {
      p.status = {
        phase: 'Pending',
        qosClass: 'BestEffort',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: UNSCHEDULABLE_MESSAGE,
            lastTransitionTime: new Date(),
          },
        ],
      };
    });
    const namespace = namespaceOf(run);
    store.put('events', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${run.pod}.${Date.now().toString(16)}`, namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: run.pod, namespace, uid: pod?.metadata?.uid },
      reason: 'FailedScheduling',
      message: UNSCHEDULABLE_MESSAGE,
      type: 'Warning',
      source: { component: 'default-scheduler' },
      firstTimestamp: new Date(),
      lastTimestamp: new Date(),
      count: 1,
    } as CoreV1Event);
  };

  const imagePullBackOff = (run: Run) => {
    const pending = (reason: string, verb: string) => (p: V1Pod) => {
      p.spec = { ...p.spec, containers: p.spec?.containers ?? [], nodeName: 'node-1' };
      p.status = {
        phase: 'Pending',
        qosClass: 'BestEffort',
        conditions: podConditions(false),
        initContainerStatuses: (spec(run)?.initContainers ?? []).map((c) => waiting(c, 'PodInitializing')),
        containerStatuses: mains(run).map((c) =>
          waiting(c, reason, `${verb} image "${c.image}"${reason === 'ErrImagePull' ? ': not found' : ''}`),
        ),
      };
    };
    updatePod(run, pending('ErrImagePull', 'failed to pull and unpack'));
    later(run, STEP_MS, () => updatePod(run, pending('ImagePullBackOff', 'Back-off pulling')));
  };

  /** Init containers run to completion, sidecars start, then the main containers run. */
  const start = (run: Run) => {
    const namespace = namespaceOf(run);
    for (const c of [...sidecars(run), ...mains(run)]) logs.start(namespace, run.pod, c.name);
    updatePod(run, (p) => {
      p.spec = { ...p.spec, containers: p.spec?.containers ?? [], nodeName: 'node-1' };
      p.status = {
        phase: 'Running',
        qosClass: 'BestEffort',
        conditions: podConditions(true),
        initContainerStatuses: (spec(run)?.initContainers ?? []).map((c) =>
          isSidecar(c) ? running(c) : terminated(c, 0, 'Completed'),
        ),
        containerStatuses: mains(run).map((c) => running(c)),
      };
    });
    const scenario = runScenario.get(run) as JobScenario;
    for (const c of sidecars(run))
      for (const line of scenario.sidecarLogLines ?? []) logs.write(namespace, run.pod, c.name, line);
  };

  /** The main containers exit; sidecars are stopped after them; the Job ends. */
  const finish = (run: Run, exitCode: number, reason: string) => {
    const namespace = namespaceOf(run);
    for (const c of [...mains(run), ...sidecars(run)]) logs.end(namespace, run.pod, c.name);
    updatePod(run, (p) => {
      p.status = {
        ...p.status,
        phase: exitCode === 0 ? 'Succeeded' : 'Failed',
        conditions: podConditions(false),
        initContainerStatuses: (spec(run)?.initContainers ?? []).map((c) => terminated(c, 0, 'Completed')),
        containerStatuses: mains(run).map((c) => terminated(c, exitCode, reason)),
      };
    });
    const scenario = runScenario.get(run) as JobScenario;
    later(run, STEP_MS, () => {
      if (exitCode === 0) completeJob(run);
      else
        failJob(
          run,
          scenario.failReason ?? 'BackoffLimitExceeded',
          scenario.failMessage ?? 'Job has reached the specified backoff limit',
        );
    });
  };

  const runScenario = new WeakMap<Run, JobScenario>();

  const runContainers = (run: Run, scenario: JobScenario) => {
    const lines = scenario.logLines ?? [];
    const main = mains(run)[0]?.name ?? '';
    lines.forEach((line, i) => {
      later(run, STEP_MS * (i + 1), () => logs.write(namespaceOf(run), run.pod, main, line));
    });
    if (scenario.outcome === 'hang') return;
    const [exitCode, reason] =
      scenario.outcome === 'succeed'
        ? [0, 'Completed']
        : scenario.outcome === 'oomKilled'
          ? [137, 'OOMKilled']
          : [scenario.exitCode ?? 1, 'Error'];
    later(run, STEP_MS * (lines.length + 2), () => {
      void Promise.resolve(scenario.hold).then(() => {
        if (!run.finished) finish(run, exitCode, reason);
      });
    });
  };

  const createPod = (job: V1Job): string => {
    const namespace = job.metadata?.namespace ?? '';
    const jobName = job.metadata?.name ?? '';
    const uid = job.metadata?.uid ?? '';
    const template = job.spec?.template;
    const podName = `${jobName}-${randomBytes(3).toString('hex').slice(0, 5)}`;
    store.put('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: podName,
        namespace,
        labels: {
          ...template?.metadata?.labels,
          'batch.kubernetes.io/controller-uid': uid,
          'batch.kubernetes.io/job-name': jobName,
          'controller-uid': uid,
          'job-name': jobName,
        },
        annotations: template?.metadata?.annotations,
        ownerReferences: [
          {
            apiVersion: 'batch/v1',
            kind: 'Job',
            name: jobName,
            uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: template?.spec,
      status: { phase: 'Pending', qosClass: 'BestEffort' },
    } as V1Pod);
    return podName;
  };

  return {
    run(job, scenario) {
      const run: Run = { job, pod: createPod(job), timers: new Set(), finished: false };
      runs.set(`${job.metadata?.namespace}/${job.metadata?.name}`, run);
      runScenario.set(run, { ...scenario });
      updateJob(run, (j) => {
        j.status = { active: 1, ready: 0, startTime: new Date() };
      });
      const deadline = job.spec?.activeDeadlineSeconds;
      if (deadline !== undefined) {
        later(run, deadline * 1000, () => {
          // As the Job controller does: the Job fails, its active pods are deleted.
          failJob(run, 'DeadlineExceeded', 'Job was active longer than specified deadline');
          removePod(run);
        });
      }
      if (scenario.outcome === 'pending') return later(run, STEP_MS, () => unschedulable(run));
      if (scenario.outcome === 'imagePullBackOff') return later(run, STEP_MS, () => imagePullBackOff(run));
      later(run, STEP_MS, () => {
        start(run);
        runContainers(run, scenario);
      });
    },
    remove(namespace, name, policy) {
      const job = store.get('jobs', namespace, name) as V1Job | undefined;
      if (!job) return undefined;
      const run = runs.get(`${namespace}/${name}`);
      if (run) stop(run);
      if (policy === 'Orphan') {
        if (run)
          updatePod(run, (p) => {
            p.metadata = { ...p.metadata, ownerReferences: [] };
          });
        store.remove('jobs', namespace, name);
        return job;
      }
      if (policy === 'Foreground') {
        job.metadata = { ...job.metadata, deletionTimestamp: new Date(), finalizers: ['foregroundDeletion'] };
        store.put('jobs', job);
        if (run) removePod(run);
        store.remove('jobs', namespace, name);
        return job;
      }
      store.remove('jobs', namespace, name);
      // Background: the garbage collector deletes the dependents after the owner is gone.
      if (run) setTimeout(() => removePod(run), STEP_MS);
      return job;
    },
    close() {
      for (const run of runs.values()) stop(run);
    },
  };
}
