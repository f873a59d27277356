// HTTP status of a failed client-node call. client-node 1.x throws ApiException with
// `code`; its watch throws plain Errors with `statusCode`.

export function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, statusCode } = err as { code?: unknown; statusCode?: unknown };
  if (typeof code === 'number') return code;
  if (typeof statusCode === 'number') return statusCode;
  return undefined;
}

export const isNotFound = (err: unknown): boolean => statusOf(err) === 404;
export const isConflict = (err: unknown): boolean => statusOf(err) === 409;

/** A one-line description of a client-node error (ApiException messages embed whole bodies and headers). */
export function describeKubeError(err: unknown): string {
  const status = statusOf(err);
  if (status !== undefined && typeof err === 'object' && err !== null) {
    const body = (err as { body?: unknown }).body;
    let message: string | undefined;
    if (typeof body === 'string') {
      try {
        const parsed = JSON.parse(body) as { message?: unknown };
        if (typeof parsed.message === 'string') message = parsed.message;
      } catch {
        message = body.slice(0, 200);
      }
    } else if (typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string') {
      message = (body as { message: string }).message;
    }
    return `HTTP ${status}${message ? `: ${message}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}
