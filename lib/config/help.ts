import { ENVIRONMENT } from './environment.ts';
import type { Setting } from './setting.ts';
import { SETTING_GROUPS } from './settings.ts';

/** `  --rto SECONDS    DRILL_RTO` and its help, or `  DRILL_JOB_NAME` for a variable without a flag. */
function settingLines(name: string, setting: Setting): string[] {
  const def =
    setting.default === undefined || setting.default === false ? '' : ` (default: ${setting.default})`;
  const head =
    setting.flag === false
      ? `  ${setting.env}`
      : `  ${`--${name}${setting.arg ? ` ${setting.arg}` : ''}`.padEnd(28)} ${setting.env ?? ''}`;
  return [head.trimEnd(), `      ${setting.help}${def}`];
}

/** `--help`: every setting under its heading, with its environment twin and default, then the other variables. */
export function helpText(): string {
  const lines = [
    'Usage: npm run drill -- [options]',
    '       npm run drill -- record [--all] [--database-url URL | --backups DIR] --out FILE   (see record --help)',
    '       npm run drill -- history [--json] [--limit N] [--report-dir DIR | --kube]             (see history --help)',
    '',
    'Restores the newest backup into a throwaway PostgreSQL with psql, verifies the canary database',
    'and reports. Exit 0: every check passed; 1: a check failed; 2: bad usage or configuration;',
    '130/143: interrupted (SIGINT/SIGTERM).',
    '',
    'Options (flag, environment variable, default); a flag wins over its variable, an empty variable is unset.',
  ];
  for (const group of SETTING_GROUPS) {
    lines.push('', `${group.title}:`);
    for (const [name, setting] of Object.entries(group.settings)) lines.push(...settingLines(name, setting));
  }
  lines.push('', 'Also read from the environment:');
  for (const { vars, help } of ENVIRONMENT) lines.push(`  ${vars.join(', ')}`, `      ${help}`);
  return lines.join('\n');
}
