// Refusals an operator has to act on: bad configuration, a busy data folder,
// a snapshot that cannot be restored. The CLI catches them in one place
// (src/cli/action.ts), prints the message without a stack and exits with the
// error's code; anything else is a bug and keeps its stack.
export class OperatorError extends Error {
  /** The process exit code: 2 for a refusal (the default), 1 for a failed command. */
  readonly exitCode: number;

  constructor(message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = options.exitCode ?? 2;
  }
}
