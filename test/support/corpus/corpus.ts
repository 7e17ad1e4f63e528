import { chmod } from 'node:fs/promises';
import type { CorpusGroup } from './case.ts';
import {
  expectationsGroup,
  insertFormatGroup,
  liveCanaryGroup,
  type Recorder,
  sessionQuirkGroup,
} from './dump-groups.ts';
import { extensionGroup, tablespaceGroup } from './host-groups.ts';

// The whole corpus (see case.ts for what a case is): every group, for a benchmark or an adversarial run.

export * from './case.ts';
export * from './dump-groups.ts';
export * from './host-groups.ts';

/**
 * The whole corpus under `root` (made traversable for the postgres OS user): every group's cases, the
 * live server of the canary-mode cases running until cleanup. Without `record`, the expectations group
 * is left out.
 */
export async function buildCorpus(root: string, record?: Recorder): Promise<CorpusGroup> {
  await chmod(root, 0o755);
  const groups: CorpusGroup[] = [];
  try {
    groups.push(await insertFormatGroup(root));
    groups.push(await sessionQuirkGroup(root));
    if (record) groups.push(await expectationsGroup(root, record));
    groups.push(await tablespaceGroup(root));
    groups.push(await extensionGroup(root));
    groups.push(await liveCanaryGroup(root));
  } catch (error) {
    for (const group of groups) await group.cleanup();
    throw error;
  }
  return {
    cases: groups.flatMap((g) => g.cases),
    cleanup: async () => {
      for (const group of groups) await group.cleanup();
    },
  };
}
