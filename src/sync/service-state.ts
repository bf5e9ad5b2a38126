/**
 * The service's own bookkeeping, apart from the profiles it keeps: which webhook deliveries were
 * handled, syncs deferred until their user exists, reconcile jobs, and locks across replicas.
 * SQL back ends keep it in the `user_sync` schema beside the profiles (db/sql-service-state.ts);
 * Supabase API mode, which has no schema of its own, in this process
 * (supabase/memory-service-state.ts).
 *
 * The rule both keep: a record that something was done is never made before it was done. A
 * delivery is recorded together with its effect (SQL: in the same statement or transaction) or
 * right after the effect succeeded (memory), so a failed effect leaves no record and a resend
 * runs it again. A repeat that arrives while the first is still running may then run twice,
 * which changes nothing (syncs are idempotent), instead of never.
 */
import type { JobStore } from '../reconcile/job-store.ts';
import type { DeferredSync } from './deferred-match.ts';
import type { ProfileStore } from './profile-store.ts';

/** A webhook delivery, recorded so a repeat (to any replica) has no second effect. */
export interface DeliveryRecord {
  id: string;
  kind: string;
  userId: string | null;
}

export type LockedRun<T> = { acquired: true; value: T } | { acquired: false };

export interface ServiceState {
  /**
   * Runs `effect` as the one handling of `delivery`, or resolves `duplicate` without running it
   * when the delivery was recorded before. The effect makes its write through the profile store
   * it is given, which records the delivery with that write; the effect makes one write (a sync,
   * or the delete policy), else the second would find the delivery recorded. An effect that
   * throws leaves the delivery unrecorded.
   */
  once<T>(delivery: DeliveryRecord, effect: (profiles: ProfileStore) => Promise<T>): Promise<T | 'duplicate'>;

  /** Notes that a user not yet stored should be synced as soon as it is (deferred-match.ts). */
  deferSync(note: DeferredSync): Promise<void>;
  /**
   * Completes up to `limit` deferred syncs whose user is now stored, each on its own, and says
   * how many. A note's user is its own id once stored; else (the hook showed a throwaway id) the
   * first match by identity, then e-mail, created near the note and without a profile
   * (deferred-match.ts). `work` syncs that user with the profile store it is given, and the note
   * is removed together with it (SQL: one transaction, the note locked against other replicas
   * meanwhile) or after it succeeded. A note whose matches all have a profile is removed without
   * `work`: its user was synced already.
   */
  completeDeferred(limit: number, work: (userId: string, profiles: ProfileStore) => Promise<void>): Promise<number>;

  /** Runs `work` only if no other replica runs work under the same name; else `acquired: false`. */
  exclusively<T>(name: string, work: () => Promise<T>): Promise<LockedRun<T>>;
  /** Forgets deliveries and unfulfilled deferred syncs older than the retention window. */
  prune(olderThanHours: number): Promise<{ deliveries: number; deferred: number }>;

  /** Reconcile jobs. */
  readonly jobs: JobStore;
}
