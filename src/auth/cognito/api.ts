// The three Cognito calls the backend makes, through the official AWS SDK
// client, which is imported here, dynamically, when the backend starts: a
// server without --auth cognito never loads it.
//
//   InitiateAuth USER_PASSWORD_AUTH  (login; SECRET_HASH when the client has a secret)
//   InitiateAuth REFRESH_TOKEN_AUTH  (re-validation of a host key)
//   GetUser                          (who the tokens belong to: user name and sub)
//
// All three are unauthenticated in AWS's sense (no IAM credentials, no
// signature): the server needs no AWS account of its own.
//
// Errors are turned into CognitoFailure here and nothing else leaves this
// file: SDK errors can carry Cognito's message, and some emulators put the
// token or the secret hash they refused into it. Only our own wording and the
// exception's name are ever logged.
import { createHmac } from "node:crypto";
import type { CognitoSettings } from "./settings.js";

export type AuthAnswer =
  | { kind: "tokens"; accessToken: string; refreshToken?: string }
  /** Cognito wants more than a password (MFA, a new password, ...). */
  | { kind: "challenge"; challenge: string };

export interface CognitoIdentity {
  /** Cognito's own user name (what the user typed may be an alias such as the email). */
  username: string;
  sub: string;
}

export interface CognitoApi {
  passwordAuth(username: string, password: string): Promise<AuthAnswer>;
  /** `username`: Cognito's user name, for the SECRET_HASH. */
  refresh(username: string, refreshToken: string): Promise<AuthAnswer>;
  getUser(accessToken: string): Promise<CognitoIdentity>;
}

/**
 * Why a call failed:
 *   rejected    - the credentials or the user are not good (wrong password, unknown, disabled, token revoked)
 *   action      - the user (or an admin) must do something first (confirm the account, reset the password)
 *   locked      - Cognito's own lock-out after too many wrong passwords
 *   config      - this server is set up wrong (pool, client, secret, auth flow)
 *   unavailable - Cognito could not be reached or had a problem: try again later
 */
export type FailureKind = "rejected" | "action" | "locked" | "config" | "unavailable";

export class CognitoFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    /** Our wording, safe to log. */
    readonly why: string,
    /** The exception name (NotAuthorizedException, ECONNREFUSED, ...), safe to log. */
    readonly code: string,
    /** For rejections: whether the user is unknown rather than the password wrong. */
    readonly unknownUser = false,
  ) {
    super(`${why} (${code})`);
  }
}

/** SECRET_HASH = base64(HMAC-SHA256(key = client secret, message = user name + client id)). */
export function secretHash(clientSecret: string, username: string, clientId: string): string {
  return createHmac("sha256", clientSecret).update(username + clientId, "utf8").digest("base64");
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "ECONNABORTED"]);

