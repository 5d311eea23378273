import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PasswordFileError, passwordFilesSignature, readPasswordFile } from "../../../src/auth/password-files.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "pwfile-test-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): { name: string; path: string; origin: string } {
  const path = join(dir, name);
  writeFileSync(path, content);
  return { name: "alice", path, origin: "--user-file" };
}

const PBKDF2 = "$pbkdf2-sha256$i=600000,l=32$tonuvYGpksNFQBlEmm3lxg$oQ1sqlkoU7Qn72xNoIq+NHyW3yOOER8EZ6mIJiv5GYc";

describe("password files", () => {
  it("hold a plain password, trailing newline stripped", () => {
    expect(readPasswordFile(file("a", "s3cret pass\n"))).toMatchObject({ name: "alice", secret: "s3cret pass", hashed: false });
    expect(readPasswordFile(file("b", "s3cret\r\n\n"))).toMatchObject({ secret: "s3cret" });
    expect(readPasswordFile(file("c", "  spaced  "))).toMatchObject({ secret: "  spaced  " });
  });

  it("or a PHC hash", () => {
    expect(readPasswordFile(file("p", `${PBKDF2}\n`))).toMatchObject({ secret: PBKDF2, hashed: true });
    expect(readPasswordFile(file("q", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"))).toMatchObject({ hashed: true });
  });

  it("name the file when empty, missing, unreadable or multi-line, and never show the content", () => {
    const cases: [ReturnType<typeof file>, RegExp][] = [
      [file("empty", ""), /is empty/],
      [file("newline", "\n"), /is empty/],
      [file("multi", "line one\nline two\n"), /more than one line/],
      [{ name: "alice", path: join(dir, "missing"), origin: "SYNC_USER_FILES" }, /does not exist/],
      [{ name: "alice", path: dir, origin: "SYNC_USER_FILES" }, /directory/],
    ];
    if (process.getuid?.() !== 0) {
      const locked = file("locked", "pw");
      chmodSync(locked.path, 0);
      cases.push([locked, /not readable/]);
    }
    for (const [spec, why] of cases) {
      let error: unknown;
      try {
        readPasswordFile(spec);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(PasswordFileError);
      expect((error as Error).message).toMatch(why);
      expect((error as Error).message).toContain(spec.path);
      expect((error as Error).message).not.toContain("line one");
    }
  });

  it("change signature when replaced (agenix swaps symlinks)", () => {
    mkdirSync(join(dir, "gen1"));
    const spec = file("pw", "one");
    const before = passwordFilesSignature([spec]);
    expect(passwordFilesSignature([spec])).toBe(before);
    rmSync(spec.path);
    writeFileSync(spec.path, "two");
    expect(passwordFilesSignature([spec])).not.toBe(before);
    rmSync(spec.path);
    expect(passwordFilesSignature([spec])).toBe("missing:ENOENT");
  });
});
