// One line per event on stderr, so journalctl shows each request as one entry.
// Values are key=value pairs; strings with spaces are quoted. Never pass a
// password or host key here: callers log user names and routes only.

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, string | number | boolean | null | undefined>;

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
let threshold: LogLevel = (process.env.ANKI_SYNC_LOG_LEVEL as LogLevel | undefined) ?? "info";

export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

function formatValue(value: string | number | boolean | null): string {
  if (typeof value !== "string") return String(value);
  // Control characters would split a journal entry; escape them.
  const escaped = value.replace(/[\u0000-\u001f"\\]/g, (c) => (c === '"' || c === "\\" ? `\\${c}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`));
  return /[\s="]/.test(value) || escaped !== value || value === "" ? `"${escaped}"` : value;
}

export function log(level: LogLevel, message: string, fields: LogFields = {}): void {
  if (levelRank[level] < levelRank[threshold]) return;
  const parts = [level, formatValue(message)];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    parts.push(`${key}=${formatValue(value)}`);
  }
  process.stderr.write(parts.join(" ") + "\n");
}

export const logger = {
  debug: (message: string, fields?: LogFields) => log("debug", message, fields),
  info: (message: string, fields?: LogFields) => log("info", message, fields),
  warn: (message: string, fields?: LogFields) => log("warn", message, fields),
  error: (message: string, fields?: LogFields) => log("error", message, fields),
};
