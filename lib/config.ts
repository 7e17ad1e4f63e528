import { parseArgs } from 'node:util';
import { type DrillConfig, MODE_CHOICES } from './config/drill-config.ts';
import { refuseInapplicable } from './config/inapplicable.ts';
import { type Flags, readTable } from './config/setting.ts';
import { SETTINGS } from './config/settings.ts';
import { ConfigError } from './errors.ts';

export {
  type DrillConfig,
  MODE_CHOICES,
  type RestoreMode,
  TARGET_CHOICES,
  type TargetChoice,
} from './config/drill-config.ts';
export { ENVIRONMENT } from './config/environment.ts';
export { helpText } from './config/help.ts';
export { DEFAULT_POSTGRES_IMAGE } from './config/target-settings.ts';
export { SETTINGS };

/** The command line, by setting name; an unknown flag or a positional argument is a ConfigError. */
function readFlags(argv: readonly string[]): Flags {
  // A flag given twice keeps its last value: for --table that would drill one table of two, silently.
  if (argv.filter((a) => a === '--table' || a.startsWith('--table=')).length > 1)
    throw new ConfigError('table', '--table takes one table per run; run the drill once for each table.');
  const options = Object.fromEntries(
    Object.entries(SETTINGS)
      .filter(([, s]) => !('flag' in s && s.flag === false))
      .map(([name, s]) => [name, { type: 'arg' in s ? ('string' as const) : ('boolean' as const) }]),
  );
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new ConfigError('argv', `${(error as Error).message}. See --help.`);
  }
}

/** What no single setting can check alone: the RTO ceiling against the budget, `--canary none`. */
function checkTogether(config: DrillConfig): DrillConfig {
  const { rtoSeconds, mode, canary, verify } = config;
  const rtoCeilingSeconds = config.rtoCeilingSeconds ?? rtoSeconds * 3;
  if (rtoCeilingSeconds < rtoSeconds) {
    throw new ConfigError(
      'rto-ceiling',
      `Expected --rto-ceiling / DRILL_RTO_CEILING (${rtoCeilingSeconds} s) to be at least the RTO budget --rto (${rtoSeconds} s): the ceiling is where a restore over budget is finally stopped.`,
    );
  }
  if (config.table && mode !== 'cluster') {
    throw new ConfigError(
      'table',
      `--table is a drill of its own (one table into a scratch database, on any server) and takes no --mode ${mode}: drop --mode, or drop --table for the canary drill.`,
    );
  }
  if (canary === 'none' && mode !== 'cluster') {
    throw new ConfigError(
      'canary',
      `--mode ${mode} restores the canary's section of a pg_dumpall, and --canary none names no canary. Name the canary database with --canary DB, or use --mode ${MODE_CHOICES[0]} with --verify deep.`,
    );
  }
  if (canary === 'none' && verify === 'canary' && !config.table) {
    throw new ConfigError(
      'verify',
      '--canary none with --verify canary would verify nothing: there is no canary to check. Use --verify deep (every table of the backup is read back and compared), or name the canary database with --canary DB.',
    );
  }
  // Self-contained mode seeds its canary on the target and backs the whole server up with pg_dumpall:
  // on a live server that writes a database there (and leaves it, a second run refusing it) and copies
  // every database and role's password hash into a local file.
  // (A pod in --mode cluster is refused by the pod target itself, in words of its own.)
  const live =
    (config.target === 'pod' && mode !== 'cluster') || (config.target === 'url' && !config.scratch);
  if (!config.backups && !config.checkOnly && live) {
    throw new ConfigError(
      'backups',
      `Without --backups the drill makes its own backup: it seeds its canary on the target and copies the whole server with pg_dumpall. --target ${config.target} is a live server${config.target === 'url' ? ' (no --scratch)' : ''}: give --backups DIR, the backups to drill${config.target === 'url' ? ', or declare the server disposable with --scratch' : ''}.`,
    );
  }
  if (config.selfTest && verify !== 'deep') {
    throw new ConfigError(
      'self-test',
      '--self-test proves that a changed row fails deep verification, and --verify is canary: add --verify deep (DRILL_VERIFY=deep), or drop --self-test.',
    );
  }
  return { ...config, rtoCeilingSeconds };
}

/** Reads flags, then `env`, then defaults, through SETTINGS; every bad value is a ConfigError naming the setting. */
export function readConfig(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string): DrillConfig {
  const flags = readFlags(argv);
  const config = checkTogether(readTable(SETTINGS, flags, env, cwd) as DrillConfig);
  refuseInapplicable(config, flags);
  return config;
}
