// A small stand-in for Cognito's user pool API on loopback, speaking the AWS
// JSON 1.1 protocol the SDK uses (POST /, X-Amz-Target:
// AWSCognitoIdentityProviderService.<Operation>, JSON in and out, errors as
// {"__type": ..., "message": ...} with a 4xx/5xx status). It implements what
// the backend calls: InitiateAuth (USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH) and
// GetUser, with SECRET_HASH checking, aliases, disabled / unconfirmed users and
// challenges, and can be taken "down" (connections cut) or made to fail.
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeUser {
  username: string;
  password: string;
  sub: string;
  email?: string;
  enabled: boolean;
  status: "CONFIRMED" | "UNCONFIRMED" | "FORCE_CHANGE_PASSWORD" | "RESET_REQUIRED";
  /** Challenge answered to a right password instead of tokens. */
  challenge?: string;
}

export interface FakeCall {
  target: string;
  body: Record<string, unknown>;
}

export class FakeCognito {
  readonly users = new Map<string, FakeUser>();
  readonly calls: FakeCall[] = [];
  /** Every token and secret this fake handed out or knows (for "never in a log" checks). */
  readonly secrets = new Set<string>();
  clientId = "fakeclient123";
  clientSecret: string | undefined;
  /** "down": connections are cut; "hang": no answer; "error": 500 InternalErrorException; "throttle": 400 TooManyRequestsException. */
  mode: "up" | "down" | "hang" | "error" | "throttle" = "up";
  /** Hand out a new refresh token on every refresh (rotation). */
  rotateRefreshTokens = false;
  private readonly accessTokens = new Map<string, string>();
  private readonly refreshTokens = new Map<string, string>();
  private server: Server | undefined;
  url = "";

  constructor(options: { clientSecret?: string } = {}) {
    this.clientSecret = options.clientSecret;
    if (options.clientSecret) this.secrets.add(options.clientSecret);
  }

  addUser(username: string, password: string, extra: Partial<FakeUser> = {}): FakeUser {
    const user: FakeUser = { username, password, sub: randomUUID(), enabled: true, status: "CONFIRMED", ...extra };
    this.users.set(username, user);
    this.secrets.add(password);
    return user;
  }

  /** Global sign-out: every refresh token of the user stops working. */
  signOut(username: string): void {
    for (const [token, owner] of this.refreshTokens) if (owner === username) this.refreshTokens.delete(token);
  }

  callsOf(operation: string): FakeCall[] {
    return this.calls.filter((c) => c.target === operation);
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private find(name: string): FakeUser | undefined {
    return this.users.get(name) ?? [...this.users.values()].find((u) => u.email === name);
  }

  private expectedHash(username: string): string | undefined {
    if (this.clientSecret === undefined) return undefined;
    return createHmac("sha256", this.clientSecret).update(username + this.clientId).digest("base64");
  }

  private token(prefix: string): string {
    const token = `${prefix}-${randomBytes(24).toString("base64url")}`;
    this.secrets.add(token);
    return token;
  }

  private issue(username: string, withRefresh: boolean): Record<string, unknown> {
    const access = this.token("AT");
    this.accessTokens.set(access, username);
    const result: Record<string, unknown> = { AccessToken: access, IdToken: this.token("IT"), ExpiresIn: 3600, TokenType: "Bearer" };
    if (withRefresh) {
      const refresh = this.token("RT");
      this.refreshTokens.set(refresh, username);
      result.RefreshToken = refresh;
    }
    return { AuthenticationResult: result, ChallengeParameters: {} };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (this.mode === "down") {
      req.socket.destroy();
      return;
    }
    if (this.mode === "hang") return;
    const target = String(req.headers["x-amz-target"] ?? "").replace("AWSCognitoIdentityProviderService.", "");
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>;
    } catch {
      return this.fail(res, 400, "SerializationException", "bad json");
    }
    this.calls.push({ target, body });
    if (this.mode === "error") return this.fail(res, 500, "InternalErrorException", "boom");
    if (this.mode === "throttle") return this.fail(res, 400, "TooManyRequestsException", "Rate exceeded");
    try {
      const out = target === "InitiateAuth" ? this.initiateAuth(body) : target === "GetUser" ? this.getUser(body) : undefined;
      if (out === undefined) return this.fail(res, 400, "UnknownOperationException", target);
      const text = JSON.stringify(out);
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1", "content-length": Buffer.byteLength(text) });
      res.end(text);
    } catch (err) {
      const e = err as { type?: string; message: string };
      this.fail(res, 400, e.type ?? "InternalErrorException", e.message);
    }
  }

