// Entry point of the Cognito login backend (--auth cognito). app.ts imports
// this file dynamically, and only when the backend is on; it loads the AWS SDK.
import { readFileSync } from "node:fs";
import type Database from "better-sqlite3";
import { logger } from "../../log.js";
import { StartupError } from "../authenticator.js";
import type { HostKeyStore } from "../hostkeys.js";
import { CognitoSdkMissingError, type CognitoApi, loadCognitoApi } from "./api.js";
import { CognitoBackend, type CognitoBackendOptions } from "./backend.js";
import { CognitoSessionStore } from "./sessions.js";
import type { CognitoSettings } from "./settings.js";

export { CognitoBackend } from "./backend.js";

export interface CognitoBackendDeps {
  db: Database.Database;
  hostKeys: HostKeyStore;
  options?: CognitoBackendOptions;
  /** Instead of the SDK (tests). */
  api?: CognitoApi;
}

/** The app client's secret: the file's content without surrounding white space. Errors name the file, never the content. */
export function readClientSecret(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new StartupError(`COGNITO_CLIENT_SECRET_FILE: cannot read ${path} (${code})`);
  }
  const secret = text.trim();
  if (secret === "") throw new StartupError(`COGNITO_CLIENT_SECRET_FILE: ${path} is empty`);
  if (/\s/.test(secret)) throw new StartupError(`COGNITO_CLIENT_SECRET_FILE: ${path} must hold only the secret (it contains white space)`);
  return secret;
}

export async function createCognitoBackend(settings: CognitoSettings, deps: CognitoBackendDeps): Promise<CognitoBackend> {
  const secret = settings.clientSecretFile === undefined ? undefined : readClientSecret(settings.clientSecretFile);
  let api = deps.api;
  if (!api) {
    try {
      api = await loadCognitoApi(settings, secret);
    } catch (err) {
      if (err instanceof CognitoSdkMissingError) throw new StartupError(err.message);
      throw err;
    }
  }
  const sessions = new CognitoSessionStore(deps.db);
  const swept = sessions.sweepOrphans();
  logger.info("Cognito login backend on", {
    user_pool: settings.userPoolId,
    client: settings.clientId,
    region: settings.region,
    endpoint: settings.endpoint,
    client_secret: secret === undefined ? "none" : "from file",
    user_folder: settings.userFolder,
    revalidate_s: settings.revalidateMs / 1000,
    grace_s: settings.graceMs / 1000,
    sessions: sessions.count(),
    orphaned_sessions_removed: swept || undefined,
  });
  return new CognitoBackend(settings, api, sessions, deps.hostKeys, deps.options);
}
