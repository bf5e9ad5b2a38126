/**
 * Waiting for something to happen, with a deadline, instead of sleeping for a guessed while.
 * - `waitFor` polls a check until it gives a value (anything but undefined, null or false);
 * - `within` waits for a promise the event itself settles.
 * Either throws, naming what it waited for, when the deadline passes first. A check that throws
 * fails at once: an error is an answer, not a "not yet".
 */

export interface WaitOptions {
  /** Give up after this long. */
  timeoutMs: number;
  /** Between two checks; 25 ms unless told. */
  intervalMs?: number;
  /** What is awaited, for the error: "the job to finish", "the process to exit"... */
  what: string;
}

type Found<T> = Exclude<T, undefined | null | false>;

export async function waitFor<T>(check: () => T | Promise<T>, options: WaitOptions): Promise<Found<T>> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return value as Found<T>;
    if (Date.now() >= deadline) throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 25));
  }
}

export async function within<T>(event: Promise<T>, options: Omit<WaitOptions, 'intervalMs'>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`)), options.timeoutMs);
  });
  try {
    return await Promise.race([event, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
