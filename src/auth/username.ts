// User names become folder names under the data directory, so anything that
// could escape it or confuse tools is refused up front.

export class UserNameError extends Error {}

export function checkUserName(name: string): string {
  if (name.length === 0) throw new UserNameError("user name is empty");
  if (Buffer.byteLength(name, "utf8") > 200) throw new UserNameError("user name is longer than 200 bytes");
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new UserNameError("user name contains control characters");
  if (/[/\\]/.test(name)) throw new UserNameError("user name contains a slash or backslash");
  if (name.startsWith(".")) throw new UserNameError("user name starts with a dot");
  if (name.includes(":")) throw new UserNameError("user name contains a colon");
  if (name !== name.trim()) throw new UserNameError("user name has leading or trailing spaces");
  if (name.normalize("NFC") !== name) throw new UserNameError("user name is not in Unicode NFC form");
  return name;
}
