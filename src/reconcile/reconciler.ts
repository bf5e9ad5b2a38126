/**
 * The safety net. Database Webhooks are sent once by pg_net and never retried, so some events
 * are lost; a reconcile pass makes the profile table right anyway:
 *
 * 1. deferred syncs (from before-user-created hooks) whose user now exists are completed;
 * 2. live auth users without a profile are synced, a batch per statement;
 * 3. profiles whose user is gone get the delete policy, a batch per statement;
 * 4. delivery records and deferred syncs past the retention window are pruned.
 *
 * A pass runs under a cross-replica lock: with several replicas, exactly one runs at a time.
 * Framework free, like the engine.
 */
import type { Log } from '../logging.ts';
import { isRowRefusal, runStep } from './batch.ts';
import { prefetchedPages } from './pages.ts';
import type { SyncAction, SyncEngine } from '../sync/engine.ts';
import type { ProfileStore, WriteContext } from '../sync/profile-store.ts';
import type { ServiceState } from '../sync/service-state.ts';

export interface ReconcileReport {
  startedAt: string;
  durationMs: number;
  /** Deferred syncs completed. */
  deferred: number;
  /** Profiles written or checked, by what happened to them. */
  actions: Record<SyncAction, number>;
  /** Users whose profile the database refused; each is logged with its id. */
  failed: number;
  pruned: { deliveries: number; deferred: number };
}

export interface ReconcilerOptions {
  batchSize: number;
  retentionHours: number;
  /** Told how each pass ended, for metrics. */
  onRun?: (outcome: 'finished' | 'skipped' | 'failed', report?: ReconcileReport) => void;
}

const RECONCILE: WriteContext = { actor: 'reconciler', source: 'reconcile' };

export class Reconciler {
  readonly #profiles: ProfileStore;
  readonly #state: ServiceState;
  readonly #engine: SyncEngine;
  readonly #options: ReconcilerOptions;
  readonly #log: Log;

  constructor(profiles: ProfileStore, state: ServiceState, engine: SyncEngine, options: ReconcilerOptions, log: Log) {
    this.#profiles = profiles;
    this.#state = state;
    this.#engine = engine;
    this.#options = options;
    this.#log = log;
  }

  /** One whole pass; null when another replica (or another loop here) is running one. */
  async runOnce(): Promise<ReconcileReport | null> {
    let run;
    try {
      run = await this.#state.exclusively('reconcile', () => this.#pass());
    } catch (error) {
      this.#options.onRun?.('failed');
      throw error;
    }
    if (!run.acquired) {
      this.#log.info('reconcile skipped: another replica is running one');
      this.#options.onRun?.('skipped');
      return null;
    }
    this.#log.info({ reconcile: run.value }, 'reconcile finished');
    this.#options.onRun?.('finished', run.value);
    return run.value;
  }

  /**
   * Completes deferred syncs whose user now exists (found by its id, or for a sign-up whose hook
   * showed a throwaway id, by its identity or e-mail), each on its own: the note is taken (and
   * locked against other replicas) and the user synced together, or neither (service-state.ts).
   */
  completeDeferred(): Promise<number> {
    return this.#state.completeDeferred(this.#options.batchSize, async (userId, profiles) => {
      try {
        await this.#engine.with(profiles).sync(userId, RECONCILE);
      } catch (error) {
        if (!isRowRefusal(error)) throw error;
        // Left to the missing-users step, which reports it with the other refusals.
        this.#log.warn({ userId, code: error.code, detail: error.message }, 'deferred sync refused by the profile table');
      }
    });
  }

  /** Forgets delivery ids and unfulfilled deferred syncs past the retention window. */
  prune(): Promise<{ deliveries: number; deferred: number }> {
    return this.#state.prune(this.#options.retentionHours);
  }

  async #pass(): Promise<ReconcileReport> {
    const started = Date.now();
    const report: ReconcileReport = {
      startedAt: new Date(started).toISOString(),
      durationMs: 0,
      deferred: await this.completeDeferred(),
      actions: { created: 0, updated: 0, unchanged: 0, deleted: 0 },
      failed: 0,
      pruned: { deliveries: 0, deferred: 0 },
    };
    await this.#syncMissing(report);
    if (this.#engine.rules.retire !== 'keep') await this.#retireOrphans(report);
    report.pruned = await this.prune();
    report.durationMs = Date.now() - started;
    return report;
  }

  async #syncMissing(report: ReconcileReport): Promise<void> {
    await runStep(this.#profiles, this.#engine, {
      step: 'missing',
      cursor: null,
      limit: this.#options.batchSize,
      dryRun: false,
      context: RECONCILE,
      onAction: (action, count) => void (report.actions[action] += count),
      onRefusal: (user, error) => {
        report.failed++;
        this.#log.warn({ userId: user.id, code: error.code, detail: error.message }, 'reconcile could not sync a user');
      },
      // Let requests in between batches (embedded PGlite runs on this thread).
      afterBatch: async (_handled, nextCursor) => {
        if (nextCursor !== null) await new Promise((resolve) => setImmediate(resolve));
      },
    });
  }

  async #retireOrphans(report: ReconcileReport): Promise<void> {
    const { batchSize } = this.#options;
    const pages = prefetchedPages((cursor) => this.#profiles.orphanedProfileIds({ cursor, limit: batchSize }), null);
    for await (const page of pages) {
      for (const outcome of await this.#engine.retireProfiles(page.items, RECONCILE)) {
        if (outcome.written) report.actions.deleted++;
      }
    }
  }
}
