import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { helpText, readConfig } from '../config.ts';
import { TARGET_CHOICES, TARGET_HELP, TARGETS } from './registry.ts';

const LIB = dirname(fileURLToPath(new URL('.', import.meta.url)));

/**
 * Every module `file` loads when it is loaded: its static imports, followed through our own files
 * (`import type` is erased, and an `import()` runs only when called, so neither counts).
 */
function staticImportGraph(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) && !ts.isExportDeclaration(statement)) continue;
    if (ts.isImportDeclaration(statement) && statement.importClause?.isTypeOnly) continue;
    if (ts.isExportDeclaration(statement) && statement.isTypeOnly) continue;
    const specifier = statement.moduleSpecifier;
    if (!specifier || !ts.isStringLiteral(specifier)) continue;
    if (specifier.text.startsWith('.')) staticImportGraph(resolve(dirname(file), specifier.text), seen);
    else seen.add(specifier.text);
  }
  return seen;
}

describe('the target registry', () => {
  it('lists every target once, and each entry loads the target of its own kind', async () => {
    const kinds = TARGETS.map((t) => t.kind);
    // The four the drill documents; a new target adds its line without touching this test.
    expect(kinds).toEqual(expect.arrayContaining(['container', 'local', 'url', 'pod']));
    expect(new Set(kinds).size).toBe(kinds.length);
    const loaded = await Promise.all(TARGETS.map(async (t) => (await t.load()).kind));
    expect(loaded).toEqual(kinds);
  });

  it('gives the settings their choices and the help line: auto and every kind', () => {
    expect(TARGET_CHOICES).toEqual(['auto', ...TARGETS.map((t) => t.kind)]);
    expect(readConfig(['--target', 'pod', '--backups', '/mnt/b'], {}, '/').target).toBe('pod');
    expect(() => readConfig(['--target', 'nonesuch'], {}, '/')).toThrow(
      `Expected --target / DRILL_TARGET to be one of ${TARGET_CHOICES.join(', ')}, got \`nonesuch\` from --target.`,
    );
    const line = helpText()
      .split('\n')
      .find((l) => l.includes('where to restore'));
    expect(line?.trim()).toBe(`${TARGET_HELP} (default: auto)`);
    for (const kind of TARGET_CHOICES) expect(TARGET_HELP).toContain(` ${kind} (`);
  });

  it('keeps --help light: config.ts loads neither testcontainers nor client-node', () => {
    const graph = staticImportGraph(resolve(LIB, 'config.ts'));
    // The graph is real: it reaches the registry and node:util (a walk that saw nothing would pass vacuously).
    expect(graph).toContain(resolve(LIB, 'targets/registry.ts'));
    expect(graph).toContain('node:util');
    const heavy = [...graph].filter((m) =>
      /^(testcontainers|@testcontainers\/|@kubernetes\/client-node)/.test(m),
    );
    expect(heavy).toEqual([]);
  });

  it('would see a heavy import if the registry loaded a target eagerly', () => {
    // The same walk from container.ts (what an eager registry line would import) finds testcontainers.
    const graph = staticImportGraph(resolve(LIB, 'targets/container.ts'));
    expect([...graph].filter((m) => m.includes('testcontainers'))).toEqual([
      '@testcontainers/postgresql',
      'testcontainers',
    ]);
  });
});
