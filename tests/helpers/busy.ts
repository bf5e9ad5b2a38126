/** Ways for a test to load its own process. */
import { Worker } from 'node:worker_threads';
import type { LoopOptions, LoopOutcome } from './request-loop.worker.ts';

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

/** Runs the request loop on a worker thread and resolves with every request's outcome. */
export function runRequestLoop(options: LoopOptions): Promise<LoopOutcome[]> {
  const worker = new Worker(new URL('./request-loop.worker.ts', import.meta.url), { workerData: options });
  return new Promise((resolve, reject) => {
    worker.once('message', (outcomes: LoopOutcome[]) => {
      resolve(outcomes);
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the request loop exited (${code}) before answering`)));
  });
}
