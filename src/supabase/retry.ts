/**
 * Calls to the Supabase APIs: each result is unwrapped into a value or a problem, and answers
 * that may pass (a 5xx, a dropped connection) are retried a bounded number of times with
 * exponential backoff and jitter. A refused key (401/403) is never retried: it will not pass.
 */
import { ProblemError } from '../errors/problems.ts';

/** An error worth another try. */
export class RetryableError extends Error {
  override name = 'RetryableError';
}

export interface RetryOptions {
  attempts: number;
  baseDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseDelayMs: 100 };

export async function withRetries<T>(call: () => Promise<T>, options: RetryOptions = DEFAULT_RETRY): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof RetryableError)) throw error;
      if (attempt >= options.attempts) {
        // What the API said is logged with the cause; the caller learns only that it failed.
        throw new ProblemError('supabase_unavailable', `The Supabase API failed ${attempt} times; retry after Retry-After.`, {
          retryAfter: 5,
          cause: error,
        });
      }
      const delay = options.baseDelayMs * 2 ** (attempt - 1);
      await new Promise((resolve) => setTimeout(resolve, delay / 2 + Math.random() * (delay / 2)));
    }
  }
}

/** `detail`, what Supabase said, goes to the log (the cause), not to the caller. */
export const keyRefused = (status: number, detail: string) =>
  new ProblemError(
    'supabase_unauthorized',
    `Supabase answered ${status} to the service key; check SUPABASE_SERVICE_ROLE_KEY or SUPABASE_SECRET_KEY.`,
    { retryAfter: 60, cause: new Error(`Supabase answered ${status}: ${detail}`) },
  );

/** Whether an HTTP status (0: no answer at all) may pass on another try. */
export const isRetryableStatus = (status: number): boolean => status === 0 || status === 408 || status === 429 || status >= 500;
