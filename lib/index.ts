/** The public API of pg-restore-drill: the pieces a drill is made of, for use outside the CLI. */
export { BackupAccessDeniedError, requireReadable } from './backups/access-error.ts';
export type { BackupCandidate, BackupSource, Discovery } from './backups/backup-source.ts';
export { directorySource, requireCandidates } from './backups/directory-source.ts';
export { checkExtensions, extensionProvider } from './backups/extensions-check.ts';
export { type InspectRequest, inspectBackup } from './backups/inspect.ts';
export {
  type BackupInspection,
  checkRestorable,
  inspectPlainBackup,
  readBackupHeader,
} from './backups/integrity.ts';
export { type BackupNaming, classifyName, formatBackupName, parseBackupPattern } from './backups/naming.ts';
export { settledNewest } from './backups/settle.ts';
export { type SizePoint, sizeSeries } from './backups/size-series.ts';
export { checkTablespaces } from './backups/tablespaces-check.ts';
export { readTargetOffer } from './backups/target-offer.ts';
export { type DrillConfig, helpText, readConfig, SETTINGS } from './config.ts';
export { type CheckOnlyDeps, runCheckOnly } from './drill/check-only.ts';
export { type DrillDeps, runDrill } from './drill/run-drill.ts';
export { copyDigest, type TableDigest } from './dump/copy-digest.ts';
export { renameCreateDatabase } from './dump/database-statements.ts';
export { type DumpRequirements, dumpRequirements } from './dump/dump-requirements.ts';
export { DatabaseNotInDumpError, DumpStatementError } from './dump/errors.ts';
export { type DecodedInsert, decodeInsert } from './dump/insert-statement.ts';
export { originalLine, splitDatabase } from './dump/split-database.ts';
export * from './errors.ts';
export type { Executor } from './exec/executor.ts';
export { podExecutor } from './exec/pod.ts';
export { runAssertion } from './expect/assertions.ts';
export { checkExpectations } from './expect/check-expectations.ts';
export { ExpectationsError } from './expect/errors.ts';
export {
  type Assertion,
  type Expectations,
  loadExpectations,
  parseExpectations,
} from './expect/expectations.ts';
export { formatExpectations, RecordError } from './expect/record.ts';
export { recordFromBackup } from './expect/record-backup.ts';
export { recordFromServer } from './expect/record-server.ts';
export { runClusterDrill } from './k8s/ci-gate.ts';
export { recordDrillEvent } from './k8s/events.ts';
export { loadKubeConfig } from './k8s/kube-config.ts';
export type { Logger } from './log.ts';
export type { Connection } from './pg/connection.ts';
export { type CheckReport, formatCheckSummary } from './report/check-report.ts';
export { forecastRto, type RtoForecast } from './report/forecast.ts';
export { buildReport, type DrillReport, formatSummary } from './report/report.ts';
export { writeReport } from './report/report-file.ts';
export { terminationMessage, terminationMessageReporter } from './report/termination-message.ts';
export { type AllowRule, judgeErrors, validateAllowRules } from './restore/allowed-errors.ts';
export { restoreArchive } from './restore/archive-restore.ts';
export { globalsFilter } from './restore/bootstrap-role-filter.ts';
export { swapCanary } from './restore/canary-swap.ts';
export { type PlainRestoreOptions, restorePlainDump } from './restore/psql-restore.ts';
export { type RestoredBackup, type RestoreRequest, restoreBackup } from './restore/restore-backup.ts';
export { restoreDatabaseSection } from './restore/section-restore.ts';
export { TableDrillUnsupportedError, TableNotInDumpError } from './table/errors.ts';
export { parseTableName, showTableName, type TableName, tableScratchDatabase } from './table/table-name.ts';
export { type RestoredTable, restoreTable } from './table/table-restore.ts';
export { type TableSelectStream, tableSelect } from './table/table-select.ts';
export { verifyTable } from './table/table-verify.ts';
export { type CanaryCondition, type DrillLeftover, inspectCanary } from './targets/leftovers.ts';
export { startLocalTarget } from './targets/local.ts';
export { startTarget } from './targets/start-target.ts';
export type { StartedTarget, TargetHandle } from './targets/target.ts';
export {
  type CanaryBasis,
  type CanarySnapshot,
  checkCanaryForeignKey,
  checkTransactions,
  checkUsers,
  snapshotCanary,
} from './verify/canary.ts';
export {
  type CanaryContract,
  type DiscoveredCanary,
  defaultCanaryContract,
} from './verify/canary-contract.ts';
export { CanaryContractError, discoverCanary } from './verify/canary-discovery.ts';
export { CANARY_TRANSACTIONS, CANARY_USERS, canarySeedSql } from './verify/canary-fixture.ts';
export { checkForeignKeys } from './verify/constraints.ts';
export { checkConstraintsEverywhere } from './verify/constraints-everywhere.ts';
export { readDatabase, readDigests, verifyDeep } from './verify/deep.ts';
export { type DeepChecks, startDeepChecks } from './verify/deep-checks.ts';
export { checkSequences } from './verify/sequences.ts';
