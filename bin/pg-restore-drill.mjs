#!/usr/bin/env node
// Runs the CLI as it ships: JavaScript compiled by tsc into dist/ and joined into dist/bundle/ (`npm run
// build`, which `npm ci` runs as `prepare`; scripts/bundle.mjs). No TypeScript compiler at run time.
import { access } from 'node:fs/promises';
import { setFlagsFromString } from 'node:v8';

// V8's young generation at 1 MB semi-spaces instead of up to 16 MB: the restore streams the backup through
// the vitest worker thread, whose young generation otherwise grows to tens of MB (peak RSS at 100 MB of
// SQL: 190 MB without, 155 MB with; docs/benchmarks.md). Set here, it applies to the worker thread,
// created later; the main thread's heap is configured before this line runs, so `npm run drill` passes
// the same flag on node's command line, where it applies to both (147 MB). MALLOC_ARENA_MAX=2 (the
// image's ENV, the CronJob's env, `npm run drill`) cannot be set from here: glibc reads it as node starts.
setFlagsFromString('--max-semi-space-size=1');

const cli = new URL('../dist/bundle/cli.js', import.meta.url);
try {
  await access(cli);
} catch {
  process.stderr.write(
    `pg-restore-drill: ${cli.pathname} is missing: build it with \`npm run build\` (\`npm ci\` does it too)\n`,
  );
  process.exit(2);
}
await import(cli.href);
