/**
 * Reconcile jobs for admins (`POST /reconcile`): the same repairs as the periodic reconcile, on
 * demand, chosen by step (missing users, stale profiles, orphaned profiles), with a dry run, and
 * progress that can be watched. A job runs in batches; after each, its phase, cursor, counts and
 * first errors are saved. Jobs run only under the cross-replica `reconcile-jobs` lock, one at a
 * time, so a job found `running` by the lock's holder was left by a process that died (its lock
 * went with its connection) and is taken up again at once, where it stopped. Every batch is one
 * statement, so a kill never leaves a profile half-written.
 */
import { randomUUID } from 'node:crypto';
import type { Log } from '../logging.ts';
import type { SyncEngine } from '../sync/engine.ts';
import type { ProfileStore, WriteContext } from '../sync/profile-store.ts';
import type { ServiceState } from '../sync/service-state.ts';
import { runStep } from './batch.ts';
import { prefetchedPages } from './pages.ts';
import { emptyCounts, type JobPhase, type JobProgress, type JobRecord, type JobStore } from './job-store.ts';

export const JOB_PHASES: readonly JobPhase[] = ['missing', 'stale', 'orphaned'];

/** Errors kept per job: enough to act on, bounded however many users fail. */
const MAX_ERRORS = 20;

export interface JobRunnerOptions {
  batchSize: number;
}

/** Thrown between batches when the service shuts down: the job stays `running`, to be resumed. */
class Stopping extends Error {}

export class JobRunner {
  readonly #profiles: ProfileStore;
  readonly #state: ServiceState;
  readonly #engine: SyncEngine;
  readonly #store: JobStore;
  readonly #options: JobRunnerOptions;
  readonly #log: Log;
  #draining: Promise<void> | undefined;
  #stopping = false;

  constructor(profiles: ProfileStore, state: ServiceState, engine: SyncEngine, options: JobRunnerOptions, log: Log) {
    this.#profiles = profiles;
    this.#state = state;
    this.#engine = engine;
    this.#store = state.jobs;
    this.#options = options;
    this.#log = log;
  }

  async enqueue(request: { dryRun: boolean; include: JobPhase[] }, requestedBy: string): Promise<string> {
    const id = randomUUID();
    // Steps run in a fixed order whatever order they were asked in, each once.
    const include = JOB_PHASES.filter((phase) => request.include.includes(phase));
    await this.#store.create({ id, dryRun: request.dryRun, include, requestedBy });
    void this.drain();
    return id;
  }

  get(id: string): Promise<JobRecord | null> {
    return this.#store.get(id);
  }

  /**
   * Stops after the batch in progress (its job stays `running`, and the next start resumes it)
   * and waits for that.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#draining;
  }

  /** Runs queued (or abandoned) jobs until none is left; resolves when this drain is done. */
  drain(): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    this.#draining ??= this.#state
      .exclusively('reconcile-jobs', async () => {
        while (!this.#stopping) {
          const job = await this.#store.claimNext();
          if (job === null) return;
          await this.#run(job);
        }
      })
      .then(() => undefined)
      .catch((error: unknown) => this.#log.error({ err: error }, 'reconcile jobs could not be run; the next drain retries'))
      .finally(() => {
        this.#draining = undefined;
      });
    return this.#draining;
  }

  async #run(job: JobRecord): Promise<void> {
    const context: WriteContext = { actor: `job:${job.requestedBy}`, source: 'reconcile' };
    const progress: JobProgress = {
      done: job.done,
      total: job.total,
      counts: { ...emptyCounts(), ...job.counts },
      errors: job.errors,
      phase: job.phase,
      cursor: job.cursor,
    };
    this.#log.info({ jobId: job.id, resumed: job.phase !== null, dryRun: job.dryRun, include: job.include }, 'reconcile job started');
    // Counted alongside the first batches, not before them: over a million users the count is a
    // full pass over both tables, seconds the job need not wait for. Its snapshot is still the
    // job's start, taken before the first batch writes.
    const counting = progress.total === null ? this.#countTotal(job).then((total) => void (progress.total = total)) : Promise.resolve();
    // Awaited before the job ends; a failure there must not go unhandled if a batch fails first.
    counting.catch(() => undefined);
    try {
      const start = progress.phase === null ? 0 : job.include.indexOf(progress.phase);
      for (const phase of job.include.slice(start)) {
        if (phase !== progress.phase) {
          progress.phase = phase;
          progress.cursor = null;
        }
        await this.#runPhase(job, phase, progress, context);
      }
      await counting;
      await this.#store.save(job.id, progress);
      await this.#store.finish(job.id, 'succeeded');
      this.#log.info({ jobId: job.id, counts: progress.counts, done: progress.done }, 'reconcile job succeeded');
    } catch (error) {
      if (error instanceof Stopping) {
        this.#log.info({ jobId: job.id, done: progress.done }, 'reconcile job paused by shutdown; the next start resumes it');
        return;
      }
      await this.#store.save(job.id, progress).catch(() => undefined);
      await this.#store.finish(job.id, 'failed', error instanceof Error ? error.message : String(error)).catch(() => undefined);
      this.#log.error({ err: error, jobId: job.id }, 'reconcile job failed');
    }
  }

  /** What the job's steps have before them; null where the back end cannot count cheaply. */
  async #countTotal(job: JobRecord): Promise<number | null> {
    const totals = await this.#profiles.reconcileTotals();
    if (totals === null) return null;
    return (
      (job.include.includes('missing') ? totals.missing : 0) +
      (job.include.includes('stale') ? totals.withProfile : 0) +
      (job.include.includes('orphaned') && this.#engine.rules.retire !== 'keep' ? totals.orphaned : 0)
    );
  }

  async #runPhase(job: JobRecord, phase: JobPhase, progress: JobProgress, context: WriteContext): Promise<void> {
    if (phase === 'orphaned' && this.#engine.rules.retire === 'keep') return;
    const limit = this.#options.batchSize;
    if (phase === 'orphaned') {
      const pages = prefetchedPages((cursor) => this.#profiles.orphanedProfileIds({ cursor, limit }), progress.cursor);
      for await (const { items, nextCursor } of pages) {
        if (job.dryRun) progress.counts.deleted += items.length;
        else for (const outcome of await this.#engine.retireProfiles(items, context)) if (outcome.written) progress.counts.deleted++;
        await this.#afterBatch(job, progress, items.length, nextCursor);
      }
      return;
    }
    await runStep(this.#profiles, this.#engine, {
      step: phase === 'missing' ? 'missing' : 'profiled',
      cursor: progress.cursor,
      limit,
      dryRun: job.dryRun,
      context,
      onAction: (action, count) => void (progress.counts[action] += count),
      onRefusal: (user, error) => {
        progress.counts.failed++;
        if (progress.errors.length < MAX_ERRORS) progress.errors.push({ userId: user.id, code: error.code, detail: error.message });
      },
      afterBatch: (handled, nextCursor) => this.#afterBatch(job, progress, handled, nextCursor),
    });
  }

  /** Saves the job's progress after a batch, then lets requests in; throws `Stopping` on shutdown. */
  async #afterBatch(job: JobRecord, progress: JobProgress, handled: number, nextCursor: string | null): Promise<void> {
    progress.done += handled;
    progress.cursor = nextCursor;
    await this.#store.save(job.id, progress);
    if (nextCursor === null) return;
    // Embedded PGlite runs on this thread: a job that chained statement after statement would
    // keep every request waiting until it ended.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.#stopping) throw new Stopping();
  }
}
