import { delimiter, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import type { DrillConfig } from './drill-config.ts';

/**
 * One setting's value as found, before it is parsed: from its flag, else its environment twin, else the
 * table's default. Every parser gets this, so every message can say which setting, what value, and where
 * the value came from.
 */
export interface Given {
  /** The setting's name in the table (its flag without `--`): ConfigError's `setting`. */
  name: string;
  value: string | number | boolean | undefined;
  /** `--rto` or `DRILL_RTO`; undefined when the value is the default. */
  from: string | undefined;
  /** How a message names the setting: `--rto / DRILL_RTO` (the environment variable alone if no flag). */
  label: string;
  /** Relative paths are resolved against this. */
  cwd: string;
}

/** One row of the table: a DrillConfig field, where it is read from, its default (once), its parser. */
type SettingOf<F extends keyof DrillConfig> = {
  field: F;
  /** The environment twin; a setting without a flag (`flag: false`) is read from it alone. */
  env?: string;
  flag?: false;
  /** The flag's argument in --help; a setting without one is a switch (`--keep`). */
  arg?: string;
  /** In the form a flag or variable gives it; parsed like one. */
  default?: string | number | boolean;
  help: string;
  /** Undefined only where a check across settings fills it in (readConfig). */
  parse: (given: Given) => DrillConfig[F] | undefined;
};
export type Setting = { [F in keyof DrillConfig]-?: SettingOf<F> }[keyof DrillConfig];
export type SettingTable = Readonly<Record<string, Setting>>;

/** A value the setting cannot take: names the flag, its twin, the value, where it came from, and the fix. */
export function invalid(given: Given, expected: string): ConfigError {
  const where = given.from === undefined ? ' (the default)' : ` from ${given.from}`;
  return new ConfigError(
    given.name,
    `Expected ${given.label} to be ${expected}, got \`${String(given.value)}\`${where}.`,
  );
}

export function text(given: Given): string | undefined {
  return given.value === undefined ? undefined : String(given.value);
}

/** A path, resolved against the working directory. */
export function path(given: Given): string | undefined {
  const value = text(given);
  return value === undefined ? undefined : resolve(given.cwd, value);
}

/** A switch: `--keep`, or a variable set to 1/true/yes/on or 0/false/no/off. */
export function flag(given: Given): boolean {
  const { value } = given;
  if (typeof value === 'boolean') return value;
  if (value === undefined) return false;
  if (/^(1|true|yes|on)$/i.test(String(value))) return true;
  if (/^(0|false|no|off)$/i.test(String(value))) return false;
  throw invalid(given, 'true or false');
}

/** A duration over 0 s. */
export function seconds(given: Given): number {
  const number = Number(given.value);
  if (given.value === '' || !Number.isFinite(number) || number <= 0) {
    throw invalid(given, 'a positive number of seconds');
  }
  return number;
}

/** A duration of 0 s or more. */
export function secondsOrZero(given: Given): number {
  const number = Number(given.value);
  if (given.value === '' || !Number.isFinite(number) || number < 0) {
    throw invalid(given, 'a number of seconds (0 or more)');
  }
  return number;
}

export function wholeNumber(given: Given): number {
  const number = Number(given.value);
  if (!Number.isInteger(number) || number < 1) throw invalid(given, 'a whole number of at least 1');
  return number;
}

/** A TCP port, 1 to 65535. */
export function tcpPort(given: Given): number {
  const number = Number(given.value);
  if (!Number.isInteger(number) || number < 1 || number > 65535)
    throw invalid(given, 'a TCP port, 1 to 65535');
  return number;
}

/** One of a fixed set of words. */
export function oneOf<const C extends readonly string[]>(choices: C): (given: Given) => C[number] {
  return (given) => {
    const value = text(given);
    if (value === undefined || !(choices as readonly string[]).includes(value)) {
      throw invalid(given, `one of ${choices.join(', ')}`);
    }
    return value as C[number];
  };
}

/** Directories separated by the platform's path delimiter (`:`), empty entries dropped. */
export function list(given: Given): string[] {
  return (text(given) ?? '').split(delimiter).filter(Boolean);
}

/** What parseArgs found on the command line, by setting name. */
export type Flags = Readonly<Record<string, string | boolean | undefined>>;

/** A row's value as found: its flag, else its environment twin (empty counts as unset), else its default. */
function given(name: string, setting: Setting, flags: Flags, env: NodeJS.ProcessEnv, cwd: string): Given {
  const label =
    setting.flag === false ? (setting.env ?? name) : `--${name}${setting.env ? ` / ${setting.env}` : ''}`;
  const fromFlag = setting.flag === false ? undefined : flags[name];
  if (fromFlag !== undefined) return { name, value: fromFlag, from: `--${name}`, label, cwd };
  const fromEnv = setting.env === undefined ? undefined : env[setting.env];
  if (setting.env !== undefined && fromEnv !== undefined && fromEnv !== '') {
    return { name, value: fromEnv, from: setting.env, label, cwd };
  }
  return { name, value: setting.default, from: undefined, label, cwd };
}

/** Every row of `table`, found and parsed: the walk readConfig is made of. */
export function readTable(
  table: SettingTable,
  flags: Flags,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Partial<Record<keyof DrillConfig, unknown>> {
  const values: Partial<Record<keyof DrillConfig, unknown>> = {};
  for (const [name, setting] of Object.entries(table)) {
    values[setting.field] = setting.parse(given(name, setting, flags, env, cwd));
  }
  return values;
}
