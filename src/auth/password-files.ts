// Password files, the way agenix and systemd's LoadCredential deliver secrets:
// one file per user holding either the plain password or a PHC hash
// ($argon2id$..., $pbkdf2-sha256$...). Trailing newlines are stripped. A file
// that cannot be read, is empty or holds more than one line is an error that
// names the file — never a user without a password. The contents never appear
// in a message.
import { readFileSync, statSync } from "node:fs";
import type { UserFileSpec, UserSpec } from "./settings.js";
import { looksLikePhc } from "./passwords.js";

export class PasswordFileError extends Error {}

/** Files larger than this are surely not a password file. */
const MAX_PASSWORD_FILE_BYTES = 64 * 1024;

export function describePasswordFile(spec: UserFileSpec): string {
  return `password file ${spec.path} (user ${spec.name}, ${spec.origin})`;
}

export function readPasswordFile(spec: UserFileSpec): UserSpec {
  const source = describePasswordFile(spec);
  let text: string;
  try {
    const size = statSync(spec.path).size;
    if (size > MAX_PASSWORD_FILE_BYTES) throw new PasswordFileError(`${source} is ${size} bytes, too large for a password file`);
    text = readFileSync(spec.path, "utf8");
  } catch (err) {
    if (err instanceof PasswordFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not readable (permission denied)" : code === "EISDIR" ? "is a directory" : `cannot be read (${code ?? (err as Error).message})`;
    throw new PasswordFileError(`${source} ${why}`);
  }
  if (text.startsWith("\ufeff")) text = text.slice(1);
  const secret = text.replace(/[\r\n]+$/, "");
  if (secret === "") throw new PasswordFileError(`${source} is empty`);
  if (/[\r\n]/.test(secret)) throw new PasswordFileError(`${source} holds more than one line; it must hold only the password or its hash`);
  return { name: spec.name, secret, hashed: looksLikePhc(secret), source };
}

/** A cheap signature of the files' states, to notice when one is replaced or edited. */
export function passwordFilesSignature(specs: readonly UserFileSpec[]): string {
  return specs
    .map((spec) => {
      try {
        const st = statSync(spec.path);
        return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      } catch (err) {
        return `missing:${(err as NodeJS.ErrnoException).code ?? "?"}`;
      }
    })
    .join("|");
}
