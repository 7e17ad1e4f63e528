/**
 * The command line: flags and DRILL_* variables → one validated config → the drill → an exit status.
 * The only module that reads process.env / process.argv or ends the process.
 */
import { fileURLToPath } from 'node:url';
import { type DrillConfig, helpText, readConfig } from './config.ts';
import { runDrill } from './drill/run-drill.ts';
import { stopOnSignals } from './drill/stop-signals.ts';
import { DrillError } from './errors.ts';
import { type Logger, logFormatFor, streamLogger } from './log.ts';
import { runHistory } from './report/history-cli.ts';
import { checkOutputPaths } from './report/output-paths.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** After the work is done, a handle left open must not keep a CronJob pod alive. */
const EXIT_GRACE_MS = 5000;

/**
 * `record`: writes an expectations file (lib/expect/record.ts); read-only, no drill. Loaded only here: a
 * drill does not pay for its modules (and YAML's) at start-up.
 */
async function recordCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  try {
    const { runRecord } = await import('./expect/record-cli.ts');
    const deps = { out: process.stdout, log: streamLogger(process.stderr), now: () => new Date() };
    return await runRecord(args, env, process.cwd(), deps);
  } catch (error) {
    return reportStartError(error);
  }
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv[0] === 'record') return recordCommand(argv.slice(1), env);
  if (argv[0] === 'history') return historyCommand(argv.slice(1), env);
  let config: ReturnType<typeof readConfig>;
  try {
    config = readConfig(argv, env, process.cwd());
  } catch (error) {
    return reportStartError(error);
  }
  if (config.help) {
    process.stdout.write(`${helpText()}\n`);
    return 0;
  }
  const log = streamLogger(process.stderr, logFormatFor(config.logFormat, env));
  try {
    // Before anything starts: a drill that cannot write its verdict has told nobody anything.
    if (!config.cluster) await checkOutputPaths(config);
  } catch (error) {
    return reportStartError(error);
  }
  const controller = stopOnSignals({
    log,
    listen: (signal, handler) => process.on(signal, handler),
    exit: (code) => process.exit(code),
    now: () => performance.now(),
  });
  try {
    if (config.checkOnly) {
      // The daily check (lib/drill/check-only.ts): no server, no vitest; loaded only when asked for.
      const { runCheckOnly } = await import('./drill/check-only.ts');
      const deps = { env, log, out: process.stdout, now: () => new Date(), signal: controller.signal };
      return (await runCheckOnly(config, deps)).exitCode;
    }
    if (config.cluster) return await runInCluster(config, env, controller.signal, log);
    const report = await runDrill(config, {
      env,
      log,
      out: process.stdout,
      err: process.stderr,
      now: () => new Date(),
      signal: controller.signal,
      root: ROOT,
      stderrIsTTY: process.stderr.isTTY === true,
    });
    return report.exitCode;
  } catch (error) {
    return reportStartError(error);
  }
}

/** The CI gate: the drill runs in the cluster as a Job made from its CronJob; its verdict is ours. */
async function runInCluster(
  config: DrillConfig,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal,
  log: Logger,
): Promise<number> {
  // The Kubernetes client is loaded only for the CI gate: it costs a local drill 0.7 s and 70 MB.
  const [{ loadKubeConfig }, { runClusterDrill }] = await Promise.all([
    import('./k8s/kube-config.ts'),
    import('./k8s/ci-gate.ts'),
  ]);
  const { kubeConfig, namespace, context, server } = loadKubeConfig({
    env,
    kubeconfig: config.kubeconfig,
    context: config.context,
    namespace: config.namespace,
  });
  log.info(`CI gate: running cronjob/${config.cronjob} in ${namespace} (context ${context}, ${server})`);
  const result = await runClusterDrill({
    kubeConfig,
    namespace,
    cronJob: config.cronjob,
    ...(config.clusterTimeoutSeconds === undefined ? {} : { timeoutMs: config.clusterTimeoutSeconds * 1000 }),
    log,
    out: process.stdout,
    signal,
  });
  process.stdout.write(`\npg-restore-drill (cluster): ${result.verdict.toUpperCase()}: ${result.message}\n`);
  return result.exitCode;
}

/** `history`: the drills' history, newest first, with the RTO trend (lib/report/history-cli.ts); read-only. */
async function historyCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  try {
    return await runHistory(args, env, { out: process.stdout, log: streamLogger(process.stderr) });
  } catch (error) {
    return reportStartError(error);
  }
}

/** One clear message per failure that stopped the drill before it could report, and its exit code. */
function reportStartError(error: unknown): number {
  if (error instanceof DrillError) {
    process.stderr.write(`pg-restore-drill: ${error.message}\n`);
    return error.exitCode;
  }
  process.stderr.write(
    `pg-restore-drill: unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  return 1;
}

/**
 * A reader of the drill's output that goes away (`npm run drill | head`, a log collector that dies)
 * must not end the drill mid-restore with its work directory left behind and no report: what it
 * proves goes to the report, the exit status and the metrics, none of which need that reader. Writes
 * to a closed pipe are dropped from then on; any other error of the two streams is still thrown.
 */
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
  });
}

main(process.argv.slice(2), process.env).then((code) => {
  process.exitCode = code;
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
});
