// Settings of the Cognito login backend (`--auth cognito`), from the
// environment the NixOS module sets (COGNITO_*) and a few tuning flags. This
// file is loaded by config.ts whatever the backend: it must not import the AWS
// SDK (src/auth/cognito/api.ts loads that, and only when the backend is on).
import { isAbsolute, resolve } from "node:path";

export type CognitoUserFolder = "username" | "sub";

export interface CognitoSettings {
  userPoolId: string;
  clientId: string;
  region: string;
  /** Absolute path of the file holding the app client's secret; undefined when the client has none. */
  clientSecretFile?: string;
  /** Endpoint URL instead of AWS's (an emulator, a VPC endpoint). */
  endpoint?: string;
  /** What names a Cognito user's data folder: the user name, or the immutable `sub`. */
  userFolder: CognitoUserFolder;
  /** A host key is re-validated against Cognito when it is used this long after its last validation. */
  revalidateMs: number;
  /** While Cognito cannot be reached, keys validated at most this long ago keep working. */
  graceMs: number;
}

export interface CognitoFlags {
  cognitoRevalidateInterval?: string;
  cognitoGracePeriod?: string;
}

export const DEFAULT_COGNITO_REVALIDATE_SECONDS = 15 * 60;
export const DEFAULT_COGNITO_GRACE_SECONDS = 24 * 60 * 60;

export class CognitoSettingsError extends Error {}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new CognitoSettingsError(`--auth cognito needs ${name}`);
  return value;
}

function seconds(text: string | undefined, what: string, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text.trim()) || Number(text) < min) {
    throw new CognitoSettingsError(`${what} must be a whole number of seconds, at least ${min}, got "${text}"`);
  }
  return Number(text);
}

/** Reads and checks the settings; throws CognitoSettingsError naming the variable. */
export function cognitoSettingsFrom(flags: CognitoFlags, env: NodeJS.ProcessEnv): CognitoSettings {
  const userPoolId = required(env, "COGNITO_USER_POOL_ID");
  // AWS's patterns for the ids; they also keep anything odd out of log lines.
  if (!/^[\w-]+_[0-9a-zA-Z]+$/.test(userPoolId)) throw new CognitoSettingsError(`COGNITO_USER_POOL_ID "${userPoolId}" is not a user pool id (like eu-west-1_AbCdEfGhI)`);
  const clientId = required(env, "COGNITO_CLIENT_ID");
  if (!/^[\w+]{1,128}$/.test(clientId)) throw new CognitoSettingsError(`COGNITO_CLIENT_ID "${clientId}" is not an app client id`);
  const region = required(env, "COGNITO_REGION");
  if (!/^[a-z0-9-]{1,64}$/.test(region)) throw new CognitoSettingsError(`COGNITO_REGION "${region}" is not a region name (like eu-west-1)`);

  const folderText = env.COGNITO_USER_FOLDER?.trim() || "username";
  if (folderText !== "username" && folderText !== "sub") {
    throw new CognitoSettingsError(`COGNITO_USER_FOLDER must be "username" or "sub", got "${folderText}"`);
  }

  let clientSecretFile: string | undefined;
  const secretText = env.COGNITO_CLIENT_SECRET_FILE?.trim();
  if (secretText) {
    // Like --user-file: a relative name is a systemd credential under $CREDENTIALS_DIRECTORY.
    const credentialsDir = env.CREDENTIALS_DIRECTORY;
    clientSecretFile = isAbsolute(secretText) ? secretText : credentialsDir ? resolve(credentialsDir, secretText) : resolve(secretText);
  }

  let endpoint: string | undefined;
  const endpointText = env.COGNITO_ENDPOINT?.trim();
  if (endpointText) {
    let url: URL;
    try {
      url = new URL(endpointText);
    } catch {
      throw new CognitoSettingsError(`COGNITO_ENDPOINT "${endpointText}" is not a URL`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new CognitoSettingsError(`COGNITO_ENDPOINT must be an http(s) URL, got "${endpointText}"`);
    if (url.username || url.password) throw new CognitoSettingsError("COGNITO_ENDPOINT must not contain credentials");
    endpoint = endpointText;
  }

  const revalidate = seconds(
    flags.cognitoRevalidateInterval ?? env.COGNITO_REVALIDATE_INTERVAL,
    "Cognito re-validation interval (--cognito-revalidate-interval, COGNITO_REVALIDATE_INTERVAL)",
    DEFAULT_COGNITO_REVALIDATE_SECONDS,
    1,
  );
  const grace = seconds(
    flags.cognitoGracePeriod ?? env.COGNITO_GRACE_PERIOD,
    "Cognito grace period (--cognito-grace-period, COGNITO_GRACE_PERIOD)",
    DEFAULT_COGNITO_GRACE_SECONDS,
    0,
  );
  return {
    userPoolId,
    clientId,
    region,
    clientSecretFile,
    endpoint,
    userFolder: folderText,
    revalidateMs: revalidate * 1000,
    graceMs: grace * 1000,
  };
}
