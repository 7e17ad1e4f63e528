#!/usr/bin/env node
// Chooses vitest's pool for the drill by measurement (docs/benchmarks.md, "vitest pool"): the
// self-contained drill on a local target (a few-KB backup it makes itself), once per variant in turn,
// ROUNDS rounds, variants alternating so a busy minute hits all of them alike. Per run: wall time from
// spawn to exit, and the peak over /proc samples of the RSS summed over the drill's node processes (the
// CLI and vitest's worker; not psql or the server). Each variant is dist/ with DRILL_PROJECT's pool and
// isolate replaced, copied to .pool-bench/<variant>/ (inside the project, so node_modules resolves);
// `tsx` is the old way (node --import tsx lib/cli.ts, forks). Needs `npm run build` first and the
// PostgreSQL binaries on PATH.
//
//   node scripts/vitest-pool-bench.mjs [ROUNDS=5] [VARIANT...]
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ALL = ['forks', 'forks-isolate', 'threads', 'threads-isolate', 'vmThreads', 'vmForks', 'tsx'];
const rounds = Number(process.argv[2] ?? 5);
const variants = process.argv.length > 3 ? process.argv.slice(3) : ALL;

async function prepare(variant) {
  if (variant === 'tsx') return ['--import', 'tsx', 'lib/cli.ts'];
  const [pool, isolate] = variant.split('-');
  const dir = join(ROOT, '.pool-bench', variant);
  await rm(dir, { recursive: true, force: true });
  await cp(join(ROOT, 'dist'), dir, { recursive: true });
  const file = join(dir, 'lib/drill/run-specs.js');
  const source = await readFile(file, 'utf8');
  const patched = source
    .replace(/pool: '[A-Za-z]+'/, `pool: '${pool}'`)
    .replace(/isolate: (true|false)/, `isolate: ${isolate === 'isolate'}`);
  if (!patched.includes(`pool: '${pool}'`)) throw new Error(`no pool in ${file}`);
  await writeFile(file, patched);
  return [join('.pool-bench', variant, 'lib/cli.js')];
}

async function read(path) {
  return readFile(path, 'utf8').catch(() => '');
}

/**
 * Sum of VmRSS (kB) over the node processes in the tree below `root`, walked through
 * /proc/PID/task/TID/children (every thread's: a worker thread's spawns are listed under it).
 */
async function treeRss(root) {
  let total = 0;
  for (let level = [String(root)]; level.length > 0; ) {
    const next = [];
    for (const pid of level) {
      const status = await read(`/proc/${pid}/status`);
      if (/^Name:\s+node$/m.test(status)) total += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      const tasks = await readdir(`/proc/${pid}/task`).catch(() => []);
      for (const tid of tasks)
        next.push(...(await read(`/proc/${pid}/task/${tid}/children`)).split(' ').filter(Boolean));
    }
    level = next;
  }
  return total;
}

async function runOnce(args) {
  const reports = await mkdtemp(join(tmpdir(), 'pool-bench-'));
  const times = join(reports, 'time');
  const started = performance.now();
  // /usr/bin/time: the CPU seconds of the drill and every process it waited for (less noisy than wall
  // time on a shared machine).
  const child = spawn(
    '/usr/bin/time',
    [
      '-f',
      '%U %S',
      '-o',
      times,
      process.execPath,
      ...args,
      '--target',
      'local',
      '--progress',
      'off',
      '--report-dir',
      join(reports, 'r'),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const exited = new Promise((done) => child.on('close', (code) => done(code)));
  let running = true;
  let peak = 0;
  void exited.then(() => (running = false));
  while (running) {
    peak = Math.max(peak, await treeRss(child.pid));
    await new Promise((r) => setTimeout(r, 20));
  }
  const code = await exited;
  const wall = (performance.now() - started) / 1000;
  const [user, sys] = (await readFile(times, 'utf8')).trim().split(/\s+/).slice(-2).map(Number);
  await rm(reports, { recursive: true, force: true });
  if (code !== 0 || !/PASSED/.test(out)) throw new Error(`drill exited ${code}:\n${out}`);
  return { wall, cpu: user + sys, peakMb: peak / 1024 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const commands = Object.fromEntries(await Promise.all(variants.map(async (v) => [v, await prepare(v)])));
const results = Object.fromEntries(variants.map((v) => [v, []]));
for (let round = 1; round <= rounds; round++) {
  for (const variant of variants) {
    const r = await runOnce(commands[variant]);
    results[variant].push(r);
    process.stderr.write(
      `round ${round} ${variant}: ${r.wall.toFixed(2)} s, CPU ${r.cpu.toFixed(2)} s, ${r.peakMb.toFixed(0)} MB\n`,
    );
  }
}
console.log(
  '| variant | wall s, median (min–max) | CPU s, median (min–max) | peak RSS MB, median (min–max) |',
);
console.log('|---|---|---|---|');
const cell = (xs, digits) =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
for (const variant of variants) {
  const rs = results[variant];
  const row = [
    cell(
      rs.map((r) => r.wall),
      2,
    ),
    cell(
      rs.map((r) => r.cpu),
      2,
    ),
    cell(
      rs.map((r) => r.peakMb),
      0,
    ),
  ];
  console.log(`| ${variant} | ${row.join(' | ')} |`);
}
await rm(join(ROOT, '.pool-bench'), { recursive: true, force: true });
