/**
 * Profiles in SQL: `auth.users` and the profile table in one PostgreSQL database, reached through
 * PGlite (embedded) or node-postgres (postgres mode). Every method is one statement
 * (profile-statements.ts); a view bound to a transaction runs them on its connection, and a view
 * guarded by a webhook delivery records the delivery with its write (sql-service-state.ts).
 */
import { normalizeAuthUser, type AuthUser } from '../sync/auth-user.ts';
import { ProblemError } from '../errors/problems.ts';
import type { FieldMapping } from '../sync/field-map.ts';
import type { ProfileRules } from '../sync/profile-rules.ts';
import type {
  MissingUser,
  Page,
  PageSync,
  Paged,
  PreviewOutcome,
  ProfileRow,
  ProfileStore,
  ProfileValues,
  RetireOutcome,
  UpsertOutcome,
  UserStep,
  WriteContext,
} from '../sync/profile-store.ts';
import type { DeliveryRecord } from '../sync/service-state.ts';
import { isUuid } from '../sync/uuid.ts';
import type { CoalescerOptions } from './coalescer.ts';
import { profileStatement } from './errors.ts';
import { buildProfileStatements, type ProfileStatements } from './profile-statements.ts';
import type { ProfileTable } from './profile-table.ts';
import type { Queryable, SqlClient } from './sql-client.ts';
import { DuplicateDelivery, syncAlone, syncBatches, type SyncBatches, type UpsertRow } from './sync-batches.ts';

export { DuplicateDelivery } from './sync-batches.ts';

/** A keyset cursor is the last id of a page; anything else was not issued here. */
function checkCursor(cursor: string | null): void {
  if (cursor !== null && !isUuid(cursor)) {
    throw new ProblemError('invalid_cursor', 'The cursor was not issued by this service; pass nextCursor as it came.');
  }
}

/** Thrown to end a dry run's transaction: whatever it wrote is rolled back. */
class DryRunRollback extends Error {}


/** Records a delivery unless it was recorded before; false for a repeat. */
async function claimDelivery(db: Queryable, { id, kind, userId }: DeliveryRecord): Promise<boolean> {
  // Inside the transaction of the delivery's effect: a replica handling the same delivery at the
  // same moment waits here on the primary key, then finds it claimed (or free, if ours rolled back).
  const rows = await db.query(
    `INSERT INTO user_sync.webhook_deliveries (id, kind, user_id) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO NOTHING RETURNING 1 AS claimed`,
    [id, kind, userId],
  );
  return rows.length === 1;
}

/** What one capture batch did: rows claimed, distinct users, and the users no longer live. */
export interface ChangesSync {
  claimed: number;
  users: number;
  created: number;
  updated: number;
  gone: string[];
}

interface Shared {
  sql: SqlClient;
  mapping: FieldMapping;
  statements: ProfileStatements;
  /** One-user syncs on the pool, joined with those of concurrent callers. */
  batches: SyncBatches;
}

interface View {
  /** The pool, or the transaction this view is bound to. */
  db: Queryable;
  inTransaction: boolean;
  /** The delivery this view's write records, if any. */
  guard?: DeliveryRecord;
}

export class SqlProfileStore implements ProfileStore {
  readonly #shared: Shared;
  readonly #view: View;

  /** `joining`: how one-user syncs of concurrent callers are joined (sync-batches.ts); by default they are not. */
  static create(
    sql: SqlClient,
    table: ProfileTable,
    mapping: FieldMapping,
    rules: ProfileRules,
    joining: CoalescerOptions = { maxBatch: 1, maxInFlight: Number.POSITIVE_INFINITY },
  ): SqlProfileStore {
    const statements = buildProfileStatements(table, mapping, rules);
    const batches = joining.maxBatch > 1 ? syncBatches(sql, statements, joining) : syncAlone(sql, statements);
    return new SqlProfileStore({ sql, mapping, statements, batches }, { db: sql, inTransaction: false });
  }

  private constructor(shared: Shared, view: View) {
    this.#shared = shared;
    this.#view = view;
  }

