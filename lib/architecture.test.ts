import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The directions the code base holds, read from the sources with TypeScript's own parser (docs/how-it-works.md
 * "The layers"): cli → drill → the stages (backups, targets, restore, verify, report, with dump and expect
 * beneath them) → exec and pg at the bottom; k8s beside. A layer never reaches upward.
 *
 * KNOWN_* below list today's exceptions in files other helpers own and are reshaping in parallel (round of
 * issues #12/#13). They are explicit so that a new breach fails at once; the lead shrinks them after the
 * merge. An entry that no longer breaks its rule fails the test too, so the lists cannot go stale.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Stages that reach the server only through exec/ and pg/, never through a target's own code. */
const STAGES_WITHOUT_TARGETS = [
  'backups',
  'dump',
  'restore',
  'verify',
  'report',
  'expect',
  'selftest',
  'table',
];
/** What exec/ and pg/ must not import: every layer above them. */
const ABOVE_EXEC_AND_PG = [
  'backups',
  'dump',
  'restore',
  'verify',
  'report',
  'expect',
  'table',
  'targets',
  'drill',
];
const ABOVE_EXEC_AND_PG_FILES = ['lib/cli.ts', 'lib/config.ts', 'lib/index.ts'];

/** The two stream state machines, kept as one function each: splitting them hides the states. */
const STATE_MACHINES = [
  // The plain-dump lexer: one loop over every byte of a 1 GB dump, tracking strings, dollar bodies,
  // comments and COPY blocks across chunk boundaries; its states are local variables of one closure.
  'lib/dump/dump-lexer.ts:createDumpLexer',
  'lib/dump/dump-lexer.ts:scan',
  // The digest: the lexer's line hooks driving one state per stream (the open COPY block, an INSERT
  // spanning lines, client_encoding, standard_conforming_strings, large-object chunks) at 1 GB speed.
  'lib/dump/copy-digest.ts:copyDigest',
];

const MAX_FUNCTION_LINES = 60;
const MAX_FILE_LINES = 300;

/** Imports that break a direction (`from -> to`): none left. */
const KNOWN_IMPORTS = new Set<string>([]);

/** Reads of process.env / process.argv / process.exit outside lib/cli.ts, in files others own. */
const KNOWN_PROCESS_USES = new Set<string>([]);

/** Functions over the limit (`file:function`). */
const KNOWN_LONG_FUNCTIONS = new Set<string>([]);

/** Files over the limit. */
const KNOWN_LONG_FILES = new Set<string>([]);

interface Source {
  /** Path from the project root, with `/`. */
  path: string;
  file: ts.SourceFile;
}

function sources(dir: string): Source[] {
  const out: Source[] = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const path = relative(ROOT, join(entry.parentPath, entry.name)).split('\\').join('/');
    const text = readFileSync(join(ROOT, path), 'utf8');
    out.push({ path, file: ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true) });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

const isTest = (path: string) => /\.test\.ts$/.test(path);
const layerOf = (path: string) => path.split('/')[1] ?? '';

/** Every relative module a file imports or re-exports (static and dynamic), resolved from the root. */
function importsOf(source: Source): string[] {
  const found: string[] = [];
  const add = (spec: string) => {
    if (spec.startsWith('.')) found.push(join(dirname(source.path), spec).split('\\').join('/'));
  };
  const visit = (node: ts.Node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    )
      add(node.moduleSpecifier.text);
    else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    )
      add(node.arguments[0].text);
    ts.forEachChild(node, visit);
  };
  visit(source.file);
  return found;
}

/** `process.env`, `process.argv`, `process.exit`, `process.exitCode` (also as `process['env']` or from node:process). */
function processUsesOf(source: Source): string[] {
  const watched = new Set(['env', 'argv', 'exit', 'exitCode']);
  const found = new Set<string>();
  const visit = (node: ts.Node) => {
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
      if (node.expression.text === 'process' && watched.has(node.name.text))
        found.add(`process.${node.name.text}`);
    } else if (
      ts.isElementAccessExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'process' &&
      ts.isStringLiteral(node.argumentExpression) &&
      watched.has(node.argumentExpression.text)
    )
      found.add(`process.${node.argumentExpression.text}`);
    else if (
      ts.isImportDeclaration(node) &&
      ts.isStringLiteral(node.moduleSpecifier) &&
      ['process', 'node:process'].includes(node.moduleSpecifier.text)
    )
      found.add('import of node:process');
    ts.forEachChild(node, visit);
  };
  visit(source.file);
  return [...found];
}

