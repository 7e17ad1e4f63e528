#!/usr/bin/env node
// What the drill's restore path costs in the drill's own process (docs/benchmarks.md, "Reading the
// figures"): a plain backup streamed through the restore's stages exactly as a one-pass cluster restore
// runs them (gunzip, the integrity watch, the SQL count, with --deep the COPY digests, the globals
// filter) into `cat > /dev/null` instead of psql, so no server and no psql share the measurement.
// Prints the wall time and the CPU of this process (user + system, zlib's threads included), which a
// busy machine inflates far less than wall time. Run it from a tree built with `npm run build`; to
// compare two trees, run each tree's copy in turn, alternating.
//
//   node scripts/restore-feed-cpu.mjs FILE.sql.gz [--deep] [RUNS=1]
import { createReadStream, readFileSync, statSync } from 'node:fs';

const args = process.argv.slice(2);
const deep = args.includes('--deep');
const [file, runsText = '1'] = args.filter((a) => a !== '--deep');
if (!file) {
  process.stderr.write('usage: node scripts/restore-feed-cpu.mjs FILE.sql.gz [--deep] [RUNS]\n');
  process.exit(2);
}
const dist = new URL('../dist/lib/', import.meta.url);
const { restorePlainDump } = await import(new URL('restore/psql-restore.js', dist).href);
const { runProcess } = await import(new URL('exec/host.js', dist).href);
const { integrityWatch } = await import(new URL('backups/integrity-watch.js', dist).href);
const { copyDigest } = await import(new URL('dump/copy-digest.js', dist).href);

// Stands in for psql: reads its stdin to the end, as fast as the pipe allows.
const sink = {
  where: 'host (cat)',
  readsHostPaths: true,
  run: (_tool, _args, options) =>
    runProcess('/bin/sh', ['-c', 'cat > /dev/null'], { PATH: process.env.PATH }, options),
  toolVersion: async () => '',
};

for (let run = 1; run <= Number(runsText); run++) {
  const sizeBytes = statSync(file).size;
  const watch = integrityWatch(
    { path: file, sizeBytes, compression: 'gzip', format: 'plain' },
    { requirements: false },
  );
  let feedError;
  const tap = deep ? copyDigest() : undefined;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const fed = await restorePlainDump({
    executor: sink,
    source: createReadStream(file),
    compression: 'gzip',
    timeoutMs: 24 * 3600 * 1000,
    clock: () => performance.now(),
    tap,
    watch: {
      gunzip: watch.gunzip,
      sql: watch.sql,
      end: watch.end,
      settled: (error) => {
        feedError = error;
      },
    },
    kind: 'pg_dumpall',
    database: 'postgres',
    bootstrapRole: 'postgres',
  });
  const used = process.cpuUsage(cpu);
  const verdict = watch.verdict(feedError);
  const wall = (performance.now() - started) / 1000;
  process.stdout.write(
    `run ${run}${deep ? ' --deep' : ''}: ${fed.sqlBytes} bytes of SQL, wall ${wall.toFixed(2)} s, CPU user ${(used.user / 1e6).toFixed(2)} s + system ${(used.system / 1e6).toFixed(2)} s, backup ${verdict?.ok ? 'whole' : 'NOT proven whole'}${tap ? `, ${tap.digests.length} table digest(s)` : ''}, load ${readFileSync('/proc/loadavg', 'utf8').split(' ', 3).join(' ')}\n`,
  );
}
