import { BACKUP_SETTINGS } from './backup-settings.ts';
import { CHECK_SETTINGS } from './check-settings.ts';
import { KUBE_SETTINGS, OWN_POD_SETTINGS } from './kube-settings.ts';
import { REPORT_SETTINGS } from './report-settings.ts';
import { flag, type SettingTable } from './setting.ts';
import { TARGET_SETTINGS } from './target-settings.ts';

const HELP_SETTING = {
  help: { field: 'help', default: false, parse: flag, help: 'print this help' },
} as const satisfies SettingTable;

/** The settings in --help's order, under its headings. */
export const SETTING_GROUPS = [
  { title: 'Backups', settings: BACKUP_SETTINGS },
  { title: 'Target', settings: TARGET_SETTINGS },
  { title: 'Restore and checks', settings: CHECK_SETTINGS },
  { title: 'Reports', settings: REPORT_SETTINGS },
  { title: 'Kubernetes', settings: KUBE_SETTINGS },
  { title: 'Set by the CronJob through the downward API (environment only)', settings: OWN_POD_SETTINGS },
  { title: 'Help', settings: HELP_SETTING },
] as const;

/**
 * Every setting of the drill, the one place its flag, environment twin, default, parser and help live. An
 * explicit flag wins, then the environment (empty counts as unset), then the default; readConfig walks
 * this table, --help is printed from it.
 */
export const SETTINGS = {
  ...BACKUP_SETTINGS,
  ...TARGET_SETTINGS,
  ...CHECK_SETTINGS,
  ...REPORT_SETTINGS,
  ...KUBE_SETTINGS,
  ...OWN_POD_SETTINGS,
  ...HELP_SETTING,
} as const satisfies SettingTable;
