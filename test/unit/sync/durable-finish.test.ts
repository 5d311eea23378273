// A normal sync's finish is acknowledged only once its changes are on disk,
// and the flush does not hold up other users. The commit runs with SQLite's
// synchronous=NORMAL and the server fsyncs the collection's WAL itself from
// the thread pool; here that fsync is held (a gate in place of the real one)
// to observe what happens meanwhile: the finish reply must wait for it, the
// fsync must be of the user's WAL after the commit, and another user's request
// must still be answered. Order of events is asserted, not durations.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

const gate = vi.hoisted(() => {
  const calls: string[] = [];
  let release: (() => void) | undefined;
  let hold = false;
  return {
    calls,
    holdNext() {
      hold = true;
    },
    release() {
      release?.();
    },
    async wait(path: string): Promise<void> {
      calls.push(path);
      if (!hold) return;
      hold = false;
      await new Promise<void>((resolve) => (release = resolve));
    },
  };
});

vi.mock("../../../src/durable.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../../src/durable.js")>();
  return {
    ...real,
    fsyncFile: async (path: string) => {
      await gate.wait(path);
      await real.fsyncFile(path);
    },
  };
});

import { SyncClient } from "../protocol/client.js";
import { counts, deck, stored } from "../protocol/rows.js";
import { type TestServer, startTestServer } from "../protocol/server-fixture.js";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ users: ["ann:pw-ann", "ben:pw-ben"] });
});

afterAll(async () => {
  await server.close();
});

describe("finish of a normal sync", () => {
  it("answers only after the WAL is fsynced, while other users are served", async () => {
    const ann = await SyncClient.login(server.url, "ann", "pw-ann");
    const ben = await SyncClient.login(server.url, "ben", "pw-ben");
    const DECK_ID = 1_700_000_000_001;

    await ann.meta();
    await ann.start(0, false);
    await ann.applyGraves({});
    const changes = await ann.applyChanges({ decks: [deck(DECK_ID, "Held", Math.floor(Date.now() / 1000))] });
    await ann.allChunks();
    await ann.applyChunk({});
    const sanity = await ann.sanityCheck(counts({ cards: 0, notes: 0, revlog: 0, notetypes: changes.models.length, decks: 2, deckConfigs: 1 }));
    expect(sanity.status).toBe("ok");

    const events: string[] = [];
    gate.holdNext();
    const finished = ann.finish().then(() => events.push("ann finished"));
    await vi.waitFor(() => expect(gate.calls).toContain(`${server.collectionPath("ann")}-wal`));
    // The commit happened before the fsync: another connection sees it (usn 0 -> 1).
    expect(stored(server.collectionPath("ann"), (col) => col.col().usn)).toBe(1);
    expect(stored(server.collectionPath("ann"), (col) => col.count("decks"))).toBe(2);

    await ben.meta();
    events.push("ben answered");
    expect(events).toEqual(["ben answered"]);

    gate.release();
    await finished;
    expect(events).toEqual(["ben answered", "ann finished"]);
    expect(await ann.meta()).toMatchObject({ usn: 1 });
  });
});
