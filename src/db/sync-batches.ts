/**
 * The one-user syncs of concurrent callers, joined into one statement each (coalescer.ts): plain
 * syncs (`POST /sync/:userId`, `POST /sync/me`) and syncs that record a webhook delivery.
 *
 * What each caller gets is what it would get alone, in some serial order of the batch:
 * - its own result and, when its sync wrote, its own audit row (actor and source);
 * - several callers of one user in a batch are one write: the first gets `created`/`updated`
 *   and the audit row, the others `unchanged` with the row as written, as if they came next;
 * - a row the table refuses fails only its caller: a batch the database refuses is run again
 *   one caller at a time, so each gets its own answer (and the others their writes);
 * - a delivery is recorded with its user's write or not at all; a delivery id already in a batch
 *   waits for the next one, where it is found recorded (a duplicate) or not.
 * A lone caller runs the one-user statement it always ran (prepared, planned for one key).
 */
import { ProblemError } from '../errors/problems.ts';
import type { DeliveryRecord } from '../sync/service-state.ts';
import type { WriteContext } from '../sync/profile-store.ts';
import { profileStatement } from './errors.ts';
import { Coalescer, type CoalescerOptions, type Settled } from './coalescer.ts';
import type { ProfileStatements } from './profile-statements.ts';
import type { Queryable } from './sql-client.ts';

/** A row of the upsert statements (statements/upserts.ts); `inserted` is null when nothing was written. */
export interface UpsertRow {
  id: string;
  before: Record<string, unknown> | null;
  inserted: boolean | null;
  after: Record<string, unknown> | null;
  changed_fields: string[] | null;
}

/** Thrown by a guarded write whose delivery was recorded before: nothing was written. */
export class DuplicateDelivery extends Error {}

export interface SyncItem {
  /** Lower case. */
  userId: string;
  context: WriteContext;
}

export interface GuardedSyncItem extends SyncItem {
  guard: DeliveryRecord;
}

export interface SyncBatches {
  /** The user's row (null: absent or soft-deleted, nothing written). */
  sync: (item: SyncItem) => Promise<UpsertRow | null>;
  /** The same, recording the delivery with the write; throws DuplicateDelivery for a repeat. */
  syncOnce: (item: GuardedSyncItem) => Promise<UpsertRow | null>;
}

type Run = <Row>(statement: string, params: unknown[]) => Promise<Row[]>;

/** A row as the caller after the first of its user in a batch sees it: already written, unchanged. */
const asUnchanged = (row: UpsertRow): UpsertRow => ({ id: row.id, before: row.after ?? row.before, inserted: null, after: null, changed_fields: null });

/** Runs `batch` as one, or, when the table refuses some row of it, each item alone. */
async function batchOrEach<Item, Result>(
  batch: Item[],
  together: (items: Item[]) => Promise<Settled<Result>[]>,
  alone: (item: Item) => Promise<Result>,
): Promise<Settled<Result>[]> {
  const settle = (item: Item) => alone(item).then((value): Settled<Result> => ({ value }), (error: unknown): Settled<Result> => ({ error }));
  if (batch.length === 1) return [await settle(batch[0]!)];
  try {
    return await together(batch);
  } catch (error) {
    // A 409/422: some row was refused, and the statement wrote nothing. Which one, only running
    // them apart tells. Anything else (the database away) is every caller's answer.
    if (!(error instanceof ProblemError)) throw error;
    return Promise.all(batch.map(settle));
  }
}

/** Runs a prepared profile write on `db`, refusals as 409/422 problems. */
const runOn =
  (db: Queryable): Run =>
  (statement, params) =>
    profileStatement(() => db.query(statement, params, { prepared: true }));

/** Each sync alone, on `db` (a transaction's connection, or the pool when joining is off). */
export function syncAlone(db: Queryable, statements: ProfileStatements): SyncBatches {
  const run = runOn(db);
  const { tracked } = statements;
  return {
    sync: async ({ userId, context }) => {
      const [row] = await run<UpsertRow>(statements.syncLiveOne, [userId, context.actor, context.source, tracked]);
      return row ?? null;
    },
    syncOnce: async ({ userId, context, guard: delivery }) => {
      const [row] = await run<UpsertRow & { claimed: boolean }>(statements.syncLiveOnce, [
        userId,
        context.actor,
        context.source,
        tracked,
        delivery.id,
        delivery.kind,
      ]);
      if (row !== undefined && !row.claimed) throw new DuplicateDelivery();
      return row ?? null;
    },
  };
}

/** The syncs of concurrent callers on the pool `db`, joined as `options` allow. */
export function syncBatches(db: Queryable, statements: ProfileStatements, options: CoalescerOptions): SyncBatches {
  const run = runOn(db);
  const { tracked } = statements;
  const alone = syncAlone(db, statements);

  const many = async (items: SyncItem[]): Promise<Settled<UpsertRow | null>[]> => {
    // The first caller of each user speaks for it in the statement.
    const first = new Map<string, SyncItem>();
    for (const item of items) if (!first.has(item.userId)) first.set(item.userId, item);
    const callers = [...first.values()];
    const rows = await run<UpsertRow>(statements.syncLiveBatch, [
      callers.map(({ userId }) => userId),
      callers.map(({ context }) => context.actor),
      callers.map(({ context }) => context.source),
      tracked,
    ]);
    const byUser = new Map(rows.map((row) => [row.id, row]));
    return items.map((item) => {
      const row = byUser.get(item.userId);
      if (row === undefined) return { value: null };
      return { value: first.get(item.userId) === item ? row : asUnchanged(row) };
    });
  };

  const manyOnce = async (items: GuardedSyncItem[]): Promise<Settled<UpsertRow | null>[]> => {
    const rows = await run<UpsertRow & { delivery_id: string; claimed: boolean }>(statements.syncLiveOnceBatch, [
      items.map(({ userId }) => userId),
      items.map(({ context }) => context.actor),
      items.map(({ context }) => context.source),
      tracked,
      items.map(({ guard: delivery }) => delivery.id),
      items.map(({ guard: delivery }) => delivery.kind),
    ]);
    const byDelivery = new Map(rows.map((row) => [row.delivery_id, row]));
    const written = new Set<string>();
    return items.map(({ userId, guard: delivery }) => {
      const row = byDelivery.get(delivery.id);
      if (row === undefined) return { value: null };
      if (!row.claimed) return { error: new DuplicateDelivery() };
      const upsert: UpsertRow = { id: row.id, before: row.before, inserted: row.inserted, after: row.after, changed_fields: row.changed_fields };
      if (written.has(userId)) return { value: asUnchanged(upsert) };
      written.add(userId);
      return { value: upsert };
    });
  };

  const plain = new Coalescer<SyncItem, UpsertRow | null>((batch) => batchOrEach(batch, many, alone.sync), options);
  const guarded = new Coalescer<GuardedSyncItem, UpsertRow | null>(
    (batch) => batchOrEach(batch, manyOnce, alone.syncOnce),
    options,
    (batch, item) => !batch.some(({ guard: delivery }) => delivery.id === item.guard.id),
  );
  return { sync: (item) => plain.submit(item), syncOnce: (item) => guarded.submit(item) };
}
