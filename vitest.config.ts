import { defineConfig } from 'vitest/config';
import { DRILL_PROJECT } from './lib/drill/run-specs.ts';

const { cache: _cache, exclude: _exclude, ...DRILL_PROJECT_OPTIONS } = DRILL_PROJECT;

/**
 * Three projects: `unit` (fast, beside the code, no servers), `integration` (real PostgreSQL, real
 * tools, real Pushgateway; `*.integration.test.ts` and `test/`; it spawns the CLI as it ships, dist/,
 * rebuilt first when older than the source), and `drills` (the TypeScript drill spec, for editors and
 * `vitest list`). `npm run drill` loads no config file: it runs dist/drills/*.drill.js with the project
 * options inline (lib/drill/run-specs.ts, DRILL_PROJECT).
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['lib/**/*.test.ts', 'k8s/**/*.test.ts', 'scripts/**/*.test.ts'],
          exclude: ['**/*.integration.test.ts', '**/node_modules/**'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['lib/**/*.integration.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/node_modules/**'],
          globalSetup: ['test/support/fresh-dist.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Each file starts its own servers; two cores do not gain from more.
          maxWorkers: 2,
        },
      },
      {
        // The same options `npm run drill` runs with (include: drills/**/*.drill.ts from the source).
        test: { ...DRILL_PROJECT_OPTIONS, include: [...DRILL_PROJECT.include] },
      },
    ],
  },
});
