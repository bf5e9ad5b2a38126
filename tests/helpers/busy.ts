/** Ways for a test to load its own process. */
import { Worker } from 'node:worker_threads';
import type { LoopMessage, LoopOptions, LoopOutcome } from './request-loop.worker.ts';

export type { LoopOutcome, LoopRequest } from './request-loop.worker.ts';

/**
 * Keeps the event loop saturated for `forMs`: synchronous busy-waits of `chunkMs`, with one turn
 * of the loop between them, so timers run late by about `chunkMs` every turn (what a process that
 * cannot keep up looks like) while queued requests are still taken in between.
 */
export async function saturateEventLoop(forMs: number, chunkMs: number): Promise<void> {
  const end = Date.now() + forMs;
  while (Date.now() < end) {
    const chunkEnd = Math.min(end, Date.now() + chunkMs);
    while (Date.now() < chunkEnd) {
      // busy: nothing else runs on this thread meanwhile
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export interface RequestLoop {
  /** Resolves once the first round of requests has been answered. */
  started: Promise<void>;
  /** The outcomes received so far, in the order they came (for waiting on the load's progress). */
  answered(): readonly LoopOutcome[];
  /** Stops sending and resolves with every request's outcome. */
  stop(): Promise<LoopOutcome[]>;
}

/** Runs the request loop on a worker thread, until stopped. */
export function runRequestLoop(options: LoopOptions): RequestLoop {
  const worker = new Worker(new URL('./request-loop.worker.ts', import.meta.url), { workerData: options });
  let started!: () => void;
  let done!: (outcomes: LoopOutcome[]) => void;
  let failed!: (error: Error) => void;
  const startedPromise = new Promise<void>((resolve) => (started = resolve));
  const answered: LoopOutcome[] = [];
  const donePromise = new Promise<LoopOutcome[]>((resolve, reject) => {
    done = resolve;
    failed = reject;
  });
  worker.on('message', (message: LoopMessage) => {
    if (message.type === 'started') started();
    else if (message.type === 'outcome') answered.push(message.outcome);
    else {
      done(message.outcomes);
      void worker.terminate();
    }
  });
  worker.once('error', failed);
  worker.once('exit', (code) => failed(new Error(`the request loop exited (${code}) before answering`)));
  return {
    started: Promise.race([startedPromise, donePromise.then(() => undefined)]),
    answered: () => answered,
    stop() {
      worker.postMessage('stop');
      return donePromise;
    },
  };
}
