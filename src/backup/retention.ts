// Which snapshots to keep: the newest of each of the last N days that have
// one (--keep-daily), and the newest of each of the last M ISO weeks that
// have one (--keep-weekly). Days and weeks are UTC, like the snapshot names.
// Without either option nothing is deleted.
import { parseSnapshotName } from "./layout.js";

export interface RetentionPolicy {
  keepDaily?: number;
  keepWeekly?: number;
}

/** ISO 8601 week of a UTC date, as "2026-W34" (the year is the week's, not the date's). */
export function isoWeek(date: Date): string {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const day = d.getUTCDay() || 7; // Monday 1 .. Sunday 7
  d.setUTCDate(d.getUTCDate() + 4 - day); // the Thursday of this week decides the year
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

const dayOf = (date: Date) => date.toISOString().slice(0, 10);

/** Newest snapshot of each of the newest `count` buckets. */
function newestPerBucket(sorted: { name: string; date: Date }[], bucket: (d: Date) => string, count: number): string[] {
  const kept: string[] = [];
  const seen = new Set<string>();
  for (let i = sorted.length - 1; i >= 0 && seen.size < count; i--) {
    const entry = sorted[i]!;
    const key = bucket(entry.date);
    if (seen.has(key)) continue;
    seen.add(key);
    kept.push(entry.name);
  }
  return kept;
}

/**
 * Splits snapshot names into those to keep and those to delete. `protect`
 * (the snapshot just taken) is always kept. Names that are not snapshot names
 * are never returned for deletion.
 */
export function planRetention(names: string[], policy: RetentionPolicy, protect?: string): { keep: string[]; remove: string[] } {
  const dated = names
    .map((name) => ({ name, date: parseSnapshotName(name) }))
    .filter((e): e is { name: string; date: Date } => e.date !== undefined)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (policy.keepDaily === undefined && policy.keepWeekly === undefined) {
    return { keep: dated.map((e) => e.name), remove: [] };
  }
  const keep = new Set<string>();
  if (protect !== undefined) keep.add(protect);
  for (const n of newestPerBucket(dated, dayOf, policy.keepDaily ?? 0)) keep.add(n);
  for (const n of newestPerBucket(dated, isoWeek, policy.keepWeekly ?? 0)) keep.add(n);
  return {
    keep: dated.filter((e) => keep.has(e.name)).map((e) => e.name),
    remove: dated.filter((e) => !keep.has(e.name)).map((e) => e.name),
  };
}
