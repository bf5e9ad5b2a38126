/**
 * The service's own state in Supabase API mode, kept in this process. Without a database
 * connection there is no `user_sync` schema to write (PostgREST cannot create one), so delivery
 * ids, deferred syncs, reconcile jobs and locks live here. With several replicas each keeps its
 * own: a repeated delivery reaching another replica is synced again, which changes nothing (syncs
 * are idempotent), and two reconciles may overlap, which is wasteful but harmless.
 *
 * Nothing here can commit with a write over HTTP, so each record follows its effect: a delivery
 * is recorded once its sync succeeded, a deferred sync forgotten once it was done. A deferred
 * sync whose own id is never stored (an OAuth sign-up's throwaway) is matched among the newest
 * users, listed once a round (sync/deferred-match.ts).
 */
import { MemoryJobStore } from '../reconcile/memory-job-store.ts';
import { firstWithoutProfile, matchesAmong, MATCH_WINDOW_SECONDS, type DeferredSync } from '../sync/deferred-match.ts';
import type { ProfileStore } from '../sync/profile-store.ts';
import type { DeliveryRecord, LockedRun, ServiceState } from '../sync/service-state.ts';
import type { ListedUser, SupabaseProfileStore } from './supabase-profile-store.ts';

/**
 * How many of the newest users a deferred round looks through for the users of notes whose own
 * id is not stored (a sign-up's user is stored within its request, and a round runs every few
 * seconds). A user pushed further back by a burst of sign-ups is left to after-user-created, a
 * Database Webhook or the reconcile.
 */
export const NEWEST_USERS_SEARCHED = 100;

/** A profile store that can also list the newest users: the Supabase API back end's. */
export type NewestUsersProfileStore = ProfileStore & Pick<SupabaseProfileStore, 'newestAuthUsers'>;

/** A deferred sync and when it was noted. */
interface Note extends DeferredSync {
  at: number;
}

export class MemoryServiceState implements ServiceState {
  readonly #profiles: NewestUsersProfileStore;
  /** Delivery id → when it was handled. */
  readonly #deliveries = new Map<string, number>();
  /** User id → its deferred sync. */
  readonly #deferred = new Map<string, Note>();
  readonly #locks = new Set<string>();
  readonly jobs = new MemoryJobStore();

  constructor(profiles: NewestUsersProfileStore) {
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

  async deferSync(note: DeferredSync): Promise<void> {
    this.#deferred.set(note.userId, { ...note, at: Date.now() });
  }

  async completeDeferred(limit: number, work: (userId: string, profiles: ProfileStore) => Promise<void>): Promise<number> {
    let done = 0;
    // The newest users are listed once a round, for every note, and only if a note needs them.
    let newest: Promise<ListedUser[]> | undefined;
    const listNewest = () => (newest ??= this.#profiles.newestAuthUsers(NEWEST_USERS_SEARCHED));
    for (const note of [...this.#deferred.values()]) {
      if (done === limit) break;
      const userId = await this.#userOf(note, listNewest);
      if (userId === undefined) continue;
      if (userId !== null) await work(userId, this.#profiles);
      this.#deferred.delete(note.userId);
      done++;
    }
    return done;
  }

  /**
   * The user to sync for a note (service-state.ts): its own id once stored, else the first match
   * without a profile; null when every match has one; undefined while there is none. Matches are
   * looked for while a user created near the note can still be among the newest.
   */
  async #userOf(note: Note, listNewest: () => Promise<ListedUser[]>): Promise<string | null | undefined> {
    if ((await this.#profiles.getAuthUser(note.userId)) !== null) return note.userId;
    const findable = note.providerId !== null || note.email !== null;
    if (!findable || Date.now() - note.at > MATCH_WINDOW_SECONDS * 1000) return undefined;
    const matches = matchesAmong(note, new Date(note.at), await listNewest());
    return matches.length === 0 ? undefined : firstWithoutProfile(matches, this.#profiles);
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
    const prune = <V>(map: Map<string, V>, at: (value: V) => number) => {
      let removed = 0;
      for (const [key, value] of map) {
        if (at(value) < cutoff) {
          map.delete(key);
          removed++;
        }
      }
      return removed;
    };
    return { deliveries: prune(this.#deliveries, (at) => at), deferred: prune(this.#deferred, (note) => note.at) };
  }
}