/** Functions (declarations, methods, arrows, expressions) longer than `max` lines, as `name (N lines)`. */
function longFunctionsOf(source: Source, max: number): { name: string; lines: number }[] {
  const found: { name: string; lines: number }[] = [];
  const lineOf = (pos: number) => source.file.getLineAndCharacterOfPosition(pos).line;
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const lines = lineOf(node.getEnd()) - lineOf(node.getStart(source.file)) + 1;
      const name = node.name && ts.isIdentifier(node.name) ? node.name.text : '<anonymous>';
      if (lines > max) found.push({ name, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(source.file);
  return found;
}

const lib = sources('lib');
const libCode = lib.filter((s) => !isTest(s.path));
const drills = sources('drills');

/** Each breach as one line; `known` entries are taken out and returned as `used`. */
function judge(breaches: string[], known: Set<string>): { fresh: string[]; stale: string[] } {
  const seen = new Set(breaches);
  return {
    fresh: [...seen].filter((b) => !known.has(b)),
    stale: [...known].filter((k) => !seen.has(k)),
  };
}

function importBreaches(): string[] {
  const breaches: string[] = [];
  for (const source of lib) {
    const layer = layerOf(source.path);
    for (const target of importsOf(source)) {
      const to = `${source.path} -> ${target}`;
      if (target.startsWith('drills/')) breaches.push(to);
      // Integration tests start real targets as fixtures; the stages' own code never does.
      if (STAGES_WITHOUT_TARGETS.includes(layer) && target.startsWith('lib/targets/') && !isTest(source.path))
        breaches.push(to);
      if (
        (layer === 'exec' || layer === 'pg') &&
        (ABOVE_EXEC_AND_PG.includes(layerOf(target)) || ABOVE_EXEC_AND_PG_FILES.includes(target))
      )
        breaches.push(to);
    }
  }
  return breaches;
}

describe('architecture', () => {
  it('reads the sources it judges', () => {
    expect(libCode.length).toBeGreaterThan(50);
    expect(drills.map((s) => s.path)).toContain('drills/restore.drill.ts');
    // The reader itself sees an import, a process read and a long function, so an empty answer means something.
    const probe = ts.createSourceFile(
      'lib/verify/probe.ts',
      `import { x } from '../targets/target.ts';\nconst a = process.env.A;\nfunction f() {\n${'x;\n'.repeat(61)}}\n`,
      ts.ScriptTarget.Latest,
      true,
    );
    const source = { path: 'lib/verify/probe.ts', file: probe };
    expect(importsOf(source)).toEqual(['lib/targets/target.ts']);
    expect(processUsesOf(source)).toEqual(['process.env']);
    expect(longFunctionsOf(source, MAX_FUNCTION_LINES)).toEqual([{ name: 'f', lines: 63 }]);
  });

  it('holds the import directions: lib never imports drills/, the stages never import targets/, exec/ and pg/ import no stage', () => {
    expect(judge(importBreaches(), KNOWN_IMPORTS)).toEqual({ fresh: [], stale: [] });
  });

  it('reads process.env / process.argv and exits only in lib/cli.ts (tests excluded)', () => {
    const breaches = [...libCode, ...drills]
      .filter((s) => s.path !== 'lib/cli.ts' && !isTest(s.path))
      .flatMap((s) => processUsesOf(s).map((use) => `${s.path}: ${use}`));
    expect(judge(breaches, KNOWN_PROCESS_USES)).toEqual({ fresh: [], stale: [] });
  });

  it(`has no function over ${MAX_FUNCTION_LINES} lines outside the stream state machines`, () => {
    const breaches = [...libCode, ...drills.filter((s) => !isTest(s.path))]
      .flatMap((s) => longFunctionsOf(s, MAX_FUNCTION_LINES).map((f) => `${s.path}:${f.name}`))
      .filter((b) => !STATE_MACHINES.includes(b));
    expect(judge(breaches, KNOWN_LONG_FUNCTIONS)).toEqual({ fresh: [], stale: [] });
  });

  it(`has no lib file over ${MAX_FILE_LINES} lines (tests excluded)`, () => {
    const breaches = libCode
      .filter((s) => s.file.getLineAndCharacterOfPosition(s.file.getEnd()).line + 1 > MAX_FILE_LINES)
      .map((s) => s.path);
    expect(judge(breaches, KNOWN_LONG_FILES)).toEqual({ fresh: [], stale: [] });
  });
});
