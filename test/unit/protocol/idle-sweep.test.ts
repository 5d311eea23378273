// A sync abandoned mid-way (client crashed, network gone) is rolled back by
// the server's idle sweep once it has seen no request for the idle time; a
// sync that keeps making requests is left alone. The server's clock is moved
// forward through the fixture; the requests themselves are real HTTP.
import { afterEach, describe, expect, it } from "vitest";
import { SyncClient } from "./client.js";
import { card, deck, note, notetypeId } from "./rows.js";
import { SESSION_IDLE_MS, type TestServer, startTestServer } from "./server-fixture.js";
import { stored } from "./rows.js";

const MINUTE = 60_000;
let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("idle sweep", () => {
  it("rolls back a sync left idle past the idle time; its key then gets 409 and nothing was stored", async () => {
    server = await startTestServer({ users: ["idle:pw"], controlledClock: true });
    const a = await SyncClient.login(server.url, "idle", "pw");
    await a.meta();
    await a.start(0, false);
    const now = Math.floor(Date.now() / 1000);
    const changes = await a.applyChanges({ decks: [deck(1_700_000_000_001, "Abandoned", now)] });
    await a.applyChunk({
      notes: [note(1_700_000_000_100, notetypeId(changes, "Basic"), now, ["left", "behind"])],
      cards: [card(1_700_000_000_200, 1_700_000_000_100, 1_700_000_000_001, now)],
    });

    // The sweep runs once a minute: one sweep past the idle time is enough.
    await server.advanceClock(SESSION_IDLE_MS + 2 * MINUTE);
    expect(await a.status("/sync/sanityCheck2", { client: [[0, 0, 0], 1, 1, 0, 0, 6, 2, 1] })).toBe(409);
    stored(server.collectionPath("idle"), (col) => {
      expect(col.notes()).toEqual([]);
      expect(col.cards()).toEqual([]);
      expect(col.col().usn).toBe(0);
    });
    // The write transaction is gone too: another device syncs normally.
    const b = await SyncClient.login(server.url, "idle", "pw");
    await b.start(0, false);
    expect((await b.applyChanges({})).decks[0].map((d) => d.name)).toEqual(["Default"]);
    expect(await b.chunk()).toEqual({ done: true });
    await b.finish();
  });

  it("leaves a sync alone while it keeps making requests within the idle time", async () => {
    server = await startTestServer({ users: ["busy:pw"], controlledClock: true });
    const a = await SyncClient.login(server.url, "busy", "pw");
    await a.meta();
    await a.start(0, false);
    // 50 minutes in all, but never 30 without a request.
    await server.advanceClock(SESSION_IDLE_MS - 5 * MINUTE);
    await a.applyGraves({});
    await server.advanceClock(SESSION_IDLE_MS - 5 * MINUTE);
    await a.applyChanges({ tags: ["survives"] });
    await server.advanceClock(SESSION_IDLE_MS - 5 * MINUTE);
    expect(await a.chunk()).toEqual({ done: true });
    await a.finish();

    const b = await SyncClient.login(server.url, "busy", "pw");
    await b.start(0, false);
    expect((await b.applyChanges({})).tags).toEqual(["survives"]);
    await b.abort();
  });
});
