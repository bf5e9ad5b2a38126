/**
 * A load client on a thread of its own: it keeps sending requests at a steady pace even while the
 * test's main thread (which runs the app) is busy, so requests really queue up behind a blocked
 * event loop. Started by `runRequestLoop`: says when its first round is answered, posts each
 * outcome as it comes, runs until told to stop, then posts back every request's outcome.
 * Plain erasable TypeScript: Node runs it directly, without vitest's transform.
 */
import { parentPort, workerData } from 'node:worker_threads';

export interface LoopRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
}

export interface LoopOptions {
  url: string;
  /** Sent together, once per tick. */
  round: LoopRequest[];
  everyMs: number;
  /** A request without an answer after this long counts as timed out. */
  timeoutMs: number;
}

export interface LoopOutcome {
  path: string;
  sentAt: number;
  receivedAt: number;
  status?: number;
  contentType?: string | null;
  retryAfter?: string | null;
  code?: string;
  error?: string;
}

async function send(options: LoopOptions, request: LoopRequest): Promise<LoopOutcome> {
  const sentAt = Date.now();
  try {
    const res = await fetch(options.url + request.path, {
      method: request.method,
      headers: request.headers ?? {},
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const text = await res.text();
    let code: string | undefined;
    if (res.headers.get('content-type')?.startsWith('application/problem+json')) {
      code = (JSON.parse(text) as { code?: string }).code;
    }
    return {
      path: request.path,
      sentAt,
      receivedAt: Date.now(),
      status: res.status,
      contentType: res.headers.get('content-type'),
      retryAfter: res.headers.get('retry-after'),
      ...(code === undefined ? {} : { code }),
    };
  } catch (error) {
    const { name, cause } = error as Error & { cause?: { code?: string } };
    return { path: request.path, sentAt, receivedAt: Date.now(), error: cause?.code ?? name };
  }
}

export type LoopMessage =
  | { type: 'started' }
  | { type: 'outcome'; outcome: LoopOutcome }
  | { type: 'done'; outcomes: LoopOutcome[] };

/** Sends one request and tells the test's thread how it went as soon as it knows. */
async function sendAndTell(options: LoopOptions, request: LoopRequest): Promise<LoopOutcome> {
  const outcome = await send(options, request);
  parentPort?.postMessage({ type: 'outcome', outcome } satisfies LoopMessage);
  return outcome;
}

async function main(options: LoopOptions): Promise<LoopOutcome[]> {
  let stopped = false;
  parentPort?.once('message', () => (stopped = true));
  const first = Promise.all(options.round.map((request) => sendAndTell(options, request)));
  void first.then(() => parentPort?.postMessage({ type: 'started' } satisfies LoopMessage));
  const pending: Promise<LoopOutcome | LoopOutcome[]>[] = [first];
  while (!stopped) {
    // The load's pace (a round every `everyMs`), not a wait for anything.
    await new Promise((resolve) => setTimeout(resolve, options.everyMs));
    for (const request of options.round) pending.push(sendAndTell(options, request));
  }
  return (await Promise.all(pending)).flat();
}

parentPort?.postMessage({ type: 'done', outcomes: await main(workerData as LoopOptions) } satisfies LoopMessage);
