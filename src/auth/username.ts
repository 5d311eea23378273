// User names become folder names under the data directory, so anything that
// could escape it or confuse tools is refused up front. The same check runs
// for every source of users (SYNC_USERn, password files, the user store) and
// before `user add` writes anything.
import { OperatorError } from "../errors.js";

export class UserNameError extends OperatorError {
  constructor(message: string) {
    super(message, { exitCode: 1 });
  }
}

export const MAX_USER_NAME_BYTES = 200;

export function checkUserName(name: string): string {
  if (name.length === 0) throw new UserNameError("user name is empty");
  if (Buffer.byteLength(name, "utf8") > MAX_USER_NAME_BYTES) {
    throw new UserNameError(`user name is longer than ${MAX_USER_NAME_BYTES} bytes`);
  }
  // C0 and C1 controls, DEL, and the Unicode line/paragraph separators and BOM.
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/.test(name)) {
    throw new UserNameError("user name contains control characters");
  }
  if (/[/\\]/.test(name)) throw new UserNameError("user name contains a slash or backslash");
  // Also covers "." and "..", and keeps user folders apart from the server's own dot files.
  if (name.startsWith(".")) throw new UserNameError("user name starts with a dot");
  if (name.includes(":")) throw new UserNameError("user name contains a colon");
  if (name !== name.trim()) throw new UserNameError("user name has leading or trailing spaces");
  if (name.normalize("NFC") !== name) throw new UserNameError("user name is not in Unicode NFC form");
  return name;
}

/** The form two names share when a case-insensitive file system would give them the same folder. */
export function folderFoldedName(name: string): string {
  return name.normalize("NFC").toLowerCase();
}
