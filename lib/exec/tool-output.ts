import { Writable } from 'node:stream';
import { type PgVersion, parseVersion } from '../pg/version.ts';
import type { Executor, PgTool } from './executor.ts';

/** A sink that keeps what a tool writes, for the small outputs we read whole (versions, test SQL). */
export function collector(): { sink: Writable; text(): string } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  return { sink, text: () => Buffer.concat(chunks).toString('utf8') };
}

/** A tool's version as it will run (`psql --version`), whichever executor runs it. */
export async function toolVersionVia(run: Executor['run'], tool: PgTool): Promise<PgVersion | undefined> {
  const out = collector();
  const result = await run(tool, ['--version'], { stdout: out.sink }).catch(() => undefined);
  if (result?.exitCode !== 0) return undefined;
  return versionFromBanner(out.text());
}

/** `psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` → 15.18. */
export function versionFromBanner(banner: string): PgVersion | undefined {
  const text = /\(PostgreSQL\)\s+(\S+)/.exec(banner)?.[1];
  return text ? parseVersion(text) : undefined;
}
