#!/usr/bin/env node
// The second half of `npm run build`: tsc has compiled lib/ and drills/ to dist/ (one file per module);
// this joins what the CLI runs into dist/bundle/ with esbuild, which only concatenates tsc's JavaScript
// (no other compiler, no minifying). Why: node's ESM loader pays for every module it resolves, reads and
// links, and the drill loads its modules twice, once in the CLI's main thread and once in vitest's
// worker thread, about 60 and 90 modules. Joined, a self-contained drill's node process spends about a
// quarter of a second less CPU (docs/benchmarks.md, "Start-up").
//
//   dist/bundle/cli.js              the CLI (bin/pg-restore-drill.mjs, `npm run drill`)
//   dist/bundle/<name>.drill.js     each drill spec's modules
//   dist/bundle/chunk-*.js          what they share, and what the CLI imports only when it needs it (a
//                                   target, a subcommand): a dynamic import stays one, so a local drill
//                                   never loads @kubernetes/client-node or testcontainers
//   dist/drills/<name>.drill.js     rewritten to one line importing its bundle: vitest still finds and
//                                   names the spec there, and loads the bundle natively (run-specs.ts)
// Packages stay outside (node_modules, as installed), and so does the `vitest` the spec imports: the one
// instance the runner uses.
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');
const OUT = join(DIST, 'bundle');

const STUB = 'vitest runs this file.';
const specs = (await readdir(join(DIST, 'drills'))).filter((name) => name.endsWith('.drill.js'));
if (specs.length === 0)
  throw new Error('no dist/drills/*.drill.js: run `npm run build` (tsc compiles them first)');
for (const name of specs) {
  if ((await readFile(join(DIST, 'drills', name), 'utf8')).includes(STUB))
    throw new Error(
      `dist/drills/${name} is already joined: run \`npm run build\`, which compiles afresh first`,
    );
}
const entryPoints = {
  cli: join(DIST, 'lib', 'cli.js'),
  ...Object.fromEntries(specs.map((name) => [name.replace(/\.js$/, ''), join(DIST, 'drills', name)])),
};

await rm(OUT, { recursive: true, force: true });
await build({
  entryPoints,
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  packages: 'external',
  chunkNames: 'chunk-[hash]',
  // Maps through tsc's own to the TypeScript source (node --enable-source-maps).
  sourcemap: true,
  logLevel: 'warning',
});
for (const name of specs) {
  const stub = join(DIST, 'drills', name);
  const target = relative(join(DIST, 'drills'), join(OUT, name));
  await writeFile(
    stub,
    `// The spec's modules are joined in ${target} (scripts/bundle.mjs); ${STUB}\nimport '${target}';\n`,
  );
}
