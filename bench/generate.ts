import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatBackupName, parseBackupPattern } from '../lib/backups/naming.ts';
import { seedCanary } from '../lib/drill/seed.ts';
import { libpqEnv } from '../lib/exec/host.ts';
import { withClient } from '../lib/pg/databases.ts';
import type { StartedTarget } from '../lib/targets/target.ts';
import { startTestCluster } from '../test/support/cluster.ts';
import { runChild, tailLines } from './child.ts';
import { CANARY_SIZE, sizeLabel } from './options.ts';
import { sqlSize } from './results.ts';

/** Bumped whenever the generated data changes: cached backups of another version are made again. */
const GENERATOR_VERSION = 2;
/** Measured: one `orders` row (and its share of `customers`) is about this many bytes of dump SQL. */
const SQL_BYTES_PER_ORDER = 105;
const ORDERS_PER_CUSTOMER = 50;
const MANIFEST = 'bench-backups.json';
/** The application database of the generated cluster (beside the canary backup_test). */
export const APP_DATABASE = 'shop';

export type BenchFormat = 'plain' | 'custom';

/** One generated backup, alone in its directory (what the drill gets as --backups). */
export interface BenchBackup {
  sizeMb: number;
  format: BenchFormat;
  /** plain: gzip level; custom: pg_dump's default compression. */
  gzipLevel: number | 'default';
  dir: string;
  file: string;
  fileBytes: number;
  /** Uncompressed SQL (plain backups: the gzip trailer's length). */
  sqlBytes: number | undefined;
  orders: number;
  /** Time to dump (and compress) this backup. */
  dumpSeconds: number;
}

interface Manifest {
  generator: number;
  backups: BenchBackup[];
}

export interface GenerateOptions {
  /** Where the backups live: --keep-files, or a temp dir removed afterwards. */
  root: string;
  sizesMb: number[];
  archiveSizeMb: number | undefined;
  gzipLevel: number;
  binDir: string;
  signal: AbortSignal;
  log: (message: string) => void;
}

/**
 * Makes the backups the bench needs (reusing those already in `root` from an earlier run of the same
 * generator): a cluster with the canary and one application database filled to each size, dumped as the
 * CronJob does (`pg_dumpall | gzip`), and `pg_dump -Fc` of the archive size. The application database is
 * dropped after its dumps, and the cluster stopped before any restore is measured.
 */
