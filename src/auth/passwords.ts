// Password verification for the three forms a user's secret can take: a plain
// password, a PBKDF2 PHC string (what the official server accepts with
// PASSWORDS_HASHED) or an argon2id PHC string (what our user store writes).
import { createHash, pbkdf2, scryptSync, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import type * as Argon2 from "argon2";

// argon2 (a native module) is loaded when the first argon2 hash is checked or
// made, not at server start: most servers never see one.
let argon2: typeof Argon2 | undefined;
const loadArgon2 = async (): Promise<typeof Argon2> => (argon2 ??= (await import("argon2")).default as unknown as typeof Argon2);

const pbkdf2Async = promisify(pbkdf2);

export type Credential =
  | { kind: "plain"; digest: Buffer }
  | { kind: "pbkdf2"; digest: "sha256" | "sha512"; rounds: number; salt: Buffer; hash: Buffer }
  | { kind: "argon2id"; phc: string };

export class CredentialError extends Error {}

/** PHC "B64": standard base64 alphabet, padding optional. */
function decodeB64(text: string, what: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new CredentialError(`${what} is not base64`);
  return Buffer.from(text, "base64");
}

function parsePbkdf2(phc: string): Credential {
  // $pbkdf2-sha256$i=600000,l=32$<salt>$<hash>
  const parts = phc.split("$");
  if (parts.length !== 5 || parts[0] !== "") throw new CredentialError("malformed PBKDF2 PHC string");
  const id = parts[1];
  const digest = id === "pbkdf2-sha256" ? "sha256" : id === "pbkdf2-sha512" ? "sha512" : undefined;
  if (!digest) throw new CredentialError(`unsupported PHC algorithm "${id}"`);
  const params = new Map<string, string>();
  for (const pair of (parts[2] ?? "").split(",")) {
    const [key, value] = pair.split("=");
    if (key && value) params.set(key, value);
  }
  const rounds = Number(params.get("i"));
  if (!Number.isInteger(rounds) || rounds < 1) throw new CredentialError("PBKDF2 PHC string needs i=<rounds>");
  const salt = decodeB64(parts[3] ?? "", "PBKDF2 salt");
  const hash = decodeB64(parts[4] ?? "", "PBKDF2 hash");
  const length = params.has("l") ? Number(params.get("l")) : hash.length;
  if (length !== hash.length || hash.length < 16) throw new CredentialError("PBKDF2 hash length does not match l=");
  return { kind: "pbkdf2", digest, rounds, salt, hash };
}

/** Parses a secret once at start-up so malformed hashes stop the server, not a login. */
export function parseCredential(secret: string, hashed: boolean): Credential {
  if (!hashed) return { kind: "plain", digest: createHash("sha256").update(secret, "utf8").digest() };
  if (secret.startsWith("$pbkdf2-")) return parsePbkdf2(secret);
  if (secret.startsWith("$argon2id$")) {
    if (!/^\$argon2id\$(v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/.test(secret)) {
      throw new CredentialError("malformed argon2id PHC string");
    }
    return { kind: "argon2id", phc: secret };
  }
  throw new CredentialError("hashed passwords must be PHC strings ($argon2id$..., $pbkdf2-sha256$... or $pbkdf2-sha512$...)");
}

export async function verifyPassword(credential: Credential, password: string): Promise<boolean> {
  switch (credential.kind) {
    case "plain": {
      const given = createHash("sha256").update(password, "utf8").digest();
      return timingSafeEqual(given, credential.digest);
    }
    case "pbkdf2": {
      const given = await pbkdf2Async(password, credential.salt, credential.rounds, credential.hash.length, credential.digest);
      return timingSafeEqual(given, credential.hash);
    }
    case "argon2id":
      try {
        return await (await loadArgon2()).verify(credential.phc, password);
      } catch {
        return false;
      }
  }
}

/**
 * The argon2id parameters of every hash the server writes (argon2's own
 * defaults, spelled out so that the decoy below keeps costing what a real
 * check costs).
 */
export const ARGON2ID_PARAMS = { memoryCost: 65_536, timeCost: 3, parallelism: 4 } as const;

export async function hashPasswordArgon2id(password: string): Promise<string> {
  const lib = await loadArgon2();
  return lib.hash(password, { type: lib.argon2id, ...ARGON2ID_PARAMS });
}

/**
 * What unknown names (and wrong passwords of users whose hash is cheaper) are
 * checked against, so that every rejection costs one argon2id verification
 * whatever users exist. It is a fixed hash, made once with ARGON2ID_PARAMS
 * from 32 random bytes that were thrown away: knowing it gives nothing, as a
 * check against it is never a success (the name is unknown, or the user's
 * own check already failed). Being fixed, it costs nothing at start-up and
 * no 64 MiB hashing at the first login (the memory peak of a server whose
 * users all have plain passwords), and the first rejection after a start
 * costs what every later one does.
 */
const DECOY_PHC = "$argon2id$v=19$m=65536,t=3,p=4$CgzbsrDl44UDQoO8A7Y1dQ$lE1QfxHizxCBf3otQCWR1iKPq84nygCYJCmeMo7FFpY";
let decoy: Credential | undefined;
export function decoyCredential(): Credential {
  decoy ??= parseCredential(DECOY_PHC, true);
  return decoy;
}

/** Whether a secret from a password file is a PHC hash rather than a plain password. */
export function looksLikePhc(secret: string): boolean {
  return /^\$(argon2(id|i|d)|pbkdf2-[a-z0-9]+)\$/.test(secret);
}

/**
 * Memory-hard but quick (~30 ms, 16 MiB): fingerprints of plain passwords end
 * up in the server database. The server computes one when the user first logs
 * in or first uses a host key, not at start-up (see Authenticator).
 */
const PLAIN_FINGERPRINT_COST = { N: 16384, r: 8, p: 1 } as const;

/**
 * A stable fingerprint of a credential: host keys remember it, so a changed
 * password (or a removed and re-added user) invalidates the old keys. For a
 * PHC secret a fast hash of the PHC string is enough (the PHC string is itself
 * slow to attack); a plain password goes through scrypt, so the stored
 * fingerprint is no shortcut to the password for someone holding a backup.
 */
export function credentialFingerprint(userName: string, secret: string, hashed = true): string {
  if (!hashed) {
    const salt = createHash("sha256").update(`anki-sync-server fingerprint\u0000${userName}`, "utf8").digest();
    return "s1:" + scryptSync(secret, salt, 16, PLAIN_FINGERPRINT_COST).toString("hex");
  }
  return createHash("sha256").update(`${userName}\u0000${secret}`, "utf8").digest("hex").slice(0, 32);
}
