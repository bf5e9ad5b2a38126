/**
 * The service's own state in Supabase API mode, kept in this process. Without a database
 * connection there is no `user_sync` schema to write (PostgREST cannot create one), so delivery
 * ids, deferred syncs and the reconcile lock live here. With several replicas each keeps its own:
 * a repeated delivery reaching another replica is synced again, which changes nothing (syncs are
 * idempotent), and two reconciles may overlap, which is wasteful but harmless.
 */
export class MemoryState {
  readonly #deliveries = new Map<string, number>();
  readonly #deferred = new Map<string, number>();
  readonly #locks = new Set<string>();

  claimDelivery(id: string): boolean {
    if (this.#deliveries.has(id)) return false;
    this.#deliveries.set(id, Date.now());
    return true;
  }

  defer(userId: string): void {
    this.#deferred.set(userId, Date.now());
  }

  deferredUserIds(): string[] {
    return [...this.#deferred.keys()];
  }

  undefer(userId: string): void {
    this.#deferred.delete(userId);
  }

  prune(olderThanHours: number): { deliveries: number; deferred: number } {
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

  async exclusively<T>(name: string, work: () => Promise<T>): Promise<{ acquired: true; value: T } | { acquired: false }> {
    if (this.#locks.has(name)) return { acquired: false };
    this.#locks.add(name);
    try {
      return { acquired: true, value: await work() };
    } finally {
      this.#locks.delete(name);
    }
  }
}
