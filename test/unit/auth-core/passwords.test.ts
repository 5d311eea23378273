import { describe, expect, it } from "vitest";
import { CredentialError, hashPasswordArgon2id, parseCredential, verifyPassword } from "../../../src/auth/passwords.js";

describe("credentials", () => {
  it("verifies the official server's PBKDF2 PHC form", async () => {
    const phc = "$pbkdf2-sha256$i=600000,l=32$tonuvYGpksNFQBlEmm3lxg$oQ1sqlkoU7Qn72xNoIq+NHyW3yOOER8EZ6mIJiv5GYc";
    const cred = parseCredential(phc, true);
    expect(await verifyPassword(cred, "pass")).toBe(true);
    expect(await verifyPassword(cred, "Pass")).toBe(false);
  });

  it("verifies argon2id and plain passwords", async () => {
    const cred = parseCredential(await hashPasswordArgon2id("s3cret"), true);
    expect(await verifyPassword(cred, "s3cret")).toBe(true);
    expect(await verifyPassword(cred, "s3cret ")).toBe(false);
    expect(await verifyPassword(parseCredential("pw", false), "pw")).toBe(true);
    expect(await verifyPassword(parseCredential("pw", false), "pW")).toBe(false);
  });

  it("refuses malformed hashes at start-up", () => {
    expect(() => parseCredential("plaintext", true)).toThrow(CredentialError);
    expect(() => parseCredential("$pbkdf2-sha256$i=10$abc", true)).toThrow(CredentialError);
    expect(() => parseCredential("$pbkdf2-sha1$i=10,l=32$YWJj$YWJj", true)).toThrow(CredentialError);
  });
});
