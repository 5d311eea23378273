// The status page's password: one file (agenix, systemd LoadCredential),
// holding the password itself or its argon2id (or PBKDF2) hash. It is read
// at start (a bad file stops the server) and again whenever it changes, so
// rotating it needs no restart.
import { createHash, timingSafeEqual } from "node:crypto";
import { type Credential, parseCredential, verifyPassword } from "../auth/passwords.js";
import { passwordFilesSignature, readPasswordFile } from "../auth/password-files.js";
import type { UserFileSpec } from "../auth/settings.js";

/** The user name HTTP Basic auth must carry (browsers ask for one). */
export const ADMIN_USER = "admin";
/** A verified Authorization header is trusted this long without another (slow) hash check. */
const VERIFIED_TTL_MS = 5 * 60_000;

export class AdminCredentials {
  private credential: Credential;
  private signature: string;
  /** sha256 of Authorization header values that verified, with when they did. */
  private verified = new Map<string, number>();
  private readonly spec: UserFileSpec;

  /** Throws PasswordFileError (naming the file, never its contents) when the file is unusable. */
  constructor(path: string) {
    this.spec = { name: ADMIN_USER, path, origin: "--admin-password-file" };
    this.signature = passwordFilesSignature([this.spec]);
    this.credential = this.load();
  }

  private load(): Credential {
    const spec = readPasswordFile(this.spec);
    return parseCredential(spec.secret, spec.hashed);
  }

  /** Picks up an edited or replaced file; a broken new file keeps the old password in force. */
  private refresh(): void {
    const signature = passwordFilesSignature([this.spec]);
    if (signature === this.signature) return;
    this.signature = signature;
    this.verified.clear();
    try {
      this.credential = this.load();
    } catch {
      // the health of the file is the operator's; the old password keeps working until it is fixed
    }
  }

  /** Whether `user`/`password` (from HTTP Basic) is the admin's. */
  async check(user: string, password: string, now = Date.now()): Promise<boolean> {
    this.refresh();
    const key = createHash("sha256").update(`${user}\u0000${password}`, "utf8").digest("hex");
    const at = this.verified.get(key);
    if (at !== undefined && now - at < VERIFIED_TTL_MS) return true;
    const nameOk = timingSafeEqual(createHash("sha256").update(user).digest(), createHash("sha256").update(ADMIN_USER).digest());
    const passwordOk = await verifyPassword(this.credential, password);
    if (!nameOk || !passwordOk) return false;
    if (this.verified.size > 100) this.verified.clear();
    this.verified.set(key, now);
    return true;
  }
}

/** The user and password of an `Authorization: Basic ...` header, or undefined. */
export function parseBasicAuth(header: string | undefined): { user: string; password: string } | undefined {
  if (header === undefined) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}
