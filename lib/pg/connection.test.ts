import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { thrown } from '../../test/support/thrown.ts';
import { ConfigError } from '../errors.ts';
import { connectionFromUrl } from './connection.ts';
import { pgSsl } from './databases.ts';

const refusal = (fn: () => unknown) => thrown(fn) as ConfigError;

describe('connectionFromUrl: TLS and the URL parameters', () => {
  it('reads sslmode from the URL, else PGSSLMODE; none: no TLS', () => {
    expect(connectionFromUrl('postgres://u@db:5433/app?sslmode=require', {}).tls).toEqual({
      mode: 'require',
    });
    expect(connectionFromUrl('postgres://u@db/app', { PGSSLMODE: 'disable' }).tls).toEqual({
      mode: 'disable',
    });
    expect(connectionFromUrl(undefined, { PGHOST: 'db', PGSSLMODE: 'prefer' }).tls).toEqual({
      mode: 'prefer',
    });
    expect(connectionFromUrl('postgres://u@db/app', {}).tls).toBeUndefined();
    // The URL wins over the variable.
    expect(connectionFromUrl('postgres://u@db/app?sslmode=require', { PGSSLMODE: 'disable' }).tls?.mode).toBe(
      'require',
    );
  });

  it('refuses a parameter it does not read, or an unknown mode, naming them (no password shown)', () => {
    const error = refusal(() => connectionFromUrl('postgres://u:s3cret@db/app?options=-c%20a%3D1&foo=1', {}));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/names \?options=, \?foo=, which the drill does not read/);
    expect(error.message).not.toContain('s3cret');
    expect(refusal(() => connectionFromUrl('postgres://u@db/app?sslmode=on', {})).message).toBe(
      'Expected --database-url ?sslmode= to be one of disable, allow, prefer, require, verify-ca, verify-full, got `on`.',
    );
    expect(refusal(() => connectionFromUrl(undefined, { PGHOST: 'db', PGSSLMODE: 'yes' })).message).toMatch(
      /^Expected PGSSLMODE to be one of /,
    );
  });

  it('verify-ca / verify-full read the root certificate at once, or say which file they cannot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'connection-test-'));
    try {
      const file = join(dir, 'root.crt');
      await writeFile(file, '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n');
      const tls = connectionFromUrl(`postgres://u@db/app?sslmode=verify-full&sslrootcert=${file}`, {}).tls;
      expect(tls).toEqual({
        mode: 'verify-full',
        rootCertFile: file,
        rootCert: expect.stringContaining('BEGIN'),
      });
      const missing = join(dir, 'none.crt');
      expect(
        refusal(() =>
          connectionFromUrl(undefined, { PGHOST: 'db', PGSSLMODE: 'verify-ca', PGSSLROOTCERT: missing }),
        ).message,
      ).toMatch(
        new RegExp(
          `^sslmode verify-ca needs the root certificate that signed the server's: ${missing} cannot be read`,
        ),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('connectionFromUrl: bad values', () => {
  it('names a bad percent-escape without showing the value, and a port that is no port', () => {
    const badEscape = refusal(() => connectionFromUrl('postgres://postgres:Live%ZZpw@db/app', {}));
    expect(badEscape.message).toBe(
      '--database-url / DATABASE_URL: its password holds a % not followed by two hex digits; write a literal % as %25 (value not shown: it may hold a password).',
    );
    expect(badEscape.message).not.toContain('Live');
    for (const port of ['abc', '0', '99999'])
      expect(refusal(() => connectionFromUrl(undefined, { PGHOST: 'db', PGPORT: port })).message).toBe(
        `Expected the port in PGPORT to be a number from 1 to 65535, got \`${port}\`.`,
      );
    expect(connectionFromUrl(undefined, { PGHOST: 'db', PGPORT: '6432' }).port).toBe(6432);
  });
});

describe('pgSsl: node-postgres ssl for libpq sslmode', () => {
  it('is always explicit, and verifies what libpq verifies', () => {
    expect(pgSsl(undefined)).toBe(false);
    expect(pgSsl({ mode: 'disable' })).toBe(false);
    for (const mode of ['allow', 'prefer', 'require'] as const)
      expect(pgSsl({ mode })).toEqual({ rejectUnauthorized: false });
    expect(pgSsl({ mode: 'verify-full', rootCert: 'PEM' })).toEqual({ ca: 'PEM' });
    const ca = pgSsl({ mode: 'verify-ca', rootCert: 'PEM' }) as {
      ca: string;
      checkServerIdentity: () => unknown;
    };
    expect(ca.ca).toBe('PEM');
    expect(ca.checkServerIdentity()).toBeUndefined();
  });
});
