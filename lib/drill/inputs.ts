import type { BackupCandidate } from '../backups/backup-source.ts';
import { directorySource, requireCandidates } from '../backups/directory-source.ts';
import type { BackupNaming } from '../backups/naming.ts';
import type { DrillConfig } from '../config.ts';
import { ExpectationsError } from '../expect/errors.ts';
import type { Expectations } from '../expect/expectations.ts';
import { type AllowRule, validateAllowRules } from '../restore/allowed-errors.ts';

/** The operator's inputs, validated before anything is started. */
export interface Inputs {
  expectations: Expectations | undefined;
  allowedErrors: AllowRule[];
  newestBackup: BackupCandidate | undefined;
}

/** Bad inputs are bad configuration: a bad expectations file or allow rule is found before any server starts. */
export async function readInputs(config: DrillConfig, naming: BackupNaming): Promise<Inputs> {
  // The expectations file (and its YAML parser) only when there is one: not on every drill's start-up.
  const expectations = config.expect
    ? await (await import('../expect/expectations.ts')).loadExpectations(config.expect)
    : undefined;
  const recordedCanary = expectations?.canary?.database;
  if (expectations && recordedCanary && config.canary !== 'none' && recordedCanary !== config.canary) {
    throw new ExpectationsError(
      expectations.file,
      'canary.database',
      `is ${recordedCanary}, but this drill's canary is ${config.canary}: set --canary ${recordedCanary}, or record the expectations again for ${config.canary}`,
    );
  }
  const allowedErrors = [...(config.allowedErrors ?? []), ...(expectations?.allow ?? [])];
  validateAllowRules(allowedErrors);
  const newestBackup = config.backups
    ? requireCandidates(await directorySource(config.backups, naming).discover(), naming)
    : undefined;
  return { expectations, allowedErrors, newestBackup };
}
