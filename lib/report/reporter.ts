import type { Logger } from '../log.ts';
import type { DrillReport } from './report.ts';

/**
 * Somewhere a finished run's report goes: report.json, a Pushgateway, a Kubernetes Event. A reporter may
 * note its own outcome on the report (`push`, `event`) for the reporters after it; the file comes last.
 */
export interface Reporter {
  /** In the operator's words: "report.json", "the metrics push", "the Kubernetes Event". */
  readonly name: string;
  publish(report: DrillReport): Promise<void>;
}

/**
 * Publishes the report through each reporter in order. A reporter that fails is logged and the next
 * one still runs: reporting is never the drill's failure (a reporter that must fail the run, such as
 * the push under --require-push, says so on the report itself).
 */
export async function publishReport(
  reporters: readonly Reporter[],
  report: DrillReport,
  log: Logger,
): Promise<void> {
  for (const reporter of reporters) {
    try {
      await reporter.publish(report);
    } catch (error) {
      log.warn(
        `could not publish ${reporter.name}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}
