/**
 * The service's own state in SQL, in the `user_sync` schema beside the profiles, so every replica
 * shares it. A delivery's record is written by the statement (or transaction) that writes its
 * effect, and a deferred sync's note is removed in the transaction that completes it.
 */
import { createHash } from 'node:crypto';
import type { ProfileStore } from '../sync/profile-store.ts';
import type { DeliveryRecord, ServiceState } from '../sync/service-state.ts';
import type { SqlClient, Queryable } from './sql-client.ts';
import { SqlJobStore } from './sql-job-store.ts';
import { DuplicateDelivery, type SqlProfileStore } from './sql-profile-store.ts';

/** A stable advisory-lock key for a name, so every replica derives the same one. */
export const advisoryLockKey = (name: string): number => createHash('sha256').update(`user_sync:${name}`).digest().readInt32BE(0);

/** Removes and returns one deferred sync whose user now exists, locked (and skipped by other replicas) until `tx` ends. */
async function takeReadyDeferredSync(tx: Queryable): Promise<string | undefined> {
  const [row] = await tx.query<{ user_id: string }>(
    `DELETE FROM user_sync.deferred_syncs d
      WHERE d.user_id IN (
        SELECT d2.user_id FROM user_sync.deferred_syncs d2
         WHERE EXISTS (SELECT 1 FROM auth.users u WHERE u.id = d2.user_id)
         ORDER BY d2.requested_at
         LIMIT 1
           FOR UPDATE SKIP LOCKED)
      RETURNING d.user_id::text AS user_id`,
  );
  return row?.user_id;
}

export class SqlServiceState implements ServiceState {
  readonly #sql: SqlClient;
  readonly #profiles: SqlProfileStore;
  readonly jobs: SqlJobStore;

  constructor(sql: SqlClient, profiles: SqlProfileStore) {
    this.#sql = sql;
    this.#profiles = profiles;
    this.jobs = new SqlJobStore(sql);
  }

  async once<T>(delivery: DeliveryRecord, effect: (profiles: ProfileStore) => Promise<T>): Promise<T | 'duplicate'> {
    // The guarded store records the delivery in the statement that writes (a live user: the one
    // statement of a sync) or the transaction that applies the delete policy.
    try {
      return await effect(this.#profiles.guardedBy(delivery));
    } catch (error) {
      if (error instanceof DuplicateDelivery) return 'duplicate';
      throw error;
    }
  }

  async deferSync(userId: string): Promise<void> {
    await this.#sql.query(
      `INSERT INTO user_sync.deferred_syncs (user_id) VALUES ($1)
       ON CONFLICT (user_id) DO UPDATE SET requested_at = now()`,
      [userId],
    );
  }

  takeDeferred(work: (userId: string, profiles: ProfileStore) => Promise<void>): Promise<boolean> {
    return this.#sql.transaction(async (tx) => {
      const userId = await takeReadyDeferredSync(tx);
      if (userId === undefined) return false;
      await work(userId, this.#profiles.inTransaction(tx));
      return true;
    });
  }

  exclusively<T>(name: string, work: () => Promise<T>) {
    return this.#sql.withTryLock(advisoryLockKey(name), work);
  }

  async prune(olderThanHours: number): Promise<{ deliveries: number; deferred: number }> {
    const [row] = await this.#sql.query<{ deliveries: number; deferred: number }>(
      `WITH deliveries AS (
         DELETE FROM user_sync.webhook_deliveries WHERE received_at < now() - make_interval(hours => $1) RETURNING 1
       ), deferred AS (
         DELETE FROM user_sync.deferred_syncs WHERE requested_at < now() - make_interval(hours => $1) RETURNING 1
       )
       SELECT (SELECT count(*) FROM deliveries)::int AS deliveries, (SELECT count(*) FROM deferred)::int AS deferred`,
      [olderThanHours],
    );
    return { deliveries: row!.deliveries, deferred: row!.deferred };
  }
}