  /** This store on a transaction's connection. */
  inTransaction(tx: Queryable): SqlProfileStore {
    return new SqlProfileStore(this.#shared, { db: tx, inTransaction: true });
  }

  /** This store with its next write recording `delivery`, or throwing `DuplicateDelivery`. */
  guardedBy(delivery: DeliveryRecord): SqlProfileStore {
    return new SqlProfileStore(this.#shared, { ...this.#view, guard: delivery });
  }

  /** The rows as one JSON array; the statement turns each value into its column's (mapped-values.ts). */
  #inputRows(rows: readonly ProfileValues[]): string {
    const { columns } = this.#shared.mapping;
    return JSON.stringify(
      rows.map(({ userId, values }) => {
        const row: Record<string, unknown> = { id: userId };
        for (const { column } of columns) row[column] = values[column] ?? null;
        return row;
      }),
    );
  }

  /** The outcome of one row an upsert statement returned. */
  async #upsertOutcome({ id, before, inserted, after, changed_fields }: UpsertRow): Promise<UpsertOutcome> {
    if (inserted === null) {
      // Nothing differed, so nothing was written. `before` comes from the statement's snapshot; a
      // row committed by a concurrent sync after that snapshot is read afresh.
      return { userId: id, action: 'unchanged', before, after: before ?? (await this.getProfile(id)), changedFields: [] };
    }
    return { userId: id, action: inserted ? 'created' : 'updated', before, after, changedFields: changed_fields ?? [] };
  }

  async getAuthUser(userId: string): Promise<AuthUser | null> {
    const [row] = await this.#view.db.query<{ user: Record<string, unknown> }>(this.#shared.statements.authUser, [userId]);
    return row ? normalizeAuthUser(row.user) : null;
  }

  async getProfile(userId: string): Promise<ProfileRow | null> {
    const [row] = await this.#view.db.query<{ row: ProfileRow }>(this.#shared.statements.getProfiles, [[userId]]);
    return row?.row ?? null;
  }

  async syncUsers(userIds: readonly string[], context: WriteContext): Promise<(UpsertOutcome | null)[]> {
    if (userIds.length === 0) return [];
    const { statements } = this.#shared;
    const { db, guard, inTransaction } = this.#view;
    // One statement cannot write a row twice: each user once, answered for every time it was asked.
    const unique = [...new Set(userIds.map((id) => id.toLowerCase()))];
    let rows: UpsertRow[];
    if (guard !== undefined || unique.length === 1) {
      if (unique.length !== 1) throw new Error('a delivery guards the sync of its one user');
      // In a transaction the sync is the transaction's; on the pool it may join concurrent ones.
      const syncs = inTransaction ? syncAlone(db, statements) : this.#shared.batches;
      const item = { userId: unique[0]!, context };
      const row = guard === undefined ? await syncs.sync(item) : await syncs.syncOnce({ ...item, guard });
      rows = row === null ? [] : [row];
    } else {
      rows = await profileStatement(() =>
        db.query<UpsertRow>(statements.syncLiveMany, [unique, context.actor, context.source, statements.tracked], { prepared: true }),
      );
    }
    const outcomes = new Map<string, UpsertOutcome>();
    for (const row of rows) outcomes.set(row.id, await this.#upsertOutcome(row));
    return userIds.map((id) => outcomes.get(id.toLowerCase()) ?? null);
  }

  async syncPage(step: UserStep, { cursor, limit }: Page, context: WriteContext): Promise<PageSync> {
    checkCursor(cursor);
    const { statements } = this.#shared;
    const [row] = await profileStatement(() =>
      this.#view.db.query<{ handled: number; created: number; updated: number; last_id: string | null; more: boolean }>(
        statements.syncPage[step],
        [limit, context.actor, context.source, statements.tracked, cursor],
      ),
    );
    const { handled, created, updated, last_id: lastId, more } = row!;
    return { handled, created, updated, unchanged: handled - created - updated, nextCursor: more ? lastId : null };
  }

