// The tests run the CLI as it ships, dist/ (compiled by `npm run build`). A dist/ older than the source
// would silently test old code: before the integration project runs, every compiled file is checked
// against its source and dist/ is rebuilt if any is missing, older, or has no source any more.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** What tsconfig.build.json compiles. */
const SOURCE_DIRS = ['lib', 'drills'];
const CONFIGS = ['tsconfig.json', 'tsconfig.build.json'];
/** What scripts/bundle.mjs joins tsc's output into, and the CLI runs from. */
const BUNDLE = 'dist/bundle/cli.js';

function walk(dir: string, keep: (name: string) => boolean): string[] {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return walk(path, keep);
    return keep(entry.name) ? [path] : [];
  });
}

const isShippedSource = (name: string) => name.endsWith('.ts') && !name.endsWith('.test.ts');

/** Why dist/ does not match the source, or undefined when it does. */
export function staleDist(root = ROOT): string | undefined {
  const sources = SOURCE_DIRS.flatMap((dir) => walk(join(root, dir), isShippedSource));
  const configTime = Math.max(...CONFIGS.map((name) => statSync(join(root, name)).mtimeMs));
  const compiled = new Set(
    SOURCE_DIRS.flatMap((dir) => walk(join(root, 'dist', dir), (n) => n.endsWith('.js'))),
  );
  for (const source of sources) {
    const output = join(root, 'dist', relative(root, source)).replace(/\.ts$/, '.js');
    compiled.delete(output);
    let built: number;
    try {
      built = statSync(output).mtimeMs;
    } catch {
      return `${relative(root, output)} is missing`;
    }
    if (built < statSync(source).mtimeMs) return `${relative(root, source)} changed after it was built`;
    if (built < configTime) return `a tsconfig changed after ${relative(root, output)} was built`;
  }
  const orphan = [...compiled][0];
  if (orphan) return `${relative(root, orphan)} has no source any more`;
  return staleBundle(root, sources);
}

/** The bundle is made from tsc's output: missing, or older than a source or the bundler, it is stale. */
function staleBundle(root: string, sources: string[]): string | undefined {
  let bundled: number;
  try {
    bundled = statSync(join(root, BUNDLE)).mtimeMs;
  } catch {
    return `${BUNDLE} is missing`;
  }
  const inputs = [...sources, join(root, 'scripts/bundle.mjs')];
  const newer = inputs.find((input) => statSync(input).mtimeMs > bundled);
  if (newer) return `${relative(root, newer)} changed after ${BUNDLE} was built`;
  // Each spec file is the one line that imports its bundle (a bare tsc run after a build rewrites it).
  const specs = walk(join(root, 'dist', 'drills'), (n) => n.endsWith('.drill.js'));
  const unjoined = specs.find((spec) => !readFileSync(spec, 'utf8').includes('scripts/bundle.mjs'));
  return unjoined ? `${relative(root, unjoined)} does not import its bundle` : undefined;
}

/** vitest globalSetup of the integration project: dist/ is current before any test spawns it. */
export default function setup(): void {
  const why = staleDist();
  if (!why) return;
  process.stderr.write(`dist/ is stale (${why}): npm run build\n`);
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  const still = staleDist();
  if (still) throw new Error(`dist/ is still stale after npm run build: ${still}`);
}
