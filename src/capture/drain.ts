/**
 * The drain: turns the rows the capture triggers queue in user_sync.changes into profile syncs.
 *
 * Each batch is one transaction: claim the oldest rows no other replica holds, delete them, sync
 * each distinct user they name (re-read from auth.users, as a webhook sync does: a change row only
 * names its user), apply the delete policy to users that are gone, commit. A crash before the
 * commit rolls the claim back, so the rows are drained again; replicas drain side by side without
 * taking the same rows.
 *
 * It runs when notified (LISTEN), when the listening connection (re)connects, and on a fallback
 * poll, since a notification is lost while the connection is down. A batch as full as it may be
 * is followed at once by the next.
 */
import { ProblemError } from '../errors/problems.ts';
import type { Log } from '../logging.ts';
import type { Listening, Queryable, SqlClient } from '../db/sql-client.ts';
import type { SqlProfileStore } from '../db/sql-profile-store.ts';
import type { SyncObserver } from '../sync/engine.ts';
import type { WriteContext } from '../sync/profile-store.ts';
import { isDeleted } from '../sync/auth-user.ts';
import { CAPTURE_CHANNEL, WAKE_FLAG_SEQUENCE } from './capture-sql.ts';

export type DrainOutcome = 'created' | 'updated' | 'unchanged' | 'deleted' | 'refused';

export interface DrainReport {
  /** Change rows taken off the queue. */
  claimed: number;
  /** Distinct users they named, each counted once under its outcome. */
  outcomes: Record<DrainOutcome, number>;
}

export interface CaptureDrainOptions {
  batchSize: number;
  pollMs: number;
  /** Told of every batch: metrics count the outcomes. */
  observe?: (report: DrainReport) => void;
  /** Told of the syncs, as every other path tells the engine's observer. */
  observeSyncs?: SyncObserver;
}

/** After a drain that took changes, when to look once more (see #loop). */
const TAIL_CHECK_MS = 50;

const CONTEXT: WriteContext = { actor: 'capture', source: 'capture' };

const isRefusal = (error: unknown) =>
  error instanceof ProblemError && (error.code === 'profile_conflict' || error.code === 'profile_rejected');

const emptyOutcomes = (): Record<DrainOutcome, number> => ({ created: 0, updated: 0, unchanged: 0, deleted: 0, refused: 0 });

export class CaptureDrain {
  readonly #sql: SqlClient;
  readonly #profiles: SqlProfileStore;
  readonly #options: CaptureDrainOptions;
  readonly #log: Log;
  #listening: Listening | undefined;
  #poll: NodeJS.Timeout | undefined;
  /** The drain loop in progress, if any: one per process. */
  #running: Promise<void> | undefined;
  /** Woken while running: go round once more before stopping. */
  #again = false;
  #stopped = false;
  #failing = false;

  constructor(sql: SqlClient, profiles: SqlProfileStore, options: CaptureDrainOptions, log: Log) {
    this.#sql = sql;
    this.#profiles = profiles;
    this.#options = options;
    this.#log = log;
  }

  /** Listens and polls until `stop`. */
  async start(): Promise<void> {
    this.#listening = await this.#sql.listen(CAPTURE_CHANNEL, { notified: () => this.wake(), connected: () => this.wake() });
    this.#poll = setInterval(() => this.wake(), this.#options.pollMs);
    this.#poll.unref();
  }

