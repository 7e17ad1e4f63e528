import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from '../../lib/targets/local.ts';
import { executableMissing } from './engine-skip.ts';

// Starts a real Pushgateway on a free loopback port for tests; no traffic leaves 127.0.0.1.

export const PUSHGATEWAY_BIN = '/usr/bin/prometheus-pushgateway';

export function hasPushgateway(bin = PUSHGATEWAY_BIN): boolean {
  try {
    accessSync(bin, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Why the Pushgateway cannot run here, or undefined when it can (for engineSkip). */
export function pushgatewayMissing(bin = PUSHGATEWAY_BIN): string | undefined {
  return executableMissing(bin, 'install the Debian package prometheus-pushgateway');
}

export { freePort };

export interface RunningPushgateway {
  url: string;
  stop(): Promise<void>;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const killTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(killTimer);
}

/**
 * A user the Pushgateway's `--web.config.file` requires (its real basic auth, answering 401 itself).
 * `hash` is the bcrypt hash of `password` that the config file holds.
 */
export interface PushgatewayUser {
  user: string;
  password: string;
  hash: string;
}

/** A test-only user: the bcrypt hash (cost 4, the least bcrypt takes) is of `password`. */
export const TEST_PUSHGATEWAY_USER: PushgatewayUser = {
  user: 'drill',
  password: 'drill-test-s:cret',
  hash: '$2b$04$uPknrdfxnvF0UfiZu1Zwh.eMNuQzNTcaAyH/XkKQQsf2zHdFBWnX.',
};

/** The basic-auth header of `user`, for scrapes of a gateway that requires it. */
export function basicAuth(user: PushgatewayUser): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user.user}:${user.password}`).toString('base64')}` };
}

async function waitReady(
  url: string,
  child: ChildProcess,
  output: () => string,
  timeoutMs: number,
  headers: Record<string, string>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `pushgateway exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output()}`,
      );
    }
    try {
      const response = await fetch(`${url}/-/ready`, { headers, signal: AbortSignal.timeout(1000) });
      await response.text();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await delay(100);
  }
  throw new Error(`pushgateway at ${url} was not ready within ${timeoutMs} ms:\n${output()}`);
}

async function startOnce(
  bin: string,
  readyTimeoutMs: number,
  user: PushgatewayUser | undefined,
): Promise<RunningPushgateway> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // An empty persistence file keeps the state in memory only, so every test run starts clean.
  const args = [`--web.listen-address=127.0.0.1:${port}`, '--persistence.file=', '--log.level=warn'];
  let configDir: string | undefined;
  if (user !== undefined) {
    configDir = await mkdtemp(join(tmpdir(), 'drill-pushgateway-'));
    const config = join(configDir, 'web.yml');
    await writeFile(config, `basic_auth_users:\n  ${user.user}: '${user.hash}'\n`, { mode: 0o600 });
    args.push(`--web.config.file=${config}`);
  }
  const removeConfig = async () => {
    if (configDir !== undefined) await rm(configDir, { recursive: true, force: true });
  };
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  try {
    await spawned;
    await waitReady(url, child, () => output, readyTimeoutMs, user === undefined ? {} : basicAuth(user));
  } catch (error) {
    await stopChild(child);
    await removeConfig();
    throw error;
  }
  return {
    url,
    stop: async () => {
      await stopChild(child);
      await removeConfig();
    },
  };
}

/**
 * Starts the Pushgateway, retrying on a fresh port if another process took the chosen one: it then
 * exits (address already in use), or, where the taker listens on the same address first and never
 * answers HTTP (a black-hole peer of another test), it is never seen ready.
 */
export async function startPushgateway(
  options: { bin?: string; readyTimeoutMs?: number; user?: PushgatewayUser } = {},
): Promise<RunningPushgateway> {
  const bin = options.bin ?? PUSHGATEWAY_BIN;
  let lastError: unknown;
  for (let tries = 0; tries < 3; tries++) {
    try {
      return await startOnce(bin, options.readyTimeoutMs ?? 10_000, options.user);
    } catch (error) {
      lastError = error;
      const taken = ['address already in use', 'was not ready within'];
      if (!(error instanceof Error && taken.some((text) => error.message.includes(text)))) break;
    }
  }
  throw lastError;
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_, char: string) => (char === 'n' ? '\n' : char));
}

/** Parses the Prometheus text exposition format (the samples only). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (match === null) throw new Error(`unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(LABEL_PAIR)) {
      labels[pair[1] ?? ''] = unescapeLabel(pair[2] ?? '');
    }
    samples.push({ name: match[1] ?? '', labels, value: Number(match[3]) });
  }
  return samples;
}

/** Scrapes the Pushgateway and returns the samples whose labels include all of `labels`. */
export async function scrapeGroup(
  url: string,
  labels: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Sample[]> {
  const response = await fetch(`${url}/metrics`, { headers, signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`scraping ${url}/metrics answered HTTP ${response.status}`);
  const samples = parseExposition(await response.text());
  return samples.filter((sample) =>
    Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
}
