/**
 * Runs the reconcile every RECONCILE_INTERVAL_SECONDS and completes deferred syncs every
 * DEFERRED_SYNC_INTERVAL_SECONDS (0 disables either). Each timer is re-armed only when its run has
 * finished, so runs never pile up; a failed run is logged and the next one comes as planned.
 * The reconcile prunes old delivery records; with the reconcile off, they are pruned hourly.
 */
import type { Log } from '../logging.ts';
import type { JobRunner } from './jobs.ts';
import type { Reconciler } from './reconciler.ts';

/** How often queued jobs are looked for (a job queued here starts at once). */
const JOB_POLL_SECONDS = 5;

export interface Schedule {
  /** Stops the timers and waits for a run in progress to finish. */
  stop(): Promise<void>;
}

export function startSchedule(
  reconciler: Reconciler,
  jobs: JobRunner,
  options: { intervalSeconds: number; deferredIntervalSeconds: number },
  log: Log,
): Schedule {
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<unknown>>();
  let stopped = false;

  const every = (seconds: number, name: string, task: () => Promise<unknown>) => {
    if (seconds <= 0) return;
    const arm = () => {
      if (stopped) return;
      const timer = setTimeout(() => {
        timers.delete(timer);
        const run = task()
          .catch((error: unknown) => log.error({ err: error }, `${name} failed; next attempt in ${seconds} s`))
          .finally(() => {
            running.delete(run);
            arm();
          });
        running.add(run);
      }, seconds * 1000);
      // The server keeps the process alive; a pending reconcile must not.
      timer.unref();
      timers.add(timer);
    };
    arm();
  };

  every(options.intervalSeconds, 'reconcile', () => reconciler.runOnce());
  every(options.intervalSeconds > 0 ? 0 : 3600, 'pruning', async () => {
    const pruned = await reconciler.prune();
    log.info({ pruned }, 'old delivery records pruned');
  });
  // Jobs queued on another replica, or left by a process that died, are taken up here; a job
  // queued on this replica starts at once. The first look happens right after start-up.
  every(JOB_POLL_SECONDS, 'reconcile jobs', () => jobs.drain());
  void jobs.drain();
  every(options.deferredIntervalSeconds, 'deferred syncs', async () => {
    const done = await reconciler.completeDeferred();
    if (done > 0) log.info({ deferred: done }, 'deferred syncs completed');
  });

  return {
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.allSettled([...running, jobs.stop()]);
    },
  };
}
