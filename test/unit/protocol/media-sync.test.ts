// Media sync over HTTP as rslib drives it: begin, uploadChanges, mediaChanges
// until empty, downloadFiles; files checked in the user's media folder and
// in what another device downloads.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SyncClient, uploadZip } from "./client.js";
import { type TestServer, startTestServer } from "./server-fixture.js";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ users: ["media:pw", "limits:pw"] });
});

afterAll(async () => {
  await server.close();
});

const sha1 = (data: Buffer) => createHash("sha1").update(data).digest("hex");
const CAT = Buffer.from("not really a jpeg, but bytes all the same");
const BARK = Buffer.from("woof ".repeat(1000));
const CAT2 = Buffer.from("a different cat");

describe("media sync", () => {
  it("begin reports usn 0 and hands back the host key as the session key", async () => {
    const a = await SyncClient.login(server.url, "media", "pw");
    expect(await a.begin()).toEqual({ data: { usn: 0, sk: a.hostKey }, err: "" });
  });

  it("uploads files, lists them in mediaChanges, serves them back, and reports the usn in meta", async () => {
    const a = await SyncClient.login(server.url, "media", "pw");
    expect(await a.uploadChanges([["cat.jpg", CAT], ["bark.mp3", BARK]])).toEqual({ data: [2, 2], err: "" });
    expect(readFileSync(join(server.mediaFolder("media"), "cat.jpg"))).toEqual(CAT);
    expect(readFileSync(join(server.mediaFolder("media"), "bark.mp3"))).toEqual(BARK);

    const b = await SyncClient.login(server.url, "media", "pw");
    expect((await b.begin()).data.usn).toBe(2);
    expect((await b.meta()).media_usn).toBe(2);
    const changes = (await b.mediaChanges(0)).data;
    expect(changes).toEqual([
      ["cat.jpg", 1, sha1(CAT)],
      ["bark.mp3", 2, sha1(BARK)],
    ]);
    expect((await b.mediaChanges(2)).data).toEqual([]);
    const files = await b.downloadFiles(["cat.jpg", "bark.mp3"]);
    expect([...files.keys()]).toEqual(["cat.jpg", "bark.mp3"]);
    expect(files.get("cat.jpg")).toEqual(CAT);
    expect(files.get("bark.mp3")).toEqual(BARK);
  });

  it("replaces and deletes files; identical re-uploads and deletions of absent files take no usn", async () => {
    const a = await SyncClient.login(server.url, "media", "pw");
    const reply = await a.uploadChanges([
      ["cat.jpg", CAT2],
      ["bark.mp3", null],
      ["never-there.png", null],
      ["bark2.mp3", BARK],
    ]);
    expect(reply.data).toEqual([4, 5]);
    expect(readFileSync(join(server.mediaFolder("media"), "cat.jpg"))).toEqual(CAT2);
    expect(existsSync(join(server.mediaFolder("media"), "bark.mp3"))).toBe(false);
    expect((await a.uploadChanges([["bark2.mp3", BARK]])).data).toEqual([1, 5]);
    expect((await a.mediaChanges(2)).data).toEqual([
      ["cat.jpg", 3, sha1(CAT2)],
      ["bark.mp3", 4, ""],
      ["bark2.mp3", 5, sha1(BARK)],
    ]);
    expect((await a.downloadFiles(["cat.jpg"])).get("cat.jpg")).toEqual(CAT2);
  });

  it("answers 409 for a deleted file or one missing on disk, which is then forgotten", async () => {
    const a = await SyncClient.login(server.url, "media", "pw");
    expect(await a.status("/msync/downloadFiles", { files: ["bark.mp3"] })).toBe(409);
    rmSync(join(server.mediaFolder("media"), "bark2.mp3"));
    expect(await a.status("/msync/downloadFiles", { files: ["bark2.mp3"] })).toBe(409);
    const names = (await a.mediaChanges(0)).data.map((row) => row[0]);
    expect(names).not.toContain("bark2.mp3");
  });

  it("refuses bad requests with 400 and stores nothing of a refused batch", async () => {
    const a = await SyncClient.login(server.url, "limits", "pw");
    expect(await a.status("/msync/begin", {})).toBe(400);
    expect(await a.status("/msync/mediaChanges", { lastUsn: "0" })).toBe(400);
    expect(await a.status("/msync/downloadFiles", { files: Array.from({ length: 26 }, (_, i) => `f${i}`) })).toBe(400);
    // 26 entries in one zip is over the limit of 25: the whole batch is refused.
    const tooMany = await uploadZip(Array.from({ length: 26 }, (_, i): [string, Buffer] => [`f${i}.txt`, Buffer.from(String(i))]));
    expect((await a.post("/msync/uploadChanges", tooMany, { raw: true })).status).toBe(400);
    expect((await a.post("/msync/uploadChanges", Buffer.from("not a zip"), { raw: true })).status).toBe(400);
    expect((await a.mediaChanges(0)).data).toEqual([]);
    expect(existsSync(join(server.mediaFolder("limits"), "f0.txt"))).toBe(false);
    expect((await a.begin()).data.usn).toBe(0);
  });
});
