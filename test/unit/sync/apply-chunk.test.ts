// The card conflict rule of applyChunk (src/sync/apply-chunk.ts, applied
// inside the upsert of storage/cards.ts): an incoming card replaces the
// stored one unless the stored one changed since the client last synced
// (usn >= the client's usn) and is at least as new (mod >= incoming mod).
import Database from "better-sqlite3";
import { beforeEach, describe, expect, it } from "vitest";
import type { CardRow } from "../../../src/collection/storage/cards.js";
import { mergeChunk, parseIncomingChunk } from "../../../src/sync/apply-chunk.js";
import type { SyncSession } from "../../../src/users/session.js";

const SERVER_USN = 50;
const CLIENT_USN = 40;
let db: Database.Database;

function card(id: number, mod: number, usn: number, due: number): CardRow {
  return { id, nid: 1, did: 1, ord: 0, mod, usn, type: 2, queue: 2, due, ivl: 1, factor: 2500, reps: 1, lapses: 0, left: 0, odue: 0, odid: 0, flags: 0, data: "{}" };
}

function stored(id: number): { due: number; usn: number; mod: number } | undefined {
  return db.prepare("SELECT due, usn, mod FROM cards WHERE id = ?").get(id) as { due: number; usn: number; mod: number } | undefined;
}

function apply(cards: CardRow[]): void {
  const session = { serverUsn: SERVER_USN, clientUsn: CLIENT_USN, notetypeShapes: new Map() } as unknown as SyncSession;
  mergeChunk(db as never, session, { revlog: [], cards, notes: [] });
}

beforeEach(() => {
  db = new Database(":memory:");
  db.exec(`CREATE TABLE cards (id integer PRIMARY KEY, nid integer NOT NULL, did integer NOT NULL, ord integer NOT NULL,
    mod integer NOT NULL, usn integer NOT NULL, type integer NOT NULL, queue integer NOT NULL, due integer NOT NULL,
    ivl integer NOT NULL, factor integer NOT NULL, reps integer NOT NULL, lapses integer NOT NULL, left integer NOT NULL,
    odue integer NOT NULL, odid integer NOT NULL, flags integer NOT NULL, data text NOT NULL)`);
  const insert = db.prepare("INSERT INTO cards VALUES (?, 1, 1, 0, ?, ?, 2, 2, ?, 1, 2500, 1, 0, 0, 0, 0, 0, '{}')");
  insert.run(1, 1000, 30, 111); // unchanged since the client's last sync (usn 30 < 40)
  insert.run(2, 1000, 45, 222); // changed on the server since then, same age as the incoming card
  insert.run(3, 1000, 45, 333); // changed on the server since then, older than the incoming card
  insert.run(4, 2000, 45, 444); // changed on the server since then, newer than the incoming card
});

describe("applyChunk: cards", () => {
  it("adds a new card with the server's usn", () => {
    apply([card(9, 1000, -1, 999)]);
    expect(stored(9)).toEqual({ due: 999, usn: SERVER_USN, mod: 1000 });
  });

  it("replaces a card the server has not changed since the client's last sync, even with an older mod", () => {
    apply([card(1, 900, -1, 1)]);
    expect(stored(1)).toEqual({ due: 1, usn: SERVER_USN, mod: 900 });
  });

  it("keeps a card the server changed since then when it is at least as new", () => {
    apply([card(2, 1000, -1, 2), card(4, 1500, -1, 4)]);
    expect(stored(2)).toEqual({ due: 222, usn: 45, mod: 1000 });
    expect(stored(4)).toEqual({ due: 444, usn: 45, mod: 2000 });
  });

  it("replaces a card the server changed since then when the incoming one is newer", () => {
    apply([card(3, 1001, -1, 3)]);
    expect(stored(3)).toEqual({ due: 3, usn: SERVER_USN, mod: 1001 });
  });
});

describe("applyChunk: malformed rows", () => {
  const good = [1, 1, 1, 0, 1000, -1, 2, 2, 5, 1, 2500, 1, 0, 0, 0, 0, 0, "{}"];
  const body = (chunk: unknown) => Buffer.from(JSON.stringify({ chunk }));
  const refusal = (chunk: unknown): string => {
    try {
      parseIncomingChunk(body(chunk));
    } catch (err) {
      expect((err as { status?: number }).status).toBe(400);
      return (err as Error).message;
    }
    throw new Error("accepted");
  };

  it("names the row and the field of a bad value (the text is built only on error)", () => {
    const badOrd = [...good];
    badOrd[3] = 70000;
    expect(refusal({ cards: [good, badOrd] })).toContain("cards[1] ord: 70000 is outside 0..65535");
    expect(refusal({ cards: [good, good.slice(0, 17)] })).toContain("cards[1]: expected 18 elements, got 17");
    expect(refusal({ revlog: [[1, 1, -1, 3, 1, 1, 2500, 1000, "x"]] })).toContain("revlog[0] type: expected a number");
    expect(refusal({ notes: [[1, "g", 1, 1, -1, 7, "f", "", "", 0, ""]] })).toContain("notes[0] tags: expected a string");
  });

  it("reads good rows, floats truncated where Anki is lenient", () => {
    const lenient = [...good];
    lenient[8] = 5.7;
    const chunk = parseIncomingChunk(body({ cards: [good, lenient], revlog: [], notes: [] }));
    expect(chunk.cards.map((c) => c.due)).toEqual([5, 5]);
  });
});
