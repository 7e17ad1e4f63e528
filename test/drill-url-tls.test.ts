/**
 * `--target url` over TLS, as --database-url's sslmode says: a live server that takes TCP sessions only
 * over TLS (pg_hba `hostnossl … reject`) is drilled with `?sslmode=require` and with `verify-full` against
 * its root certificate, every session of the drill (its own clients and psql) encrypted. Without sslmode
 * it is refused as any plain client is; a parameter the drill does not read, an unknown mode or a root
 * certificate that is not there stop it before any work, exit 2, naming it. `?sslmode=` was dropped
 * without a word before: the drill's own sessions went in plain text, the password with them.
 */
import { execFileSync } from 'node:child_process';
import { chown, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seedCanary } from '../lib/drill/seed.ts';
import { dumpAll, psql, writeBackup } from './support/cluster.ts';
import { drillSetup } from './support/drill-setup.ts';
import { type LiveServer, postgresOsUser, startLiveServer } from './support/live-server.ts';
import { readReport, runCli } from './support/run-cli.ts';

/** A self-signed certificate for 127.0.0.1 (its own root), key and certificate in `dir`. */
function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1'],
      ...['-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

let server: LiveServer;
let root: { cert: string; key: string };
let stranger: { cert: string; key: string };

const setup = drillSetup<LiveServer>('drill-url-tls-', {
  start: async () => {
    server = await startLiveServer();
    return server;
  },
  seed: async (handle) => {
    await seedCanary(handle, 'backup_test');
    root = selfSigned(server.dir, 'server');
    stranger = selfSigned(server.dir, 'stranger');
    const runAs = process.getuid?.() === 0 ? await postgresOsUser() : undefined;
    if (runAs) for (const file of [root.cert, root.key]) await chown(file, runAs.uid, runAs.gid);
    for (const setting of ['ssl = on', `ssl_cert_file = '${root.cert}'`, `ssl_key_file = '${root.key}'`])
      await psql(handle, 'postgres', `ALTER SYSTEM SET ${setting}`);
    // TCP only over TLS; the socket (the test's own setup) as before.
    await writeFile(
      join(server.dir, 'data', 'pg_hba.conf'),
      [
        'local all all trust',
        'hostssl all all 127.0.0.1/32 scram-sha-256',
        'hostnossl all all 127.0.0.1/32 reject',
      ].join('\n'),
    );
    await psql(handle, 'postgres', 'SELECT pg_reload_conf()');
  },
});

async function drill(query: string) {
  const backups = await setup.freshDir('backups');
  await writeBackup(backups, '2026-11-21-030000', setup.goodDump ?? (await dumpAll(server.handle)));
  const reports = await setup.freshDir('reports');
  const run = await runCli(
    [
      '--target',
      'url',
      '--mode',
      'canary-copy',
      '--backups',
      backups,
      '--progress',
      'off',
      '--report-dir',
      reports,
    ],
    { ...server.cliEnv, DATABASE_URL: `${server.cliEnv.DATABASE_URL}${query}` },
  );
  return { ...run, report: await readReport(reports).catch(() => undefined) };
}

describe('--target url over TLS', () => {
  it.each([
    ['?sslmode=require', () => '?sslmode=require'],
    ['?sslmode=verify-full&sslrootcert=<its root>', () => `?sslmode=verify-full&sslrootcert=${root.cert}`],
  ])('%s: passes, every session encrypted', async (_, query) => {
    const { code, stdout, stderr, report } = await drill(query());
    expect(report?.verdict, `${stdout}\n${stderr}`).toBe('passed');
    expect(code).toBe(0);
    // The server refuses plain TCP: every session the drill opened (its clients, psql) was TLS.
    expect(`${stdout}\n${stderr}`).not.toMatch(/no pg_hba\.conf entry .* no encryption/);
  });

  it('without sslmode: refused by the server, as any plain client', async () => {
    const { code, stdout, stderr } = await drill('');
    expect(code).toBe(2);
    expect(`${stdout}\n${stderr}`).toMatch(/no encryption/);
  });

  it('verify-full against another root certificate: refused, naming the certificate check', async () => {
    const { code, stdout, stderr } = await drill(`?sslmode=verify-full&sslrootcert=${stranger.cert}`);
    expect(code).toBe(2);
    expect(`${stdout}\n${stderr}`).toMatch(/self[- ]signed certificate|unable to verify|certificate/i);
  });

  it.each([
    ['?options=-c%20x=1&foo=bar', /names \?options=, \?foo=, which the drill does not read/],
    [
      '?sslmode=required',
      /Expected --database-url \?sslmode= to be one of disable, allow, prefer, require, verify-ca, verify-full, got `required`/,
    ],
    ['?sslmode=verify-ca&sslrootcert=/nonexistent/root.crt', /\/nonexistent\/root\.crt cannot be read/],
  ])('%s: exit 2 before any work, naming it', async (query, said) => {
    const { code, stdout, stderr, report } = await drill(query);
    expect(`${stdout}\n${stderr}`).toMatch(said);
    expect(code).toBe(2);
    expect(report?.checks ?? []).toEqual([]);
  });
});