export async function prepareBackups(options: GenerateOptions): Promise<BenchBackup[]> {
  const manifest = await readManifest(options.root);
  const wanted: { sizeMb: number; format: BenchFormat; gzipLevel: number | 'default' }[] = [];
  for (const sizeMb of options.sizesMb) {
    wanted.push({ sizeMb, format: 'plain', gzipLevel: options.gzipLevel });
    if (sizeMb === options.archiveSizeMb) wanted.push({ sizeMb, format: 'custom', gzipLevel: 'default' });
  }
  const ready: BenchBackup[] = [];
  const missing: typeof wanted = [];
  for (const want of wanted) {
    const cached = manifest.backups.find(
      (b) => b.sizeMb === want.sizeMb && b.format === want.format && b.gzipLevel === want.gzipLevel,
    );
    if (cached && (await stat(cached.file).catch(() => undefined))?.size === cached.fileBytes) {
      options.log(`reusing ${cached.file}`);
      ready.push(cached);
    } else {
      missing.push(want);
    }
  }
  if (missing.length === 0) return ready;

  const started = performance.now();
  const generator = await startTestCluster();
  // A long INSERT does not heed the signal: stopping the server under it does.
  const stopOnAbort = () => void generator.stop().catch(() => {});
  options.signal.addEventListener('abort', stopOnAbort, { once: true });
  try {
    await seedCanary(generator.handle, 'backup_test');
    for (const sizeMb of [...new Set(missing.map((m) => m.sizeMb))]) {
      // The canary size has no application database: its backup is the canary alone.
      const orders = Math.round((sizeMb * 1e6) / SQL_BYTES_PER_ORDER);
      if (sizeMb !== CANARY_SIZE) {
        const loadStart = performance.now();
        await loadAppDatabase(generator, orders);
        options.log(`${sizeLabel(sizeMb)}: ${orders} orders loaded in ${secondsSince(loadStart)} s`);
      }
      for (const want of missing.filter((m) => m.sizeMb === sizeMb)) {
        const backup = await dump(generator, options, want.sizeMb, want.format, want.gzipLevel, orders);
        options.log(
          `${sizeLabel(sizeMb)}: ${backup.file} (${sqlSize(backup.fileBytes)}${backup.sqlBytes ? ` of ${sqlSize(backup.sqlBytes)} SQL` : ''}) in ${backup.dumpSeconds.toFixed(1)} s`,
        );
        ready.push(backup);
        manifest.backups = [
          ...manifest.backups.filter((b) => !(b.sizeMb === sizeMb && b.format === want.format)),
          backup,
        ];
        await writeFile(join(options.root, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
      }
      if (sizeMb !== CANARY_SIZE) {
        await withClient(generator.handle.connection, 'postgres', (c) =>
          c.query(`DROP DATABASE ${APP_DATABASE}`),
        );
      }
    }
  } finally {
    options.signal.removeEventListener('abort', stopOnAbort);
    await generator.stop();
  }
  options.log(`backups generated in ${secondsSince(started)} s`);
  return ready;
}

/** `shop`: customers and orders with ints, text, numeric and timestamps, keys, an index and a sequence. */
async function loadAppDatabase(generator: StartedTarget, orders: number): Promise<void> {
  const customers = Math.max(100, Math.round(orders / ORDERS_PER_CUSTOMER));
  const { connection } = generator.handle;
  await withClient(connection, 'postgres', (c) => c.query(`CREATE DATABASE ${APP_DATABASE}`));
  // Keys and indexes after the rows: the load is then one pass, as a restore does it.
  await withClient(connection, APP_DATABASE, (c) =>
    c.query(`
CREATE TABLE customers (
  id integer PRIMARY KEY,
  name text NOT NULL,
  email text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE orders (
  id bigint GENERATED BY DEFAULT AS IDENTITY,
  customer_id integer NOT NULL,
  sku text NOT NULL,
  status text NOT NULL,
  amount numeric(12, 2) NOT NULL,
  quantity integer NOT NULL,
  ordered_at timestamptz NOT NULL,
  note text
);
INSERT INTO customers
SELECT g, 'customer ' || g, 'c' || g || '.' || left(md5(g::text), 8) || '@example.com',
       timestamptz '2020-01-01 00:00:00+00' + g * interval '17 minutes'
FROM generate_series(1, ${customers}) AS g;
INSERT INTO orders (id, customer_id, sku, status, amount, quantity, ordered_at, note)
SELECT g, 1 + (g::bigint * 7919) % ${customers}, 'SKU-' || lpad(((g::bigint * 37) % 100000)::text, 6, '0'),
       (ARRAY['new', 'paid', 'shipped', 'delivered', 'cancelled'])[1 + g % 5],
       round((random() * 5000)::numeric, 2), 1 + g % 9,
       timestamptz '2023-01-01 00:00:00+00' + random() * interval '700 days',
       CASE WHEN g % 10 = 0 THEN NULL
            ELSE (ARRAY['leave at the door', 'gift wrap, no invoice in the parcel', 'call before delivery',
                        'fragile', 'express shipping', 'deliver to the back entrance'])[1 + g % 6]
                 || ' (ref ' || left(md5(g::text), 10) || ')' END
FROM generate_series(1, ${orders}) AS g;
ALTER TABLE orders ADD PRIMARY KEY (id);
ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
CREATE INDEX orders_ordered_at_idx ON orders (ordered_at);
SELECT setval(pg_get_serial_sequence('orders', 'id'), ${orders});
`),
  );
}

/** `pg_dumpall | gzip -N` as the CronJob runs it (with pipefail), or `pg_dump -Fc` of the app database. */
async function dump(
  generator: StartedTarget,
  options: GenerateOptions,
  sizeMb: number,
  format: BenchFormat,
  gzipLevel: number | 'default',
  orders: number,
): Promise<BenchBackup> {
  const dir = join(options.root, `${format}-${sizeMb}mb`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const name = formatBackupName(
    parseBackupPattern('postgres-backup-{timestamp}', 'YYYY-MM-DD-HHmmss'),
    new Date(),
  );
  const file = join(dir, format === 'plain' ? name : name.replace(/\.sql\.gz$/, '.dump'));
  const env = libpqEnv(generator.handle.connection, process.env);
  const result =
    format === 'plain'
      ? await runChild(
          'bash',
          [
            '-c',
            'set -o pipefail; "$0" -w | gzip -"$1" > "$2"',
            join(options.binDir, 'pg_dumpall'),
            String(gzipLevel),
            file,
          ],
          { env, signal: options.signal, stopSignal: 'SIGTERM' },
        )
      : await runChild(join(options.binDir, 'pg_dump'), ['-w', '-Fc', '-d', APP_DATABASE, '-f', file], {
          env,
          signal: options.signal,
          stopSignal: 'SIGTERM',
        });
  if (result.exitCode !== 0) {
    throw new Error(
      `dumping ${file} failed (exit ${result.exitCode ?? result.signal}): ${tailLines(result.stderr)}`,
    );
  }
  const fileBytes = (await stat(file)).size;
  return {
    sizeMb,
    format,
    gzipLevel,
    dir,
    file,
    fileBytes,
    sqlBytes: format === 'plain' ? await gzipLength(file) : undefined,
    orders,
    dumpSeconds: result.seconds,
  };
}

/** The uncompressed length from the gzip trailer (ISIZE, modulo 2^32: the bench stays below 4 GB). */
async function gzipLength(file: string): Promise<number> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const trailer = Buffer.alloc(4);
    await handle.read(trailer, 0, 4, size - 4);
    return trailer.readUInt32LE(0);
  } finally {
    await handle.close();
  }
}

async function readManifest(root: string): Promise<Manifest> {
  const text = await readFile(join(root, MANIFEST), 'utf8').catch(() => undefined);
  const parsed = text ? (JSON.parse(text) as Manifest) : undefined;
  return parsed?.generator === GENERATOR_VERSION ? parsed : { generator: GENERATOR_VERSION, backups: [] };
}

function secondsSince(start: number): string {
  return ((performance.now() - start) / 1000).toFixed(1);
}
