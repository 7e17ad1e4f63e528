// Prints one closing line, "N passed, N failed, N skipped", over vitest's JSON reports, names every
// skipped test, and fails when no test ran at all, when one failed, or when one was skipped that no
// `--expect-skip NAME` argument names (NAME is matched against the test's full name): a green run that
// tested nothing, or that skipped what it was meant to test, must not look like a pass.
//   node scripts/test-totals.mjs [--expect-skip NAME]... REPORT.json...
import { readFileSync } from 'node:fs';

const expected = [];
const files = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--expect-skip') {
    const name = args[++i];
    if (name === undefined || name === '') {
      console.error('test-totals: --expect-skip needs the name of a test that may skip');
      process.exit(2);
    }
    expected.push(name);
  } else files.push(args[i]);
}

let passed = 0;
let failed = 0;
const skipped = [];
for (const file of files) {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  for (const result of report.testResults ?? []) {
    for (const test of result.assertionResults ?? []) {
      if (test.status === 'pending' || test.status === 'skipped' || test.status === 'todo')
        skipped.push({ file: result.name, name: test.fullName ?? test.title });
    }
  }
  // A file that failed to load (an engineSkip throw under CI=true) has no tests to count: count it.
  failed += (report.testResults ?? []).filter(
    (r) => r.status === 'failed' && (r.assertionResults ?? []).length === 0,
  ).length;
}
const unexpected = skipped.filter((s) => !expected.some((name) => s.name.includes(name)));
console.log(`${passed} passed, ${failed} failed, ${skipped.length} skipped`);
for (const s of skipped) {
  console.log(`  skipped${unexpected.includes(s) ? '' : ' (expected)'}: ${s.file}: ${s.name}`);
}
if (unexpected.length > 0)
  console.error(
    `${unexpected.length} test(s) skipped that .ci/run did not expect to skip: CI must run every test ` +
      '(install what the skip names, or pass --expect-skip NAME for a skip that is meant)',
  );
if (passed === 0 || failed > 0 || unexpected.length > 0) process.exitCode = 1;
