// Login (user name + password -> host key) and host-key authentication of
// every later request.
import type { UserSpec } from "../config.js";
import { HostKeyStore } from "./hostkeys.js";
import { checkUserName } from "./username.js";
import { type Credential, credentialFingerprint, parseCredential, verifyPassword } from "./passwords.js";

interface KnownUser {
  name: string;
  credential: Credential;
  fingerprint: string;
}

export class StartupError extends Error {}

export class Authenticator {
  private users = new Map<string, KnownUser>();

  constructor(
    users: readonly UserSpec[],
    private readonly hostKeys: HostKeyStore,
  ) {
    this.setUsers(users);
  }

  /** Replaces the user list (start-up and reload). Throws on any invalid entry, keeping the old list. */
  setUsers(users: readonly UserSpec[]): void {
    const next = new Map<string, KnownUser>();
    for (const spec of users) {
      try {
        checkUserName(spec.name);
        const credential = parseCredential(spec.secret, spec.hashed);
        next.set(spec.name, { name: spec.name, credential, fingerprint: credentialFingerprint(spec.name, spec.secret) });
      } catch (err) {
        throw new StartupError(`${spec.source}: ${(err as Error).message}`);
      }
    }
    this.users = next;
    this.hostKeys.reload();
  }

  userNames(): string[] {
    return [...this.users.keys()];
  }

  /**
   * Checks a password and issues a new host key, or returns undefined.
   * An unknown user still costs one verification, so timing does not reveal
   * which user names exist.
   */
  async login(name: string, password: string, clientVersion: string, address: string): Promise<string | undefined> {
    const user = this.users.get(name);
    const credential = user?.credential ?? this.decoyCredential();
    const ok = await verifyPassword(credential, password);
    if (!user || !ok) return undefined;
    return this.hostKeys.issue(user.name, user.fingerprint, clientVersion, address);
  }

  /** The user a host key belongs to, if the key exists and the user's password has not changed since. */
  authenticate(hostKey: string, clientVersion: string, address: string): string | undefined {
    const record = this.hostKeys.lookup(hostKey, clientVersion, address);
    if (!record) return undefined;
    const user = this.users.get(record.user);
    if (!user || user.fingerprint !== record.credentialFingerprint) return undefined;
    return user.name;
  }

  private decoyCredential(): Credential {
    const first = this.users.values().next();
    return first.done ? parseCredential("", false) : first.value.credential;
  }
}
