import { ConfigError } from '../errors.ts';
import type { DrillConfig } from './drill-config.ts';
import type { Flags } from './setting.ts';

/** A flag, where it takes effect, and those words for the message. */
interface Applies {
  flag: string;
  when: (config: DrillConfig) => boolean;
  where: string;
}

const target =
  (...kinds: DrillConfig['target'][]) =>
  (config: DrillConfig) =>
    kinds.includes(config.target);

/** Flags that do something only with certain others; given elsewhere they would be ignored, silently. */
const APPLIES: readonly Applies[] = [
  { flag: 'scratch', when: target('url'), where: '--target url (it declares that server disposable)' },
  { flag: 'pod', when: target('pod'), where: '--target pod' },
  { flag: 'pod-port', when: target('pod'), where: '--target pod' },
  { flag: 'pod-container', when: target('pod'), where: '--target pod' },
  { flag: 'image', when: target('container', 'auto'), where: '--target container (or auto)' },
  { flag: 'initdb-cache', when: target('local', 'auto'), where: '--target local (or auto)' },
  {
    flag: 'keep',
    when: target('local', 'container', 'auto'),
    where: 'a throwaway server (--target local, container or auto)',
  },
  { flag: 'allow-unverified', when: (c) => c.verify === 'deep', where: '--verify deep' },
];

/** What the daily check (--check-only: no server, no restore) never uses of the drill's flags. */
const CHECK_ONLY_IGNORES = [
  'table',
  'self-test',
  'expect',
  'verify',
  'mode',
  'jobs',
  'keep',
  'scratch',
  'image',
  'initdb-cache',
];

/** How the run was chosen, for the message: the target, or the daily check. */
function chosen(config: DrillConfig): string {
  return config.checkOnly ? '--check-only' : `--target ${config.target}`;
}

/**
 * Refuses a flag given on the command line that this run would ignore (`--scratch` with --target local,
 * `--image` with --target url, `--table` with --check-only): the operator meant it to do something.
 * Only flags: a DRILL_* variable may come from an environment shared by several runs (a ConfigMap for
 * both CronJobs). The in-cluster gate (--cluster) hands its flags on and is left to the run it starts.
 */
export function refuseInapplicable(config: DrillConfig, flags: Flags): void {
  if (config.cluster) return;
  const given = (flag: string) => flags[flag] !== undefined && flags[flag] !== false;
  if (config.checkOnly) {
    const ignored = CHECK_ONLY_IGNORES.filter(given);
    if (ignored.length > 0) {
      throw new ConfigError(
        ignored[0] as string,
        `${ignored.map((f) => `--${f}`).join(', ')}: --check-only reads the newest backup and restores nothing, so ${ignored.length === 1 ? 'it does' : 'they do'} nothing there. Drop ${ignored.length === 1 ? 'it' : 'them'}, or drop --check-only for the restore drill.`,
      );
    }
    return;
  }
  for (const a of APPLIES) {
    if (given(a.flag) && !a.when(config)) {
      throw new ConfigError(
        a.flag,
        `--${a.flag} applies only to ${a.where}; with ${a.flag === 'allow-unverified' ? `--verify ${config.verify}` : chosen(config)} it would do nothing. Drop it, or choose ${a.where.replace(/ \(.*\)$/, '')}.`,
      );
    }
  }
}
