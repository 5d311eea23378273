// How a maintenance command gets safe access to users' files: through a
// running server's control socket when there is one, on its own otherwise
// (see control.ts for the protocol and why it is a socket).
import { ControlClient, ControlError, ControlListener, FolderBusyError, type HoldMode } from "../control/socket.js";

export class Coordinator {
  private constructor(
    private readonly client: ControlClient | undefined,
    private readonly listener: ControlListener | undefined,
  ) {}

  /**
   * `exclusive`: the command will replace or delete files (restore,
   * reset-user). Without a server it then claims the control socket itself,
   * so no server can start on the folder until it is done.
   */
  static async open(base: string, purpose: "read" | "exclusive"): Promise<Coordinator> {
    const client = await ControlClient.connect(base);
    if (client) {
      if (client.role !== "server") {
        client.close();
        throw new FolderBusyError(client.role, client.pid, base);
      }
      return new Coordinator(client, undefined);
    }
    if (purpose === "exclusive") return new Coordinator(undefined, await ControlListener.start(base, "maintenance"));
    return new Coordinator(undefined, undefined);
  }

  /** True when a running server serves the folder (and holds users for us). */
  get serverRunning(): boolean {
    return this.client !== undefined;
  }

  get serverPid(): number | undefined {
    return this.client?.pid;
  }

  /**
   * Runs `task` while the server holds `user` in `mode` (or directly when no
   * server runs). Throws when the server could not hold the user within
   * `timeoutMs`. If the server exits during the task its hold ends with it;
   * a server that is gone uses no files. (One restarted within the task could
   * open the user's folder before the task is done; restore and reset-user
   * change the folder with renames, so that window is tiny, and we accept it.)
   */
  async withUser<T>(user: string, mode: HoldMode, timeoutMs: number, task: () => Promise<T> | T): Promise<T> {
    const client = this.client;
    if (!client) return await task();
    try {
      await client.hold(user, mode, timeoutMs);
    } catch (err) {
      throw new ControlError(`the running server could not hand over user ${user}: ${(err as Error).message}`);
    }
    try {
      return await task();
    } finally {
      if (client.connected) await client.release(user).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.client?.close();
    await this.listener?.close();
  }
}