  /**
   * One capture batch (statements/upserts.ts `syncChanges`): claims and deletes up to `limit`
   * queued changes and syncs their live users, in this view's transaction, which must also apply
   * the delete policy to the `gone` users before it commits. A refused row throws a 409/422
   * problem and claims nothing.
   */
  async syncChanges(limit: number, context: WriteContext): Promise<ChangesSync> {
    const [row] = await profileStatement(() =>
      this.#view.db.query<ChangesSync>(this.#shared.statements.syncChanges, [limit, context.actor, context.source, this.#shared.statements.tracked], {
        prepared: true,
      }),
    );
    return row!;
  }

  /** Claims and deletes up to `limit` queued changes without syncing: the distinct user ids they name. */
  async claimChanges(limit: number): Promise<string[]> {
    const rows = await this.#view.db.query<{ id: string }>(this.#shared.statements.claimChanges, [limit], { prepared: true });
    return rows.map(({ id }) => id);
  }

  async retireProfiles(userIds: readonly string[], context: WriteContext): Promise<RetireOutcome[]> {
    const { guard } = this.#view;
    if (guard !== undefined) {
      // The delete policy and the delivery's record in one transaction.
      return this.#shared.sql.transaction(async (tx) => {
        if (!(await claimDelivery(tx, guard))) throw new DuplicateDelivery();
        return this.inTransaction(tx).retireProfiles(userIds, context);
      });
    }
    if (userIds.length === 0) return [];
    const { statements } = this.#shared;
    const { db } = this.#view;
    if (statements.retire === undefined) {
      // DELETE_POLICY=keep: the profiles stay as they are.
      const rows = await db.query<{ id: string; row: ProfileRow }>(statements.getProfiles, [userIds]);
      const found = new Map(rows.map(({ id, row }) => [id, row]));
      return userIds.map((userId) => {
        const row = found.get(userId.toLowerCase()) ?? null;
        return { userId, before: row, after: row, changedFields: [], written: false };
      });
    }
    const rows = await profileStatement(() =>
      db.query<{ id: string; before: ProfileRow | null; after: ProfileRow | null; changed_fields: string[]; written: boolean }>(
        statements.retire!,
        [userIds, context.actor, context.source, statements.tracked],
      ),
    );
    return rows.map(({ id, before, after, changed_fields, written }) => ({ userId: id, before, after, changedFields: changed_fields, written }));
  }

  async previewProfiles(rows: readonly ProfileValues[], options: { verify?: boolean } = {}): Promise<PreviewOutcome[]> {
    if (rows.length === 0) return [];
    const { statements, sql } = this.#shared;
    const { db, inTransaction } = this.#view;
    const input = this.#inputRows(rows);
    const preview = async (on: Queryable): Promise<PreviewOutcome[]> => {
      const result = await on.query<{ id: string; current: ProfileRow | null; expected: ProfileRow; changed_fields: string[] }>(
        statements.preview,
        [input, statements.tracked],
      );
      return result.map((row) => ({ userId: row.id, current: row.current, expected: row.expected, changedFields: row.changed_fields }));
    };
    if (!options.verify) return profileStatement(() => preview(db));

    // Try the real write inside a transaction (or, already in one, a savepoint) that is always
    // rolled back.
    const tryWrite = (on: Queryable) => on.query(statements.upsert, [input, 'dry-run', 'dry-run', statements.tracked]);
    if (inTransaction) {
      return profileStatement(async () => {
        await db.query('SAVEPOINT dry_run');
        try {
          const outcomes = await preview(db);
          await tryWrite(db);
          return outcomes;
        } finally {
          await db.query('ROLLBACK TO SAVEPOINT dry_run');
        }
      });
    }
    let outcomes: PreviewOutcome[] = [];
    await profileStatement(() =>
      sql
        .transaction(async (tx) => {
          outcomes = await preview(tx);
          await tryWrite(tx);
          throw new DryRunRollback();
        })
        .catch((error: unknown) => {
          if (!(error instanceof DryRunRollback)) throw error;
        }),
    );
    return outcomes;
  }

  async listMissingUsers(page: Page): Promise<Paged<MissingUser>> {
    return this.#keysetPage(this.#shared.statements.missingList, page, (row: { id: string; email: string | null; created_at: string | null }) => ({
      id: row.id,
      email: row.email === '' ? null : row.email,
      createdAt: row.created_at,
    }));
  }

  async missingAuthUsers(page: Page): Promise<Paged<AuthUser>> {
    return this.#keysetPage(this.#shared.statements.missingUsers, page, (row: { id: string; user: Record<string, unknown> }) =>
      normalizeAuthUser(row.user),
    );
  }

  async profiledAuthUsers(page: Page): Promise<Paged<AuthUser>> {
    return this.#keysetPage(this.#shared.statements.profiledUsers, page, (row: { id: string; user: Record<string, unknown> }) =>
      normalizeAuthUser(row.user),
    );
  }

  async orphanedProfileIds(page: Page): Promise<Paged<string>> {
    return this.#keysetPage(this.#shared.statements.orphans, page, (row: { id: string }) => row.id);
  }

  async reconcileTotals(): Promise<{ missing: number; withProfile: number; orphaned: number }> {
    const [row] = await this.#view.db.query<{ missing: number; with_profile: number; orphaned: number }>(this.#shared.statements.reconcileTotals);
    return { missing: row!.missing, withProfile: row!.with_profile, orphaned: row!.orphaned };
  }

  /** One keyset page by id: the cursor is the last id seen; one row more tells whether more follow. */
  async #keysetPage<Row extends { id: string }, T>(statement: string, { cursor, limit }: Page, convert: (row: Row) => T): Promise<Paged<T>> {
    checkCursor(cursor);
    const rows = await this.#view.db.query<Row>(statement, [limit + 1, cursor]);
    const items = rows.slice(0, limit);
    return { items: items.map(convert), nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
  }

  async ping(): Promise<void> {
    await this.#view.db.query('SELECT 1');
  }
}
