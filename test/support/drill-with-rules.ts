// The CLI's drill with allow rules handed in directly (JSON in TEST_ALLOW_RULES), for tests of the
// restore's allow rules that do not depend on how the expectations file carries them.
import { fileURLToPath } from 'node:url';
import { readConfig } from '../../lib/config.ts';
import { runDrill } from '../../lib/drill/run-drill.ts';
import { streamLogger } from '../../lib/log.ts';
import type { AllowRule } from '../../lib/restore/allowed-errors.ts';

const config = readConfig(process.argv.slice(2), process.env, process.cwd());
config.allowedErrors = JSON.parse(process.env.TEST_ALLOW_RULES ?? '[]') as AllowRule[];
const report = await runDrill(config, {
  env: process.env,
  log: streamLogger(process.stderr),
  out: process.stdout,
  err: process.stderr,
  now: () => new Date(),
  signal: new AbortController().signal,
  root: fileURLToPath(new URL('../..', import.meta.url)),
  stderrIsTTY: false,
});
process.exit(report.exitCode);
