import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POSTGRES_IMAGE } from './defaults.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFile(`${ROOT}/${path}`, 'utf8');

/** Every `postgres:X.Y` (optionally `-suite`) a text names, as `X.Y`. */
function postgresReleases(text: string): string[] {
  return [...new Set([...text.matchAll(/\bpostgres:(\d+\.\d+)(?:-[a-z]+)?\b/g)].map((m) => m[1] as string))];
}

describe('the PostgreSQL release the project pins', () => {
  const pinned = /^postgres:(\d+)\.(\d+)$/.exec(DEFAULT_POSTGRES_IMAGE);

  it('is production major 18 by default (--image)', () => {
    expect(pinned?.[1]).toBe('18');
  });

  it("is the Dockerfile's PostgreSQL base, and the README and docs/deploy.md name no other", async () => {
    const release = `${pinned?.[1]}.${pinned?.[2]}`;
    const dockerfile = await read('Dockerfile');
    expect(/^ARG POSTGRES_IMAGE=docker\.io\/library\/postgres:(\d+\.\d+)-\w+$/m.exec(dockerfile)?.[1]).toBe(
      release,
    );
    for (const doc of ['README.md', 'docs/deploy.md']) {
      expect({ doc, releases: postgresReleases(await read(doc)) }).toEqual({ doc, releases: [release] });
    }
  });

  it('is the major of the stand-in the shipped image is built on where no registry is reachable', async () => {
    const standin = await read('scripts/image-standins/postgres.sh');
    expect(/^BASE="\$\{BASE:-localhost\/postgres:(\d+)\}"$/m.exec(standin)?.[1]).toBe(pinned?.[1]);
    expect(await read('scripts/image-standins/postgres.Containerfile')).toMatch(
      new RegExp(`^ARG BASE=localhost/postgres:${pinned?.[1]}$`, 'm'),
    );
  });
});
