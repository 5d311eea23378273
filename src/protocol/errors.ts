// An error that maps to an HTTP status. The message goes to the log only:
// clients never read error bodies, and the official server sends just the code.
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The error this one reports, if any (kept for debugging; never sent). */
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const badRequest = (message: string, cause?: unknown) => new HttpError(400, message, cause === undefined ? undefined : { cause });
export const conflict = (message: string) => new HttpError(409, message);

/** `err` as the client should see it: an HttpError as it is, anything else a 400 "<context>: <message>" keeping it as the cause. */
export function asHttpError(context: string, err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  return badRequest(`${context}: ${err instanceof Error ? err.message : String(err)}`, err);
}

/** Runs `step`; what it throws reaches the client through asHttpError (a 400 unless it already has a status). */
export function orBadRequest<T>(context: string, step: () => T): T {
  try {
    return step();
  } catch (err) {
    throw asHttpError(context, err);
  }
}

/** orBadRequest for an async step. */
export async function orBadRequestAsync<T>(context: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw asHttpError(context, err);
  }
}
