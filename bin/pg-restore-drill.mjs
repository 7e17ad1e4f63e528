#!/usr/bin/env node
// Runs the CLI as it ships: JavaScript compiled by tsc into dist/ (`npm run build`, which `npm ci` runs
// as `prepare`). No TypeScript compiler at run time.
import { access } from 'node:fs/promises';

const cli = new URL('../dist/lib/cli.js', import.meta.url);
try {
  await access(cli);
} catch {
  process.stderr.write(
    `pg-restore-drill: ${cli.pathname} is missing: build it with \`npm run build\` (\`npm ci\` does it too)\n`,
  );
  process.exit(2);
}
await import(cli.href);
