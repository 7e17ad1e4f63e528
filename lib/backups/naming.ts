import dayjs from 'dayjs';
import customParseFormat from 'dayjs/plugin/customParseFormat.js';
import utc from 'dayjs/plugin/utc.js';
import { ConfigError } from '../errors.ts';

dayjs.extend(customParseFormat);
dayjs.extend(utc);

/** The placeholder a backup name pattern must hold exactly once. */
export const TIMESTAMP_PLACEHOLDER = '{timestamp}';

/** How the backup CronJob names its files: `<prefix><timestamp><suffix><extension>`. */
export interface BackupNaming {
  prefix: string;
  suffix: string;
  /** dayjs format of the timestamp, read strictly and as UTC. */
  timestampFormat: string;
}

/**
 * The backups we restore, by extension, longest first so `.sql.gz` wins over `.sql`: plain SQL (psql,
 * what the CronJob writes), pg_dump's custom format (`-Fc`, pg_restore) and its directory format (`-Fd`,
 * a directory named `….dir`, pg_restore).
 */
export const BACKUP_EXTENSIONS = [
  { extension: '.sql.gz', format: 'plain', compression: 'gzip' },
  { extension: '.sql', format: 'plain', compression: 'none' },
  { extension: '.dump', format: 'custom', compression: 'none' },
  { extension: '.dir', format: 'directory', compression: 'none' },
] as const;

export type Compression = (typeof BACKUP_EXTENSIONS)[number]['compression'];
export type BackupFormat = (typeof BACKUP_EXTENSIONS)[number]['format'];

/** Parses `--backup-pattern`, e.g. `postgres-backup-{timestamp}`; the extension is not part of it. */
export function parseBackupPattern(pattern: string, timestampFormat: string): BackupNaming {
  const at = pattern.indexOf(TIMESTAMP_PLACEHOLDER);
  if (at < 0 || pattern.indexOf(TIMESTAMP_PLACEHOLDER, at + 1) >= 0) {
    throw new ConfigError(
      'backup-pattern',
      `Expected --backup-pattern / DRILL_BACKUP_PATTERN to hold ${TIMESTAMP_PLACEHOLDER} exactly once, got \`${pattern}\` (example: postgres-backup-${TIMESTAMP_PLACEHOLDER}).`,
    );
  }
  if (pattern.includes('/')) {
    throw new ConfigError(
      'backup-pattern',
      `Expected --backup-pattern / DRILL_BACKUP_PATTERN to be a file name without directories, got \`${pattern}\`; put the directory in --backups.`,
    );
  }
  if (!/[YMDHhms]/.test(timestampFormat)) {
    throw new ConfigError(
      'timestamp-format',
      `Expected --timestamp-format / DRILL_TIMESTAMP_FORMAT to be a dayjs format such as YYYY-MM-DD-HHmmss, got \`${timestampFormat}\`.`,
    );
  }
  return {
    prefix: pattern.slice(0, at),
    suffix: pattern.slice(at + TIMESTAMP_PLACEHOLDER.length),
    timestampFormat,
  };
}

export type NameVerdict =
  | { kind: 'backup'; takenAt: Date; format: BackupFormat; compression: Compression }
  | { kind: 'ignored'; reason: string }
  | { kind: 'rejected'; reason: string };

/**
 * Classifies one file name: a backup with its time, a name that is not ours (ignored), or a name that
 * is ours but whose timestamp is impossible (rejected, so the operator hears of it).
 */
export function classifyName(name: string, naming: BackupNaming): NameVerdict {
  const ext = BACKUP_EXTENSIONS.find((e) => name.endsWith(e.extension));
  const stem = ext ? name.slice(0, -ext.extension.length) : name;
  if (
    !stem.startsWith(naming.prefix) ||
    !stem.endsWith(naming.suffix) ||
    stem.length < naming.prefix.length + naming.suffix.length
  ) {
    return { kind: 'ignored', reason: `does not match ${describeNaming(naming)}` };
  }
  if (!ext) {
    return {
      kind: 'ignored',
      reason: `not a backup format we restore (expected ${BACKUP_EXTENSIONS.map((e) => e.extension).join(', ')})`,
    };
  }
  const stamp = stem.slice(naming.prefix.length, stem.length - naming.suffix.length);
  const parsed = dayjs.utc(stamp, naming.timestampFormat, true);
  if (!parsed.isValid()) {
    return {
      kind: 'rejected',
      reason: `timestamp \`${stamp}\` is not a valid ${naming.timestampFormat} date (UTC); never chosen`,
    };
  }
  return { kind: 'backup', takenAt: parsed.toDate(), format: ext.format, compression: ext.compression };
}

/** The file name the backup CronJob would give a gzip backup taken at `at`. */
export function formatBackupName(naming: BackupNaming, at: Date): string {
  return `${naming.prefix}${dayjs.utc(at).format(naming.timestampFormat)}${naming.suffix}.sql.gz`;
}

export function describeNaming(naming: BackupNaming): string {
  return `${naming.prefix}${TIMESTAMP_PLACEHOLDER}${naming.suffix}{${BACKUP_EXTENSIONS.map((e) => e.extension).join(',')}} with ${TIMESTAMP_PLACEHOLDER} as ${naming.timestampFormat} (UTC)`;
}