  /** Asks for the queue to be drained; cheap to call often (calls while draining fold into one more round). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
    });
  }

  /** Stops listening and polling; a batch in progress commits (or rolls back) first. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#poll);
    await this.#listening?.close();
    await this.#running;
  }

  async #loop(): Promise<void> {
    let drained = false;
    do {
      this.#again = false;
      let report: DrainReport;
      try {
        report = await this.drainBatch();
      } catch (error) {
        // The database is away, or the queue was removed: the next poll tries again. Said once,
        // not every poll.
        if (!this.#failing) this.#log.warn({ err: error }, 'capture drain failed; retrying on the next poll');
        this.#failing = true;
        return;
      }
      if (this.#failing) this.#log.info('capture drain working again');
      this.#failing = false;
      // Round again until a batch finds nothing: a change queued while this drain is at work does
      // not notify (capture-sql.ts), so whatever committed meanwhile is taken now.
      if (report.claimed > 0) {
        this.#again = true;
        drained = true;
      }
      // PGlite answers on the microtask queue: without a turn of the event loop between batches,
      // a backlog would hold off timers and HTTP until it is drained.
      if (this.#again) await new Promise((resolve) => setImmediate(resolve));
    } while (this.#again && !this.#stopped);
    // Idle now: the next change notifies. Before the look below, so a change that committed
    // without notifying (it found the flag cleared) is taken by that look or by the poll.
    await this.#askToBeWoken();
    // A change whose transaction was still open during the last, empty round did not notify
    // either: look once more when such a transaction has had time to commit.
    if (drained && !this.#stopped) setTimeout(() => this.wake(), TAIL_CHECK_MS).unref();
  }

  /**
   * Sets the "wake me" flag the capture trigger reads (capture-sql.ts): the next change notifies,
   * and clears it. `setval` is not transactional: the trigger sees it at once. Best effort: a flag
   * left cleared costs latency only (changes wait for the poll), and the next drain sets it.
   */
  async #askToBeWoken(): Promise<void> {
    try {
      // Only when not set already: setval writes WAL, and an idle drain comes by every poll. A
      // flag removed with the queue is no error here (to_regclass is then null, and nothing is set).
      await this.#sql.query(
        `SELECT pg_catalog.setval(flag, 1)
           FROM (SELECT pg_catalog.to_regclass($1) AS flag) AS wake
          WHERE flag IS NOT NULL AND pg_catalog.pg_sequence_last_value(flag) IS DISTINCT FROM 1`,
        [WAKE_FLAG_SEQUENCE],
      );
    } catch (error) {
      this.#log.warn({ err: error }, 'capture drain could not ask to be woken: changes wait for the poll until the next drain asks');
    }
  }

  /** Drains one batch in one transaction. Public for the CLI and tests. */
  async drainBatch(): Promise<DrainReport> {
    const report = await this.#sql.transaction(async (tx) => {
      const profiles = this.#profiles.inTransaction(tx);
      await tx.query('SAVEPOINT capture_batch');
      let claimed: number;
      let gone: string[];
      const outcomes = emptyOutcomes();
      try {
        const synced = await profiles.syncChanges(this.#options.batchSize, CONTEXT);
        claimed = synced.claimed;
        gone = synced.gone;
        outcomes.created = synced.created;
        outcomes.updated = synced.updated;
        outcomes.unchanged = synced.users - synced.created - synced.updated - synced.gone.length;
      } catch (error) {
        if (!isRefusal(error)) throw error;
        // A row the profile table refuses failed the whole batch: take the same kind of batch
        // again and sync its users one at a time, so one bad user does not hold up the queue.
        await tx.query('ROLLBACK TO SAVEPOINT capture_batch');
        ({ claimed, gone } = await this.#oneByOne(tx, profiles, outcomes));
      }
      if (gone.length > 0) {
        const retired = await profiles.retireProfiles(gone, CONTEXT);
        outcomes.deleted = retired.filter((outcome) => outcome.written).length;
        outcomes.unchanged += retired.length - outcomes.deleted;
      }
      return { claimed, outcomes };
    });
    if (report.claimed > 0) {
      const observe = this.#options.observeSyncs;
      if (observe) for (const action of ['created', 'updated', 'unchanged', 'deleted'] as const) observe(action, 'capture', report.outcomes[action]);
      this.#options.observe?.(report);
    }
    return report;
  }

  async #oneByOne(tx: Queryable, profiles: SqlProfileStore, outcomes: Record<DrainOutcome, number>) {
    const userIds = await profiles.claimChanges(this.#options.batchSize);
    const gone: string[] = [];
    for (const userId of userIds) {
      await tx.query('SAVEPOINT capture_user');
      try {
        const [outcome] = await profiles.syncUsers([userId], CONTEXT);
        if (outcome) outcomes[outcome.action] += 1;
        // No row: gone, or an anonymous user the rules give no profile (left as it is).
        else if (isDeleted(await profiles.getAuthUser(userId))) gone.push(userId);
        else outcomes.unchanged += 1;
      } catch (error) {
        if (!isRefusal(error)) throw error;
        await tx.query('ROLLBACK TO SAVEPOINT capture_user');
        outcomes.refused += 1;
        // The change is dropped from the queue, not retried for ever: the table refuses this
        // user's row until the data or the table changes, and the reconcile will try it again.
        const problem = error as ProblemError;
        this.#log.warn(
          { userId, code: problem.code, ...problem.extensions, err: error },
          'capture: the profile table refused this user\'s row; the change is dropped, the reconcile will retry',
        );
      }
    }
    return { claimed: userIds.length, gone };
  }
}
