import { describe, expect, it } from "vitest";
import { takeChunk } from "../../../src/sync/chunk.js";

describe("takeChunk", () => {
  it("takes one id of each kind per round and stops at the 250 budget (252 at most)", () => {
    const range = (n: number, from: number) => Array.from({ length: n }, (_, i) => from + i);
    const ids = { revlog: range(300, 0), notes: range(300, 1000), cards: range(300, 2000) };
    const first = takeChunk(ids);
    expect(first.revlog.length + first.notes.length + first.cards.length).toBe(252);
    expect(first.done).toBe(false);
    // Taken from the end of each list, as Anki does.
    expect(first.revlog[0]).toBe(299);
  });

  it("reports done when the lists run out before the budget", () => {
    const ids = { revlog: [1], notes: [2, 3], cards: [] as number[] };
    const chunk = takeChunk(ids);
    expect(chunk).toEqual({ revlog: [1], notes: [3, 2], cards: [], done: true });
    expect(takeChunk(ids)).toEqual({ revlog: [], notes: [], cards: [], done: true });
  });

  it("is not done when the budget is used up exactly, and the next chunk is empty and done", () => {
    const ids = { revlog: Array.from({ length: 250 }, (_, i) => i), notes: [] as number[], cards: [] as number[] };
    expect(takeChunk(ids).done).toBe(false);
    expect(takeChunk(ids)).toEqual({ revlog: [], notes: [], cards: [], done: true });
  });
});
