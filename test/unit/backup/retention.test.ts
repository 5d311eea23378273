// Which snapshots --keep-daily / --keep-weekly keep.
import { describe, expect, it } from "vitest";
import { parseSnapshotName, snapshotName } from "../../../src/backup/layout.js";
import { isoWeek, planRetention } from "../../../src/backup/retention.js";

const at = (iso: string) => snapshotName(new Date(iso));

describe("snapshot names", () => {
  it("are sortable UTC stamps without colons, and parse back", () => {
    const name = at("2026-08-23T03:15:07.123Z");
    expect(name).toBe("2026-08-23T031507Z");
    expect(parseSnapshotName(name)?.toISOString()).toBe("2026-08-23T03:15:07.000Z");
    expect(parseSnapshotName(`${name}-2`)?.toISOString()).toBe("2026-08-23T03:15:07.000Z");
    expect(parseSnapshotName("2026-08-23")).toBeUndefined();
    expect(parseSnapshotName(".incomplete-2026-08-23T031507Z-12")).toBeUndefined();
    expect(parseSnapshotName("2026-13-45T999999Z")).toBeUndefined();
  });
});

describe("isoWeek", () => {
  it.each([
    ["2026-01-01", "2026-W01"], // Thursday
    ["2027-01-01", "2026-W53"], // Friday: still the last week of 2026
    ["2024-12-30", "2025-W01"], // Monday of the week holding 2025's first Thursday
    ["2026-08-23", "2026-W34"], // Sunday
    ["2026-08-24", "2026-W35"], // Monday
  ])("%s is %s", (day, week) => {
    expect(isoWeek(new Date(`${day}T12:00:00Z`))).toBe(week);
  });
});

describe("planRetention", () => {
  // Nightly at 03:00 for 40 days, plus an extra manual one on the last day.
  const nightly = Array.from({ length: 40 }, (_, i) => at(new Date(Date.UTC(2026, 6, 1 + i, 3)).toISOString()));
  const extra = at("2026-08-09T15:00:00Z");
  const all = [...nightly, extra];

  it("keeps everything without a policy", () => {
    expect(planRetention(all, {})).toEqual({ keep: [...all].sort(), remove: [] });
  });

  it("keeps the newest snapshot of each of the last N days", () => {
    const { keep, remove } = planRetention(all, { keepDaily: 3 });
    expect(keep).toEqual([nightly[37], nightly[38], extra]);
    expect(remove).toHaveLength(all.length - 3);
    expect(remove).toContain(nightly[39]); // same day as the newer manual one
  });

  it("keeps the newest snapshot of each of the last N ISO weeks, together with the dailies", () => {
    const { keep } = planRetention(all, { keepDaily: 2, keepWeekly: 4 });
    const weeks = keep.map((n) => isoWeek(parseSnapshotName(n)!));
    expect(new Set(weeks).size).toBe(4);
    expect(keep).toContain(extra);
    expect(keep).toContain(nightly[38]);
    // each kept weekly one is the newest of its week
    for (const n of keep) {
      const w = isoWeek(parseSnapshotName(n)!);
      const newest = all.filter((m) => isoWeek(parseSnapshotName(m)!) === w).sort().at(-1);
      if (n !== nightly[38]) expect(n).toBe(newest);
    }
  });

  it("always keeps the protected snapshot, even with zero of both", () => {
    expect(planRetention(all, { keepDaily: 0, keepWeekly: 0 }, nightly[0])).toEqual({ keep: [nightly[0]], remove: all.filter((n) => n !== nightly[0]).sort() });
  });

  it("never offers foreign names for deletion", () => {
    const { keep, remove } = planRetention(["notes.txt", ".incomplete-x", ...nightly.slice(0, 3)], { keepDaily: 1 });
    expect(keep).toEqual([nightly[2]]);
    expect(remove).toEqual([nightly[0], nightly[1]]);
  });
});
