import { defineConfig } from 'vitest/config';

/**
 * Three projects: `unit` (fast, beside the code, no servers), `integration` (real PostgreSQL, real
 * tools, real Pushgateway; `*.integration.test.ts` and `test/`), and `drills` (the restore drill itself,
 * run by `npm run drill`, never by `npm test`).
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
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Each file starts its own servers; two cores do not gain from more.
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: 'drills',
          include: ['drills/**/*.drill.ts'],
          // One drill at a time, steps in order, no retries: a flaky drill is a bug to find.
          pool: 'forks',
          maxWorkers: 1,
          fileParallelism: false,
          retry: 0,
          testTimeout: 60_000,
        },
      },
    ],
  },
});
