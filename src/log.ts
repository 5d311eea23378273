// One line per event on stderr, so journalctl shows each request as one entry.
// Values are key=value pairs; strings with spaces are quoted. Never pass a
// password or host key here: callers log user names and routes only.
//
// When stderr is the systemd journal (systemd sets JOURNAL_STREAM to the
// device:inode of the stream it connected), each line starts with a syslog
// priority prefix (<3> error, <4> warning, <6> info, <7> debug) that journald
// strips and stores as the entry's priority, so `journalctl -p err` works.
// ANKI_SYNC_LOG_PRIORITY=1/0 forces the prefixes on/off (containers that feed
// another syslog-style collector).
import { fstatSync } from "node:fs";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, string | number | boolean | null | undefined>;

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** Set from ANKI_SYNC_LOG_LEVEL by the CLI once the configuration is read (src/config.ts validates it). */
let threshold: LogLevel = "info";

/** syslog(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
export const SYSLOG_PRIORITY: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };

export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

/**
 * True when file descriptor `fd` is the stream systemd connected to the
 * journal: JOURNAL_STREAM is "<device>:<inode>" of that stream (decimal), and
 * it is only meaningful if the descriptor still is that very stream (a child
 * whose stderr was redirected elsewhere inherits the variable too).
 */
export function isJournalStream(env: NodeJS.ProcessEnv = process.env, fd = 2): boolean {
  const value = env.JOURNAL_STREAM;
  if (!value) return false;
  const match = /^(\d+):(\d+)$/.exec(value.trim());
  if (!match) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(match[1]!) && st.ino === BigInt(match[2]!);
  } catch {
    return false;
  }
}

function priorityPrefixWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  const forced = env.ANKI_SYNC_LOG_PRIORITY?.trim().toLowerCase();
  if (forced !== undefined && forced !== "") return !["0", "false", "no", "off"].includes(forced);
  return isJournalStream(env);
}

let withPriority = priorityPrefixWanted();

/** Re-evaluates (or forces) the priority prefixes; for tests and for after stderr was redirected. */
export function setPriorityPrefix(enabled?: boolean): void {
  withPriority = enabled ?? priorityPrefixWanted();
}

function formatValue(value: string | number | boolean | null): string {
  if (typeof value !== "string") return String(value);
  // Control characters would split a journal entry; escape them.
  const escaped = value.replace(/[\u0000-\u001f"\\]/g, (c) => (c === '"' || c === "\\" ? `\\${c}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`));
  return /[\s="]/.test(value) || escaped !== value || value === "" ? `"${escaped}"` : value;
}

/** The line `log` writes, without the trailing newline. */
export function formatLine(level: LogLevel, message: string, fields: LogFields = {}, priority = withPriority): string {
  const parts = [level, formatValue(message)];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    parts.push(`${key}=${formatValue(value)}`);
  }
  const line = parts.join(" ");
  return priority ? `<${SYSLOG_PRIORITY[level]}>${line}` : line;
}

export function log(level: LogLevel, message: string, fields: LogFields = {}): void {
  if (levelRank[level] < levelRank[threshold]) return;
  process.stderr.write(formatLine(level, message, fields) + "\n");
}

export const logger = {
  debug: (message: string, fields?: LogFields) => log("debug", message, fields),
  info: (message: string, fields?: LogFields) => log("info", message, fields),
  warn: (message: string, fields?: LogFields) => log("warn", message, fields),
  error: (message: string, fields?: LogFields) => log("error", message, fields),
};
