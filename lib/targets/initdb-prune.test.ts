import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INITDB_CACHE_FORMAT, MANIFEST } from './initdb-cache.ts';
import { PRUNE_UNUSED_DAYS, pruneTemplates, touchTemplate } from './initdb-prune.ts';

const DAY = 24 * 60 * 60 * 1000;
const now = new Date('2026-12-02T03:00:00Z');
let cache: string;

/** A template directory as fillTemplate publishes one, its manifest last used `daysAgo`. */
async function template(
  name: string,
  daysAgo: number,
  manifest: unknown = { facts: { format: INITDB_CACHE_FORMAT } },
) {
  const dir = join(cache, name);
  await mkdir(join(dir, 'data'), { recursive: true });
  await writeFile(join(dir, 'data', 'PG_VERSION'), '15\n');
  await writeFile(join(dir, MANIFEST), JSON.stringify(manifest));
  const at = new Date(now.getTime() - daysAgo * DAY);
  await utimes(join(dir, MANIFEST), at, at);
  return dir;
}

beforeEach(async () => {
  cache = await mkdtemp(join(tmpdir(), 'initdb-prune-'));
});
afterEach(async () => {
  await rm(cache, { recursive: true, force: true });
});

describe('pruneTemplates', () => {
  it(`removes other keys' templates no run used for ${PRUNE_UNUSED_DAYS} days, with their spares, and nothing else`, async () => {
    await template('15.17-old', PRUNE_UNUSED_DAYS + 1);
    await mkdir(join(cache, '15.17-old.spare-0a1b2c'));
    await template('15.18-current', PRUNE_UNUSED_DAYS + 5); // the run's own key: never, however old
    await template('15.18-recent', PRUNE_UNUSED_DAYS - 1);
    await template('not-ours', PRUNE_UNUSED_DAYS + 9, { something: 'else' });
    await mkdir(join(cache, 'no-manifest'));
    await writeFile(join(cache, 'notes.txt'), 'the operator keeps this here');
    await mkdir(join(cache, '15.16-filling.tmp-abc123'));

    expect(await pruneTemplates(cache, '15.18-current', now)).toEqual(['15.17-old']);
    expect((await readdir(cache)).sort()).toEqual(
      [
        '15.16-filling.tmp-abc123',
        '15.18-current',
        '15.18-recent',
        'no-manifest',
        'not-ours',
        'notes.txt',
      ].sort(),
    );
  });

  it('keeps a template a run touched: touchTemplate makes it used now', async () => {
    const old = await template('15.17-old', PRUNE_UNUSED_DAYS + 1);
    await touchTemplate(old, now);
    expect((await stat(join(old, MANIFEST))).mtimeMs).toBe(now.getTime());
    expect(await pruneTemplates(cache, '15.18-current', now)).toEqual([]);
  });

  it('never throws: a cache that is not there prunes nothing', async () => {
    expect(await pruneTemplates(join(cache, 'absent'), 'x', now)).toEqual([]);
    await touchTemplate(join(cache, 'absent'), now);
  });
});
