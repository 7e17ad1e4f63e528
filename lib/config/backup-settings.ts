import { flag, path, type SettingTable, seconds, secondsOrZero, text } from './setting.ts';

/** Which backup is drilled: where backups are, how they are named, how long a growing one is waited for. */
export const BACKUP_SETTINGS = {
  backups: {
    field: 'backups',
    env: 'DRILL_BACKUPS',
    arg: 'DIR',
    parse: path,
    help: 'directory of backups (e.g. the mounted backup volume); without it the drill makes its own backup first (self-contained mode)',
  },
  'backup-pattern': {
    field: 'backupPattern',
    env: 'DRILL_BACKUP_PATTERN',
    default: 'postgres-backup-{timestamp}',
    arg: 'PATTERN',
    parse: text,
    help: 'backup file name without extension; .sql.gz and .sql are recognised',
  },
  'timestamp-format': {
    field: 'timestampFormat',
    env: 'DRILL_TIMESTAMP_FORMAT',
    default: 'YYYY-MM-DD-HHmmss',
    arg: 'FORMAT',
    parse: text,
    help: 'dayjs format of {timestamp}, read strictly as UTC',
  },
  'wait-for-newest': {
    field: 'waitForNewestSeconds',
    env: 'DRILL_WAIT_FOR_NEWEST',
    default: 600,
    arg: 'SECONDS',
    parse: secondsOrZero,
    help: 'how long to wait for a newest backup that is still being written (its size or mtime changing) before failing; 0: fail at once',
  },
  'growth-check-interval': {
    field: 'growthCheckIntervalSeconds',
    env: 'DRILL_GROWTH_CHECK_INTERVAL',
    default: 5,
    arg: 'SECONDS',
    parse: seconds,
    help: "seconds between the looks at the newest backup's size and mtime that tell whether it is still being written (a backup last written longer ago than this is taken at once)",
  },
  'check-only': {
    field: 'checkOnly',
    env: 'DRILL_CHECK_ONLY',
    default: false,
    parse: flag,
    help: 'the daily check: find the newest backup in --backups, read it whole (gzip, trailer, header), report its age and size and push pg_dr_check_* (job pg_restore_drill_check); no server started, no database touched',
  },
} as const satisfies SettingTable;