/** Turns whatever the SDK threw into a CognitoFailure, without keeping its message. */
export function classifyError(err: unknown): CognitoFailure {
  if (err instanceof CognitoFailure) return err;
  const e = (err ?? {}) as { name?: unknown; code?: unknown; message?: unknown; $fault?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const name = typeof e.name === "string" ? e.name : "Error";
  const message = typeof e.message === "string" ? e.message : "";
  const code = typeof e.code === "string" ? e.code : undefined;
  const status = typeof e.$metadata?.httpStatusCode === "number" ? e.$metadata.httpStatusCode : undefined;

  switch (name) {
    case "NotAuthorizedException":
      // Cognito's wording is stable; match it to tell the cases apart, never log it.
      if (/secret hash/i.test(message)) return new CognitoFailure("config", "Cognito refused the SECRET_HASH: the client secret in COGNITO_CLIENT_SECRET_FILE does not belong to the app client (or the client has no secret)", name);
      if (/password attempts exceeded/i.test(message)) return new CognitoFailure("locked", "Cognito locked the user out after too many wrong passwords; it lifts the lock by itself", name);
      if (/disabled/i.test(message)) return new CognitoFailure("rejected", "the user is disabled in the user pool", name, true);
      if (/does not exist/i.test(message)) return new CognitoFailure("rejected", "the user does not exist in the user pool", name, true);
      if (/refresh token/i.test(message) && /revoked|expired|invalid/i.test(message)) return new CognitoFailure("rejected", "the refresh token was revoked or expired (signed out, or past the app client's refresh token validity)", name);
      if (/flow not (enabled|allowed)/i.test(message)) return new CognitoFailure("config", "the app client does not allow this auth flow: enable ALLOW_USER_PASSWORD_AUTH and ALLOW_REFRESH_TOKEN_AUTH", name);
      return new CognitoFailure("rejected", "wrong user name or password", name);
    case "UserNotFoundException":
      return new CognitoFailure("rejected", "the user does not exist in the user pool", name, true);
    case "UserLambdaValidationException":
      return new CognitoFailure("rejected", "a Lambda trigger of the user pool refused the login", name);
    case "UserNotConfirmedException":
      return new CognitoFailure("action", "the account is not confirmed: the user must confirm it with the code Cognito sent at sign-up (or an admin confirms it: admin-confirm-sign-up), then log in again", name);
    case "PasswordResetRequiredException":
      return new CognitoFailure("action", "Cognito requires a password reset: the user must reset the password (forgot-password flow of the pool's sign-in page or app), then log in to Anki with the new password", name);
    case "TooManyRequestsException":
    case "LimitExceededException":
      return new CognitoFailure("unavailable", "Cognito is throttling this server's requests", name);
    case "InternalErrorException":
      return new CognitoFailure("unavailable", "Cognito reported an internal error", name);
    case "ResourceNotFoundException":
      return new CognitoFailure("config", "the user pool or app client does not exist: check COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID and COGNITO_REGION", name);
    case "InvalidParameterException":
      if (/flow not (enabled|allowed)|USER_PASSWORD_AUTH|REFRESH_TOKEN/i.test(message)) {
        return new CognitoFailure("config", "the app client does not allow this auth flow: enable ALLOW_USER_PASSWORD_AUTH and ALLOW_REFRESH_TOKEN_AUTH", name);
      }
      if (/SECRET_HASH/i.test(message)) return new CognitoFailure("config", "the app client has a secret: set COGNITO_CLIENT_SECRET_FILE", name);
      return new CognitoFailure("config", "Cognito refused the request's parameters", name);
    case "InvalidUserPoolConfigurationException":
    case "UnrecognizedClientException":
    case "ForbiddenException":
    case "InvalidLambdaResponseException":
    case "UnexpectedLambdaException":
    case "InvalidSmsRoleAccessPolicyException":
    case "InvalidSmsRoleTrustRelationshipException":
    case "InvalidEmailRoleAccessPolicyException":
      return new CognitoFailure("config", "the user pool or app client is set up in a way this server cannot use", name);
  }
  if (name === "AbortError") return new CognitoFailure("unavailable", "Cognito did not answer in time", "Timeout");
  if (name === "TimeoutError" || (code !== undefined && NETWORK_CODES.has(code))) {
    return new CognitoFailure("unavailable", "Cognito could not be reached", code ?? name);
  }
  if (e.$fault === "server" || (status !== undefined && status >= 500)) return new CognitoFailure("unavailable", "Cognito answered with a server error", name);
  if (e.$fault === "client") return new CognitoFailure("config", "Cognito refused the request", name);
  // No answer from Cognito at all (socket errors, bad responses from a proxy, ...).
  return new CognitoFailure("unavailable", "Cognito could not be reached or gave no usable answer", code ?? name);
}

/** Time limits for each Cognito request (the SDK tries twice), and for one call with its retry. */
export const COGNITO_CONNECT_TIMEOUT_MS = 3000;
export const COGNITO_REQUEST_TIMEOUT_MS = 5000;
export const COGNITO_CALL_DEADLINE_MS = 8000;

export class CognitoSdkMissingError extends Error {}

/** Loads the AWS SDK (dynamically) and returns the calls, bound to the pool and app client. */
export async function loadCognitoApi(settings: CognitoSettings, clientSecret: string | undefined, deadlineMs = COGNITO_CALL_DEADLINE_MS): Promise<CognitoApi> {
  // On Node < 22 the SDK prints a multi-line notice (SDK versions from 2027 on need
  // Node 22), which would break the one-line-per-event log; the lock file pins a
  // version that supports Node 20.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  let sdk: typeof import("@aws-sdk/client-cognito-identity-provider");
  try {
    sdk = await import("@aws-sdk/client-cognito-identity-provider");
  } catch (err) {
    throw new CognitoSdkMissingError(`--auth cognito needs the package @aws-sdk/client-cognito-identity-provider: ${(err as Error).message}`);
  }
  const client = new sdk.CognitoIdentityProviderClient({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    maxAttempts: 2,
    requestHandler: { connectionTimeout: COGNITO_CONNECT_TIMEOUT_MS, requestTimeout: COGNITO_REQUEST_TIMEOUT_MS },
  });
  const clientId = settings.clientId;
  const hash = (username: string): Record<string, string> => (clientSecret === undefined ? {} : { SECRET_HASH: secretHash(clientSecret, username, clientId) });

  // Each call has a deadline, so a login or a re-validation never waits on Cognito for long.
  async function call<T>(run: (options: { abortSignal: AbortSignal }) => Promise<T>): Promise<T> {
    try {
      return await run({ abortSignal: AbortSignal.timeout(deadlineMs) });
    } catch (err) {
      throw err instanceof CognitoFailure ? err : classifyError(err);
    }
  }

  function answer(out: { AuthenticationResult?: { AccessToken?: string; RefreshToken?: string }; ChallengeName?: string }): AuthAnswer {
    if (out.ChallengeName) return { kind: "challenge", challenge: out.ChallengeName };
    const accessToken = out.AuthenticationResult?.AccessToken;
    if (!accessToken) throw new CognitoFailure("unavailable", "Cognito answered without tokens or a challenge", "EmptyAnswer");
    const refreshToken = out.AuthenticationResult?.RefreshToken;
    return refreshToken ? { kind: "tokens", accessToken, refreshToken } : { kind: "tokens", accessToken };
  }

  return {
    passwordAuth: (username, password) =>
      call(async (options) =>
        answer(
          await client.send(
            new sdk.InitiateAuthCommand({
              AuthFlow: "USER_PASSWORD_AUTH",
              ClientId: clientId,
              AuthParameters: { USERNAME: username, PASSWORD: password, ...hash(username) },
            }),
            options,
          ),
        ),
      ),
    refresh: (username, refreshToken) =>
      call(async (options) =>
        answer(
          await client.send(
            new sdk.InitiateAuthCommand({
              AuthFlow: "REFRESH_TOKEN_AUTH",
              ClientId: clientId,
              AuthParameters: { REFRESH_TOKEN: refreshToken, ...hash(username) },
            }),
            options,
          ),
        ),
      ),
    getUser: (accessToken) =>
      call(async (options) => {
        const out = await client.send(new sdk.GetUserCommand({ AccessToken: accessToken }), options);
        const sub = out.UserAttributes?.find((a) => a.Name === "sub")?.Value;
        if (!out.Username || !sub) throw new CognitoFailure("unavailable", "Cognito's GetUser answer has no user name or sub", "EmptyAnswer");
        return { username: out.Username, sub };
      }),
  };
}
