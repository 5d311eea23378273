import { describe, expect, it } from "vitest";
import { checkUserName, folderFoldedName, UserNameError } from "../../../src/auth/username.js";

describe("checkUserName", () => {
  it.each(["alice", "Bob Smith", "émile", "用户", "a.b", "x-y_z", "a..b", "user@example.org"])("accepts %j", (name) => {
    expect(checkUserName(name)).toBe(name);
  });

  it.each([
    ["", "empty"],
    ["../evil", "slash"],
    ["a/b", "slash"],
    ["a\\b", "backslash"],
    ["..", "dot"],
    [".", "dot"],
    [".hidden", "dot"],
    [".anki-sync-server.sqlite3", "dot"],
    ["a\nb", "control"],
    ["a\u0000b", "control"],
    ["a\u0085b", "control"],
    ["a\u2028b", "control"],
    ["a\u007fb", "control"],
    ["name:pass", "colon"],
    [" alice", "spaces"],
    ["alice ", "spaces"],
    ["e\u0301mile", "NFC"],
    ["x".repeat(201), "200 bytes"],
    ["é".repeat(101), "200 bytes"],
  ])("refuses %j (%s)", (name, why) => {
    expect(() => checkUserName(name)).toThrow(UserNameError);
    expect(() => checkUserName(name)).toThrow(new RegExp(why));
  });

  it("folds names the way case-insensitive file systems would", () => {
    expect(folderFoldedName("Alice")).toBe(folderFoldedName("alice"));
    expect(folderFoldedName("alice")).not.toBe(folderFoldedName("alicia"));
  });
});
