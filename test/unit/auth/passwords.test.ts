import { describe, expect, it } from "vitest";
import {
  ARGON2ID_PARAMS,
  CredentialError,
  decoyCredential,
  credentialFingerprint,
  hashPasswordArgon2id,
  looksLikePhc,
  parseCredential,
  verifyPassword,
} from "../../../src/auth/passwords.js";

// 01-http-transport.md §7.3: the composed example the official server accepts with PASSWORDS_HASHED.
const OFFICIAL_PBKDF2 = "$pbkdf2-sha256$i=600000,l=32$tonuvYGpksNFQBlEmm3lxg$oQ1sqlkoU7Qn72xNoIq+NHyW3yOOER8EZ6mIJiv5GYc";

describe("credentials", () => {
  it("plain passwords", async () => {
    const c = parseCredential("pass", false);
    expect(await verifyPassword(c, "pass")).toBe(true);
    expect(await verifyPassword(c, "Pass")).toBe(false);
    expect(await verifyPassword(c, "")).toBe(false);
  });

  it("the official server's pbkdf2-sha256 PHC example", async () => {
    const c = parseCredential(OFFICIAL_PBKDF2, true);
    expect(c.kind).toBe("pbkdf2");
    expect(await verifyPassword(c, "pass")).toBe(true);
    expect(await verifyPassword(c, "pass2")).toBe(false);
  });

  it("argon2id hashes as the user store writes them", async () => {
    const phc = await hashPasswordArgon2id("correct horse");
    expect(phc.startsWith("$argon2id$")).toBe(true);
    const c = parseCredential(phc, true);
    expect(await verifyPassword(c, "correct horse")).toBe(true);
    expect(await verifyPassword(c, "wrong horse")).toBe(false);
  });

  it("the decoy that rejections are checked against costs what a real hash costs, and matches no password tried", async () => {
    const decoy = decoyCredential();
    const real = await hashPasswordArgon2id("x");
    const params = (phc: string) => phc.split("$")[3];
    expect(decoy.kind).toBe("argon2id");
    if (decoy.kind !== "argon2id") return;
    expect(params(decoy.phc)).toBe(params(real));
    expect(params(real)).toBe(`m=${ARGON2ID_PARAMS.memoryCost},t=${ARGON2ID_PARAMS.timeCost},p=${ARGON2ID_PARAMS.parallelism}`);
    for (const guess of ["", "x", "pass", "password"]) expect(await verifyPassword(decoy, guess)).toBe(false);
  });

  it.each([
    "$argon2id$v=19$m=65536,t=3,p=4$onlysalt",
    "$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
    "$pbkdf2-sha1$i=1000,l=20$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
    "$pbkdf2-sha256$l=32$tonuvYGpksNFQBlEmm3lxg$oQ1sqlkoU7Qn72xNoIq+NHyW3yOOER8EZ6mIJiv5GYc",
    "$pbkdf2-sha256$i=600000,l=31$tonuvYGpksNFQBlEmm3lxg$oQ1sqlkoU7Qn72xNoIq+NHyW3yOOER8EZ6mIJiv5GYc",
    "plain-but-said-to-be-hashed",
  ])("refuses malformed or unsupported hash %s at parse time", (phc) => {
    expect(() => parseCredential(phc, true)).toThrow(CredentialError);
  });

  it("recognizes PHC strings in password files", () => {
    expect(looksLikePhc(OFFICIAL_PBKDF2)).toBe(true);
    expect(looksLikePhc("$argon2id$v=19$m=1,t=1,p=1$a$b")).toBe(true);
    expect(looksLikePhc("hunter2")).toBe(false);
    expect(looksLikePhc("$dollar-password")).toBe(false);
  });

  it("fingerprints change with the password and never contain it", () => {
    const a = credentialFingerprint("alice", "secret-one", false);
    expect(a).toBe(credentialFingerprint("alice", "secret-one", false));
    expect(a).not.toBe(credentialFingerprint("alice", "secret-two", false));
    expect(a).not.toBe(credentialFingerprint("bob", "secret-one", false));
    expect(a).not.toContain("secret");
    const h = credentialFingerprint("alice", OFFICIAL_PBKDF2, true);
    expect(h).not.toBe(credentialFingerprint("alice", OFFICIAL_PBKDF2.replace("i=600000", "i=600001"), true));
  });
});
