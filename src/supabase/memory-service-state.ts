/**
 * The service's own state in Supabase API mode, kept in this process. Without a database
 * connection there is no `user_sync` schema to write (PostgREST cannot create one), so delivery
 * ids, deferred syncs, reconcile jobs and locks live here. With several replicas each keeps its
 * own: a repeated delivery reaching another replica is synced again, which changes nothing (syncs
 * are idempotent), and two reconciles may overlap, which is wasteful but harmless.
 *
 * Nothing here can commit with a write over HTTP, so each record follows its effect: a delivery
 * is recorded once its sync succeeded, a deferred sync forgotten once it was done.
 */
import { MemoryJobStore } from '../reconcile/memory-job-store.ts';
import type { ProfileStore } from '../sync/profile-store.ts';
import type { DeliveryRecord, LockedRun, ServiceState } from '../sync/service-state.ts';

export class MemoryServiceState implements ServiceState {
  readonly #profiles: ProfileStore;
  /** Delivery id → when it was handled. */
  readonly #deliveries = new Map<string, number>();
  /** User id → when its sync was deferred. */
  readonly #deferred = new Map<string, number>();
  readonly #locks = new Set<string>();
  readonly jobs = new MemoryJobStore();

  constructor(profiles: ProfileStore) {
    this.#profiles = profiles;
  }

  async once<T>(delivery: DeliveryRecord, effect: (profiles: ProfileStore) => Promise<T>): Promise<T | 'duplicate'> {
    if (this.#deliveries.has(delivery.id)) return 'duplicate';
    // Recorded only after the effect succeeded: a sync that failed (say, the API was down) is run
    // again when the sender resends.
    const value = await effect(this.#profiles);
    this.#deliveries.set(delivery.id, Date.now());
    return value;
  }

  async deferSync(userId: string): Promise<void> {
    this.#deferred.set(userId, Date.now());
  }

  async takeDeferred(work: (userId: string, profiles: ProfileStore) => Promise<void>): Promise<boolean> {
    for (const userId of this.#deferred.keys()) {
      if ((await this.#profiles.getAuthUser(userId)) === null) continue;
      await work(userId, this.#profiles);
      this.#deferred.delete(userId);
      return true;
    }
    return false;
  }

  async exclusively<T>(name: string, work: () => Promise<T>): Promise<LockedRun<T>> {
    if (this.#locks.has(name)) return { acquired: false };
    this.#locks.add(name);
    try {
      return { acquired: true, value: await work() };
    } finally {
      this.#locks.delete(name);
    }
  }

  async prune(olderThanHours: number): Promise<{ deliveries: number; deferred: number }> {
    const cutoff = Date.now() - olderThanHours * 3_600_000;
    const prune = (map: Map<string, number>) => {
      let removed = 0;
      for (const [key, at] of map) {
        if (at < cutoff) {
          map.delete(key);
          removed++;
        }
      }
      return removed;
    };
    return { deliveries: prune(this.#deliveries), deferred: prune(this.#deferred) };
  }
}
