/**
 * The service's own state in SQL, in the `user_sync` schema beside the profiles, so every replica
 * shares it. A delivery's record is written by the statement (or transaction) that writes its
 * effect, and a deferred sync's note is removed in the transaction that completes it. Matching a
 * note to its user reads auth.identities, which every Supabase project has.
 */
import { createHash } from 'node:crypto';
import { firstWithoutProfile, MATCH_SLACK_SECONDS, MATCH_WINDOW_SECONDS, MAX_MATCHES, type DeferredSync } from '../sync/deferred-match.ts';
import type { ProfileStore } from '../sync/profile-store.ts';
import type { DeliveryRecord, ServiceState } from '../sync/service-state.ts';
import type { SqlClient, Queryable } from './sql-client.ts';
import { SqlJobStore } from './sql-job-store.ts';
import { DuplicateDelivery, type SqlProfileStore } from './sql-profile-store.ts';
import { LIVE_USER } from './statements/fragments.ts';

/** A stable advisory-lock key for a name, so every replica derives the same one. */
export const advisoryLockKey = (name: string): number => createHash('sha256').update(`user_sync:${name}`).digest().readInt32BE(0);

/** A live user `u` created near the note `d` (deferred-match.ts). */
const CREATED_NEAR = `${LIVE_USER} AND u.created_at BETWEEN d.requested_at - interval '${MATCH_SLACK_SECONDS} seconds'
                                                  AND d.requested_at + interval '${MATCH_WINDOW_SECONDS} seconds'`;

/**
 * The users a deferred sync may stand for, best first: its own id once stored (any row, as before
 * the note kept more); then live users created near the note (deferred-match.ts) with its
 * identity, then with its e-mail (through the unique index of non-SSO users, and the identities'
 * e-mail index for the rest). `d` is the note.
 */
const MATCHES = `ARRAY(
  SELECT c.id FROM (
    SELECT u.id, 0 AS rank, u.created_at FROM auth.users u WHERE u.id = d.user_id
    UNION ALL
    SELECT u.id, 1, u.created_at FROM auth.identities i JOIN auth.users u ON u.id = i.user_id
     WHERE i.provider_id = d.provider_id AND i.provider = d.provider AND ${CREATED_NEAR}
    UNION ALL
    SELECT u.id, 2, u.created_at FROM auth.users u
     WHERE u.email = d.email AND NOT u.is_sso_user AND ${CREATED_NEAR}
    UNION ALL
    SELECT u.id, 2, u.created_at FROM auth.identities i JOIN auth.users u ON u.id = i.user_id
     WHERE i.email = d.email AND ${CREATED_NEAR}
  ) c
  GROUP BY c.id
  ORDER BY min(c.rank), min(c.created_at)
  LIMIT ${MAX_MATCHES})`;

/**
 * Removes and returns the oldest deferred sync with a stored user, and its matches (MATCHES), the
 * note locked (and skipped by other replicas) until `tx` ends.
 */
async function takeReadyDeferredSync(tx: Queryable): Promise<{ userId: string; matches: string[] } | undefined> {
  const [row] = await tx.query<{ user_id: string; matches: string[] }>(
    `WITH ready AS (
       SELECT d.user_id, m.ids
         FROM user_sync.deferred_syncs d
        CROSS JOIN LATERAL (SELECT ${MATCHES} AS ids) m
        WHERE cardinality(m.ids) > 0
        ORDER BY d.requested_at
        LIMIT 1
          FOR UPDATE OF d SKIP LOCKED
     )
     DELETE FROM user_sync.deferred_syncs d USING ready
      WHERE d.user_id = ready.user_id
     RETURNING d.user_id::text AS user_id, ready.ids::text[] AS matches`,
  );
  return row && { userId: row.user_id, matches: row.matches };
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

  async deferSync({ userId, provider, providerId, email }: DeferredSync): Promise<void> {
    await this.#sql.query(
      `INSERT INTO user_sync.deferred_syncs (user_id, provider, provider_id, email) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id) DO UPDATE
         SET requested_at = now(), provider = EXCLUDED.provider, provider_id = EXCLUDED.provider_id, email = EXCLUDED.email`,
      [userId, provider, providerId, email],
    );
  }

  async completeDeferred(limit: number, work: (userId: string, profiles: ProfileStore) => Promise<void>): Promise<number> {
    let done = 0;
    while (done < limit) {
      const took = await this.#sql.transaction(async (tx) => {
        const note = await takeReadyDeferredSync(tx);
        if (note === undefined) return false;
        const profiles = this.#profiles.inTransaction(tx);
        const [first] = note.matches;
        const userId = first === note.userId ? first : await firstWithoutProfile(note.matches, profiles);
        if (userId !== null) await work(userId, profiles);
        return true;
      });
      if (!took) break;
      done++;
    }
    return done;
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