  private fail(res: ServerResponse, status: number, type: string, message: string): void {
    const text = JSON.stringify({ __type: type, message });
    res.writeHead(status, { "content-type": "application/x-amz-json-1.1", "x-amzn-errortype": type, "content-length": Buffer.byteLength(text) });
    res.end(text);
  }

  private initiateAuth(body: Record<string, unknown>): Record<string, unknown> {
    const error = (type: string, message: string) => Object.assign(new Error(message), { type });
    if (body.ClientId !== this.clientId) throw error("ResourceNotFoundException", `User pool client ${String(body.ClientId)} does not exist.`);
    const params = (body.AuthParameters ?? {}) as Record<string, string>;
    if (body.AuthFlow === "USER_PASSWORD_AUTH") {
      const user = this.find(params.USERNAME ?? "");
      // Like Cognito, the hash is over the name as the client sent it.
      if (this.clientSecret !== undefined && params.SECRET_HASH !== this.expectedHash(params.USERNAME ?? "")) {
        throw error("NotAuthorizedException", `Unable to verify secret hash for client ${this.clientId}`);
      }
      if (this.clientSecret === undefined && params.SECRET_HASH !== undefined) throw error("NotAuthorizedException", "Unable to verify secret hash for client");
      if (!user) throw error("UserNotFoundException", "User does not exist.");
      if (user.password !== params.PASSWORD) throw error("NotAuthorizedException", "Incorrect username or password.");
      if (!user.enabled) throw error("NotAuthorizedException", "User is disabled.");
      if (user.status === "UNCONFIRMED") throw error("UserNotConfirmedException", "User is not confirmed.");
      if (user.status === "RESET_REQUIRED") throw error("PasswordResetRequiredException", "Password reset required for the user");
      if (user.status === "FORCE_CHANGE_PASSWORD") return { ChallengeName: "NEW_PASSWORD_REQUIRED", Session: this.token("SESSION"), ChallengeParameters: {} };
      if (user.challenge) return { ChallengeName: user.challenge, Session: this.token("SESSION"), ChallengeParameters: {} };
      return this.issue(user.username, true);
    }
    if (body.AuthFlow === "REFRESH_TOKEN_AUTH") {
      const refresh = params.REFRESH_TOKEN ?? "";
      const owner = this.refreshTokens.get(refresh);
      // Like moto: the refused token in the message (the backend must never log messages).
      if (owner === undefined) throw error("NotAuthorizedException", `Invalid Refresh Token ${refresh}`);
      if (this.clientSecret !== undefined && params.SECRET_HASH !== this.expectedHash(owner)) {
        throw error("NotAuthorizedException", `Unable to verify secret hash for client ${this.clientId}`);
      }
      const user = this.users.get(owner);
      if (!user) throw error("NotAuthorizedException", "User does not exist.");
      if (!user.enabled) throw error("NotAuthorizedException", "User is disabled.");
      const out = this.issue(owner, this.rotateRefreshTokens);
      if (this.rotateRefreshTokens) this.refreshTokens.delete(refresh);
      return out;
    }
    throw error("InvalidParameterException", `${String(body.AuthFlow)} flow not enabled for this client`);
  }

  private getUser(body: Record<string, unknown>): Record<string, unknown> {
    const error = (type: string, message: string) => Object.assign(new Error(message), { type });
    const owner = this.accessTokens.get(String(body.AccessToken));
    if (owner === undefined) throw error("NotAuthorizedException", "Invalid Access Token");
    const user = this.users.get(owner);
    if (!user) throw error("UserNotFoundException", "User does not exist.");
    if (!user.enabled) throw error("NotAuthorizedException", "User is disabled.");
    const attributes = [{ Name: "sub", Value: user.sub }];
    if (user.email) attributes.push({ Name: "email", Value: user.email });
    return { Username: user.username, UserAttributes: attributes };
  }
}
