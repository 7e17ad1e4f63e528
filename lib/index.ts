/** The public API of pg-restore-drill: the pieces a drill is made of, for use outside the CLI. */
export type { BackupCandidate, BackupSource, Discovery } from './backups/backup-source.ts';
export { directorySource, requireCandidates } from './backups/directory-source.ts';
export { type BackupInspection, checkRestorable, inspectBackup } from './backups/integrity.ts';
export { type BackupNaming, classifyName, formatBackupName, parseBackupPattern } from './backups/naming.ts';
export { type DrillConfig, helpText, readConfig, SETTINGS } from './config.ts';
export { type DrillDeps, runDrill } from './drill/run-drill.ts';
export * from './errors.ts';
export type { Logger } from './log.ts';
export { buildReport, type DrillReport, formatSummary, writeReport } from './report/report.ts';
export { type PlainRestoreOptions, restorePlainDump } from './restore/psql-restore.ts';
export { startLocalTarget } from './targets/local.ts';
export { startTarget } from './targets/start-target.ts';
export type { Connection, Executor, StartedTarget, TargetHandle } from './targets/target.ts';
export { checkCanaryForeignKey, checkTransactions, checkUsers, snapshotCanary } from './verify/canary.ts';
export { CANARY_TRANSACTIONS, CANARY_USERS, canarySeedSql } from './verify/canary-fixture.ts';
export { checkForeignKeys, checkSequences } from './verify/constraints.ts';
