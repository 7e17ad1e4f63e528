import { Writable } from 'node:stream';
import { type KubeConfig, Log } from '@kubernetes/client-node';

/** A `kubectl logs -f` in progress. */
export interface LogFollow {
  /** Resolves when the log ends (the container exited) or the follow is stopped. */
  readonly done: Promise<void>;
  stop(): void;
}

/**
 * Follows a container's log (`follow=true`) into `out`, honouring its backpressure, and never ends `out`
 * (it is usually our stdout, and several pods may write to it in turn). Rejects when the API server
 * refuses the request (e.g. 400 while the container is still being created, 403 without `pods/log`).
 */
export async function followPodLogs(
  kubeConfig: KubeConfig,
  pod: { namespace: string; name: string; container: string },
  out: NodeJS.WritableStream,
): Promise<LogFollow> {
  let ended: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    ended = resolve;
  });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (out.write(chunk)) callback();
      else out.once('drain', () => callback());
    },
  });
  sink.once('finish', () => ended());
  sink.once('close', () => ended());
  const request = await new Log(kubeConfig).log(pod.namespace, pod.name, pod.container, sink, {
    follow: true,
  });
  return {
    done,
    stop: () => {
      request.abort();
      sink.destroy();
      ended();
    },
  };
}
