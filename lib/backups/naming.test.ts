import { describe, expect, it } from 'vitest';
import { thrown } from '../../test/support/thrown.ts';
import { ConfigError } from '../errors.ts';
import { classifyName, describeNaming, formatBackupName, parseBackupPattern } from './naming.ts';

const cronJob = parseBackupPattern('postgres-backup-{timestamp}', 'YYYY-MM-DD-HHmmss');

describe('parseBackupPattern', () => {
  it('splits the default pattern around the placeholder', () => {
    expect(cronJob).toEqual({ prefix: 'postgres-backup-', suffix: '', timestampFormat: 'YYYY-MM-DD-HHmmss' });
  });

  it('keeps a suffix after the placeholder', () => {
    expect(parseBackupPattern('db-{timestamp}-full', 'YYYYMMDDTHHmm')).toEqual({
      prefix: 'db-',
      suffix: '-full',
      timestampFormat: 'YYYYMMDDTHHmm',
    });
  });

  it.each([
    ['no placeholder', 'postgres-backup-', /hold \{timestamp\} exactly once, got `postgres-backup-`/],
    [
      'two placeholders',
      '{timestamp}-{timestamp}',
      /hold \{timestamp\} exactly once, got `\{timestamp\}-\{timestamp\}`/,
    ],
    [
      'a directory',
      'backups/pg-{timestamp}',
      /file name without directories, got `backups\/pg-\{timestamp\}`/,
    ],
  ])('rejects a pattern with %s as a ConfigError naming backup-pattern', (_, pattern, message) => {
    const error = thrown(() => parseBackupPattern(pattern, 'YYYY-MM-DD-HHmmss'));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({
      code: 'DRILL_CONFIG',
      setting: 'backup-pattern',
      exitCode: 2,
      message: expect.stringMatching(/^Expected --backup-pattern \/ DRILL_BACKUP_PATTERN /),
    });
    expect((error as Error).message).toMatch(message);
  });

  it('rejects a timestamp format without date or time tokens as a ConfigError naming timestamp-format', () => {
    const error = thrown(() => parseBackupPattern('postgres-backup-{timestamp}', 'xxxx'));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({
      setting: 'timestamp-format',
      message:
        'Expected --timestamp-format / DRILL_TIMESTAMP_FORMAT to be a dayjs format such as YYYY-MM-DD-HHmmss, got `xxxx`.',
    });
  });
});

describe('classifyName', () => {
  it('reads the CronJob name as a gzip backup taken at that UTC time', () => {
    expect(classifyName('postgres-backup-2026-11-24-031500.sql.gz', cronJob)).toEqual({
      kind: 'backup',
      takenAt: new Date('2026-11-24T03:15:00Z'),
      format: 'plain',
      compression: 'gzip',
    });
  });

  it('reads a plain .sql backup as uncompressed', () => {
    expect(classifyName('postgres-backup-2026-11-24-031500.sql', cronJob)).toEqual({
      kind: 'backup',
      takenAt: new Date('2026-11-24T03:15:00Z'),
      format: 'plain',
      compression: 'none',
    });
  });

  it('accepts a leap day', () => {
    expect(classifyName('postgres-backup-2028-02-29-000000.sql.gz', cronJob)).toMatchObject({
      kind: 'backup',
      takenAt: new Date('2028-02-29T00:00:00Z'),
    });
  });

  it.each([
    ['month 13', '2026-13-24-031500'],
    ['February 30', '2026-02-30-031500'],
    ['hour 25', '2026-11-24-251500'],
    ['February 29 of a common year', '2026-02-29-031500'],
    ['a short timestamp', '2026-11-24-0315'],
  ])('rejects %s, naming the timestamp and the format', (_, stamp) => {
    expect(classifyName(`postgres-backup-${stamp}.sql.gz`, cronJob)).toEqual({
      kind: 'rejected',
      reason: `timestamp \`${stamp}\` is not a valid YYYY-MM-DD-HHmmss date (UTC); never chosen`,
    });
  });

  it('ignores a file of another prefix', () => {
    expect(classifyName('mysql-backup-2026-11-24-031500.sql.gz', cronJob)).toEqual({
      kind: 'ignored',
      reason: `does not match ${describeNaming(cronJob)}`,
    });
  });

  it.each([
    'postgres-backup-2026-11-24-031500.sql.gz.tmp',
    'postgres-backup-2026-11-24-031500.tar',
    'postgres-backup-2026-11-24-031500',
  ])('ignores %s as not a backup format we restore', (name) => {
    expect(classifyName(name, cronJob)).toEqual({
      kind: 'ignored',
      reason: 'not a backup format we restore (expected .sql.gz, .sql, .dump, .dir)',
    });
  });

  it.each([
    ['postgres-backup-2026-11-24-031500.dump', 'custom'],
    ['postgres-backup-2026-11-24-031500.dir', 'directory'],
  ])('reads %s as a pg_dump archive (%s format)', (name, format) => {
    expect(classifyName(name, cronJob)).toEqual({
      kind: 'backup',
      takenAt: new Date('2026-11-24T03:15:00Z'),
      format,
      compression: 'none',
    });
  });

  it('reads a custom pattern with a suffix and a custom format', () => {
    const naming = parseBackupPattern('db-{timestamp}-full', 'YYYYMMDD_HHmm');
    expect(classifyName('db-20261124_0315-full.sql.gz', naming)).toEqual({
      kind: 'backup',
      takenAt: new Date('2026-11-24T03:15:00Z'),
      format: 'plain',
      compression: 'gzip',
    });
    expect(classifyName('db-20261124_0315.sql.gz', naming)).toEqual({
      kind: 'ignored',
      reason: `does not match ${describeNaming(naming)}`,
    });
    expect(classifyName('db-20261124_2515-full.sql', naming)).toEqual({
      kind: 'rejected',
      reason: 'timestamp `20261124_2515` is not a valid YYYYMMDD_HHmm date (UTC); never chosen',
    });
  });

  it('ignores a name too short to hold prefix and suffix apart', () => {
    const naming = parseBackupPattern('ab{timestamp}ba', 'YYYY');
    expect(classifyName('aba.sql', naming)).toMatchObject({ kind: 'ignored' });
  });
});

describe('describeNaming', () => {
  it('says what is looked for', () => {
    expect(describeNaming(cronJob)).toBe(
      'postgres-backup-{timestamp}{.sql.gz,.sql,.dump,.dir} with {timestamp} as YYYY-MM-DD-HHmmss (UTC)',
    );
  });
});

describe('formatBackupName', () => {
  it('names a backup as the CronJob does, in UTC', () => {
    expect(formatBackupName(cronJob, new Date('2026-11-24T03:15:00Z'))).toBe(
      'postgres-backup-2026-11-24-031500.sql.gz',
    );
  });

  it.each([
    ['postgres-backup-{timestamp}', 'YYYY-MM-DD-HHmmss', '2026-11-24T03:15:00Z'],
    ['db-{timestamp}-full', 'YYYYMMDD_HHmmss', '2024-02-29T23:59:59Z'],
    ['{timestamp}', 'YYYY-MM-DDTHH-mm-ss', '2000-01-01T00:00:00Z'],
  ])('round-trips %s (%s) through classifyName', (pattern, format, iso) => {
    const naming = parseBackupPattern(pattern, format);
    const at = new Date(iso);
    expect(classifyName(formatBackupName(naming, at), naming)).toEqual({
      kind: 'backup',
      takenAt: at,
      format: 'plain',
      compression: 'gzip',
    });
  });
});
