// The one place the CLI turns errors into messages and exit codes.
import { logLevelFrom } from "../config.js";
import { OperatorError } from "../errors.js";
import { logger, setLogLevel } from "../log.js";

export interface ActionReport {
  /** Prefix of the log line for an OperatorError ("backup refused"); none: the message alone. */
  refused?: string;
  /** Prefix of the log line for any other error ("backup failed", exit 1); none: the error propagates with its stack. */
  failed?: string;
  /** Print "error: <message>" on stderr instead of a log line (interactive commands). */
  plain?: boolean;
}

/**
 * Wraps a commander action: sets the log level (ANKI_SYNC_LOG_LEVEL, validated
 * by config), and ends the command on an operator error with its message and exit code.
 */
export function commandAction<A extends unknown[]>(report: ActionReport, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      setLogLevel(logLevelFrom(process.env));
      await fn(...args);
    } catch (err) {
      if (err instanceof OperatorError) {
        if (report.plain) process.stderr.write(`error: ${err.message}\n`);
        else logger.error(report.refused ? `${report.refused}: ${err.message}` : err.message);
        process.exitCode = err.exitCode;
        return;
      }
      if (report.failed === undefined) throw err;
      logger.error(`${report.failed}: ${(err as Error).message}`);
      process.exitCode = 1;
    }
  };
}
