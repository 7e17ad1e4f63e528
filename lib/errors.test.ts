import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DrillError } from './errors.ts';

const LIB = import.meta.dirname;
/** The CLI runs `main` when imported; it declares no error class (a source check below holds that). */
const NOT_IMPORTED = new Set(['cli.ts']);

async function libSources(): Promise<{ file: string; text: string }[]> {
  const entries = await readdir(LIB, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => relative(LIB, join(e.parentPath, e.name)))
    .sort();
  return Promise.all(files.map(async (file) => ({ file, text: await readFile(join(LIB, file), 'utf8') })));
}

type ErrorClass = (abstract new (...args: never[]) => Error) & { code?: unknown };

/** Every exported class that makes errors, from every lib module that declares a class. */
async function exportedErrorClasses(): Promise<{ file: string; name: string; cls: ErrorClass }[]> {
  const found: { file: string; name: string; cls: ErrorClass }[] = [];
  for (const { file, text } of await libSources()) {
    if (NOT_IMPORTED.has(file) || !/\bclass\s/.test(text)) continue;
    const module: Record<string, unknown> = await import(/* @vite-ignore */ join(LIB, file));
    for (const [name, value] of Object.entries(module)) {
      const seen = found.some((c) => c.cls === value);
      if (typeof value === 'function' && value.prototype instanceof Error && !seen) {
        found.push({ file, name, cls: value as ErrorClass });
      }
    }
  }
  return found;
}

describe('error classes', async () => {
  const sources = await libSources();
  const classes = await exportedErrorClasses();

  it('finds the error classes of every layer', () => {
    // A guard on the walk itself: were it to find nothing, the checks below would pass vacuously.
    expect(new Set(classes.map((c) => c.file.split('/')[0]))).toEqual(
      new Set([
        'errors.ts',
        'backups',
        'dump',
        'expect',
        'k8s',
        'pg',
        'report',
        'restore',
        'table',
        'verify',
      ]),
    );
  });

  it('every exported error class extends DrillError', () => {
    const others = classes.filter((c) => c.cls !== DrillError && !(c.cls.prototype instanceof DrillError));
    expect(others.map((c) => `${c.file}: ${c.name}`)).toEqual([]);
  });

  it('no class anywhere in lib/ extends Error directly, exported or not, but DrillError', () => {
    const direct = sources.flatMap(({ file, text }) =>
      [...text.matchAll(/\bclass\s+(\w+)\s+extends\s+Error\b/g)].map((m) => `${file}: ${m[1]}`),
    );
    expect(direct).toEqual(['errors.ts: DrillError']);
  });

  it('every error class states its own code, and no two share one', () => {
    const missing = classes.filter((c) => !Object.hasOwn(c.cls, 'code')).map((c) => `${c.file}: ${c.name}`);
    expect(missing, 'add `static override readonly code = ...` to these').toEqual([]);
    const byCode = new Map<unknown, string[]>();
    for (const c of classes) {
      byCode.set(c.cls.code, [...(byCode.get(c.cls.code) ?? []), c.name]);
    }
    expect([...byCode].filter(([, names]) => names.length > 1)).toEqual([]);
  });

  it('keeps the codes reports, metrics and tests already use', () => {
    // Renaming a code breaks whoever branches on it (report.json `code`, alerts, tests): add, never rename.
    const codes = classes.map((c) => c.cls.code as string).sort();
    expect(codes).toEqual([
      'DRILL_BACKUP',
      'DRILL_BACKUP_ACCESS_DENIED',
      'DRILL_BACKUP_CORRUPT',
      'DRILL_BACKUP_EMPTY',
      'DRILL_BACKUP_FORMAT',
      'DRILL_BACKUP_INCOMPLETE',
      'DRILL_BACKUP_STILL_BEING_WRITTEN',
      'DRILL_BACKUP_TRUNCATED',
      'DRILL_BACKUP_UNREADABLE',
      'DRILL_CANARY_BUSY',
      'DRILL_CANARY_CONTRACT',
      'DRILL_CONFIG',
      'DRILL_DATABASE_NOT_IN_DUMP',
      'DRILL_DUMP_NEWER_THAN_TARGET',
      'DRILL_DUMP_STATEMENT',
      'DRILL_ERROR',
      'DRILL_EXPECTATIONS',
      'DRILL_EXTENSION_MISSING',
      'DRILL_HISTORY',
      'DRILL_HISTORY_CONFIGMAP',
      'DRILL_INSERT_MALFORMED',
      'DRILL_K8S_API',
      'DRILL_K8S_CONFIG',
      'DRILL_K8S_CRONJOB_NOT_FOUND',
      'DRILL_K8S_EXEC',
      'DRILL_K8S_EXEC_STDIN',
      'DRILL_K8S_FORBIDDEN',
      'DRILL_K8S_PORT_FORWARD',
      'DRILL_K8S_TIMEOUT',
      'DRILL_LOCKED',
      'DRILL_METRICS_INPUT_INVALID',
      'DRILL_NO_BACKUPS',
      'DRILL_PUSHGATEWAY_URL_INVALID',
      'DRILL_PUSH_FAILED',
      'DRILL_PUSH_GROUPING_INVALID',
      'DRILL_RECORD',
      'DRILL_RESTORE_FAILED',
      'DRILL_RESTORE_TARGET_FAULT',
      'DRILL_RESTORE_TIMEOUT',
      'DRILL_TABLESPACE_MISSING',
      'DRILL_TABLESPACE_NOT_REMAPPABLE',
      'DRILL_TABLE_NOT_IN_DUMP',
      'DRILL_TABLE_UNSUPPORTED',
      'DRILL_TARGET',
      'DRILL_TOOLS_NOT_FOUND',
      'DRILL_UNSAFE_TARGET',
    ]);
  });

  it('puts the class name in stack traces and the code on the error, not the name in JSON', () => {
    const error = new ConfigError('rto', 'Expected --rto / DRILL_RTO to be a positive number of seconds.');
    expect([error.name, error.code, error.exitCode, error.setting]).toEqual([
      'ConfigError',
      'DRILL_CONFIG',
      2,
      'rto',
    ]);
    expect(error.stack?.split('\n')[0]).toEqual(
      'ConfigError: Expected --rto / DRILL_RTO to be a positive number of seconds.',
    );
    expect(String(error)).toEqual(
      'ConfigError: Expected --rto / DRILL_RTO to be a positive number of seconds.',
    );
    expect(JSON.parse(JSON.stringify(error))).toEqual({ code: 'DRILL_CONFIG', exitCode: 2, setting: 'rto' });
  });
});
