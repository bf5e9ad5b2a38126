/**
 * The SQL back end: `auth.users`, the profile table and the service's `user_sync` schema in one
 * PostgreSQL database, reached through PGlite (embedded) or node-postgres (postgres mode). Every
 * method is one statement; `transaction` runs several on one connection.
 */
import { createHash } from 'node:crypto';
import { ConfigError, type DeletePolicy } from '../config/config.ts';
import { normalizeAuthUser, type AuthUser } from '../sync/auth-user.ts';
import { ProblemError } from '../errors/problems.ts';
import type {
  DeliveryRecord,
  MissingUser,
  Page,
  PageSync,
  Paged,
  PreviewOutcome,
  ProfileRow,
  ProfileValues,
  RetireOutcome,
  SyncBackend,
  UpsertOutcome,
  UserStep,
  WriteContext,
} from '../sync/backend.ts';
import type { FieldMapping } from '../sync/field-map.ts';
import { profileWriteProblem } from './errors.ts';
import { AUTH_USER_SELECT, buildProfileStatements, type ProfileStatements } from './profile-statements.ts';
import type { ProfileTable } from './profile-table.ts';
import type { Queryable, SqlClient } from './sql-client.ts';

const AUTH_USER_SQL = `SELECT to_jsonb(x) AS user FROM auth.users u CROSS JOIN LATERAL (SELECT ${AUTH_USER_SELECT}) x WHERE u.id = $1`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A keyset cursor is the last id of a page; anything else was not issued here. */
function checkCursor(cursor: string | null): void {
  if (cursor !== null && !UUID.test(cursor)) {
    throw new ProblemError('invalid_cursor', 'The cursor was not issued by this service; pass nextCursor as it came.');
  }
}

/** Thrown to end a dry run's transaction: whatever it wrote is rolled back. */
class DryRunRollback extends Error {}

/** Runs a statement that writes or casts profile data, turning refusals into 409/422 problems. */
async function profileStatement<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw profileWriteProblem(error) ?? error;
  }
}

/** A stable advisory-lock key for a name, so every replica derives the same one. */
export const advisoryLockKey = (name: string): number => createHash('sha256').update(`user_sync:${name}`).digest().readInt32BE(0);

/** A row of the upsert statements (profile-statements.ts); `inserted` is null when nothing was written. */
interface UpsertRow {
  id: string;
  before: ProfileRow | null;
  inserted: boolean | null;
  after: ProfileRow | null;
  changed_fields: string[] | null;
}

interface Shared {
  sql: SqlClient;
  mapping: FieldMapping;
  statements: ProfileStatements;
}

export class SqlBackend implements SyncBackend {
  readonly #shared: Shared;
  /** The pool, or the transaction this view of the back end is bound to. */
  readonly #db: Queryable;
  readonly #inTransaction: boolean;

  static create(sql: SqlClient, table: ProfileTable, mapping: FieldMapping, policy: DeletePolicy): SqlBackend {
    if (policy === 'soft' && !table.columns.some((column) => column.name === 'deleted_at')) {
      throw new ConfigError(
        `invalid configuration:\n  DELETE_POLICY: "soft" sets the profile's deleted_at, but ${table.name} has no deleted_at column`,
      );
    }
    return new SqlBackend({ sql, mapping, statements: buildProfileStatements(table, mapping, policy) }, sql, false);
  }

  private constructor(shared: Shared, db: Queryable, inTransaction: boolean) {
    this.#shared = shared;
    this.#db = db;
    this.#inTransaction = inTransaction;
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

  /** Outcomes from the rows an upsert statement returns. */
  #upsertOutcomes(rows: readonly UpsertRow[]): Promise<UpsertOutcome[]> {
    return Promise.all(
      rows.map(async ({ id, before, inserted, after, changed_fields }): Promise<UpsertOutcome> => {
        if (inserted === null) {
          // Nothing differed, so nothing was written. `before` comes from the statement's
          // snapshot; a row committed by a concurrent sync after that snapshot is read afresh.
          return { userId: id, action: 'unchanged', before, after: before ?? (await this.getProfile(id)), changedFields: [] };
        }
        return { userId: id, action: inserted ? 'created' : 'updated', before, after, changedFields: changed_fields ?? [] };
      }),
    );
  }

  async getAuthUser(userId: string): Promise<AuthUser | null> {
    const [row] = await this.#db.query<{ user: Record<string, unknown> }>(AUTH_USER_SQL, [userId]);
    return row ? normalizeAuthUser(row.user) : null;
  }

  async getProfile(userId: string): Promise<ProfileRow | null> {
    const [row] = await this.#db.query<{ row: ProfileRow }>(this.#shared.statements.getProfiles, [[userId]]);
    return row?.row ?? null;
  }

  async previewProfile(
    userId: string,
    values: Record<string, unknown>,
    options: { verify?: boolean } = {},
  ): Promise<PreviewOutcome> {
    const { statements } = this.#shared;
    const rows = this.#inputRows([{ userId, values }]);
    const preview = async (db: Queryable): Promise<PreviewOutcome> => {
      const [row] = await db.query<{ current: ProfileRow | null; expected: ProfileRow; changed_fields: string[] }>(
        statements.preview,
        [rows, statements.tracked],
      );
      return { current: row!.current, expected: row!.expected, changedFields: row!.changed_fields };
    };
    if (!options.verify) return profileStatement(() => preview(this.#db));

    // Try the real write inside a transaction (or, already in one, a savepoint) that is always
    // rolled back.
    if (this.#inTransaction) {
      return profileStatement(async () => {
        await this.#db.query('SAVEPOINT dry_run');
        try {
          const outcome = await preview(this.#db);
          await this.#db.query(statements.upsert, [rows, 'dry-run', 'dry-run', statements.tracked]);
          return outcome;
        } finally {
          await this.#db.query('ROLLBACK TO SAVEPOINT dry_run');
        }
      });
    }
    let outcome: PreviewOutcome | undefined;
    await profileStatement(() =>
      this.#shared.sql
        .transaction(async (tx) => {
          outcome = await preview(tx);
          await tx.query(statements.upsert, [rows, 'dry-run', 'dry-run', statements.tracked]);
          throw new DryRunRollback();
        })
        .catch((error: unknown) => {
          if (!(error instanceof DryRunRollback)) throw error;
        }),
    );
    return outcome!;
  }

  async upsertProfiles(rows: readonly ProfileValues[], context: WriteContext): Promise<UpsertOutcome[]> {
    if (rows.length === 0) return [];
    const { statements } = this.#shared;
    const result = await profileStatement(() =>
      this.#db.query<UpsertRow>(statements.upsert, [this.#inputRows(rows), context.actor, context.source, statements.tracked]),
    );
    return this.#upsertOutcomes(result);
  }

  async syncLiveUser(userId: string, context: WriteContext): Promise<UpsertOutcome | null> {
    const { statements } = this.#shared;
    const result = await profileStatement(() =>
      this.#db.query<UpsertRow>(statements.syncLiveOne, [userId, context.actor, context.source, statements.tracked], { prepared: true }),
    );
    const [outcome] = await this.#upsertOutcomes(result);
    return outcome ?? null;
  }

  async syncLiveUserOnce(delivery: DeliveryRecord & { userId: string }, context: WriteContext): Promise<UpsertOutcome | 'duplicate' | 'not_live'> {
    const { statements } = this.#shared;
    const [row] = await profileStatement(() =>
      this.#db.query<UpsertRow & { claimed: boolean }>(statements.syncLiveOnce, [
        delivery.userId,
        context.actor,
        context.source,
        statements.tracked,
        delivery.id,
        delivery.kind,
      ], { prepared: true }),
    );
    if (row === undefined) return 'not_live';
    if (!row.claimed) return 'duplicate';
    const [outcome] = await this.#upsertOutcomes([row]);
    return outcome!;
  }

  async syncUserPage(step: UserStep, { cursor, limit }: Page, context: WriteContext): Promise<PageSync> {
    checkCursor(cursor);
    const { statements } = this.#shared;
    const [row] = await profileStatement(() =>
      this.#db.query<{ handled: number; created: number; updated: number; last_id: string | null; more: boolean }>(
        statements.syncPage[step],
        [limit, context.actor, context.source, statements.tracked, cursor],
      ),
    );
    const { handled, created, updated, last_id: lastId, more } = row!;
    return { handled, created, updated, unchanged: handled - created - updated, nextCursor: more ? lastId : null };
  }

  async retireProfiles(userIds: readonly string[], context: WriteContext): Promise<RetireOutcome[]> {
    if (userIds.length === 0) return [];
    const { statements } = this.#shared;
    if (statements.retire === undefined) {
      // DELETE_POLICY=keep: the profiles stay as they are.
      const rows = await this.#db.query<{ id: string; row: ProfileRow }>(statements.getProfiles, [userIds]);
      const found = new Map(rows.map(({ id, row }) => [id, row]));
      return userIds.map((userId) => {
        const row = found.get(userId) ?? null;
        return { userId, before: row, after: row, changedFields: [], written: false };
      });
    }
    const rows = await profileStatement(() =>
      this.#db.query<{
        id: string;
        before: ProfileRow | null;
        after: ProfileRow | null;
        changed_fields: string[];
        written: boolean;
      }>(statements.retire!, [userIds, context.actor, context.source, statements.tracked]),
    );
    return rows.map(({ id, before, after, changed_fields, written }) => ({
      userId: id,
      before,
      after,
      changedFields: changed_fields,
      written,
    }));
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

  async previewProfiles(rows: readonly ProfileValues[]): Promise<(PreviewOutcome & { userId: string })[]> {
    if (rows.length === 0) return [];
    const { statements } = this.#shared;
    const result = await profileStatement(() =>
      this.#db.query<{ id: string; current: ProfileRow | null; expected: ProfileRow; changed_fields: string[] }>(statements.preview, [
        this.#inputRows(rows),
        statements.tracked,
      ]),
    );
    return result.map((row) => ({ userId: row.id, current: row.current, expected: row.expected, changedFields: row.changed_fields }));
  }

  async reconcileTotals(): Promise<{ missing: number; withProfile: number; orphaned: number }> {
    const [row] = await this.#db.query<{ missing: number; with_profile: number; orphaned: number }>(this.#shared.statements.reconcileTotals);
    return { missing: row!.missing, withProfile: row!.with_profile, orphaned: row!.orphaned };
  }

  async orphanedProfileIds(page: Page): Promise<Paged<string>> {
    return this.#keysetPage(this.#shared.statements.orphans, page, (row: { id: string }) => row.id);
  }

  /** One keyset page by id: the cursor is the last id seen; one row more tells whether more follow. */
  async #keysetPage<Row extends { id: string }, T>(
    statement: string,
    { cursor, limit }: Page,
    convert: (row: Row) => T,
  ): Promise<Paged<T>> {
    checkCursor(cursor);
    const rows = await this.#db.query<Row>(statement, [limit + 1, cursor]);
    const items = rows.slice(0, limit);
    return { items: items.map(convert), nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
  }

  transaction<T>(work: (backend: SyncBackend) => Promise<T>): Promise<T> {
    if (this.#inTransaction) return work(this);
    return this.#shared.sql.transaction((tx) => work(new SqlBackend(this.#shared, tx, true)));
  }

  exclusively<T>(name: string, work: () => Promise<T>) {
    return this.#shared.sql.withTryLock(advisoryLockKey(name), work);
  }

  async claimDelivery({ id, kind, userId }: DeliveryRecord): Promise<boolean> {
    // Inside the transaction of the delivery's effect: a replica handling the same delivery at
    // the same moment waits here on the primary key, then finds it claimed (or free, if ours
    // rolled back).
    const rows = await this.#db.query(
      `INSERT INTO user_sync.webhook_deliveries (id, kind, user_id) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO NOTHING RETURNING 1 AS claimed`,
      [id, kind, userId],
    );
    return rows.length === 1;
  }

  async deferSync(userId: string): Promise<void> {
    await this.#db.query(
      `INSERT INTO user_sync.deferred_syncs (user_id) VALUES ($1)
       ON CONFLICT (user_id) DO UPDATE SET requested_at = now()`,
      [userId],
    );
  }

  async takeReadyDeferredSyncs(limit: number): Promise<string[]> {
    const rows = await this.#db.query<{ user_id: string }>(
      `DELETE FROM user_sync.deferred_syncs d
        WHERE d.user_id IN (
          SELECT d2.user_id FROM user_sync.deferred_syncs d2
           WHERE EXISTS (SELECT 1 FROM auth.users u WHERE u.id = d2.user_id)
           ORDER BY d2.requested_at
           LIMIT $1
             FOR UPDATE SKIP LOCKED)
        RETURNING d.user_id::text AS user_id`,
      [limit],
    );
    return rows.map((row) => row.user_id);
  }

  async pruneState(olderThanHours: number): Promise<{ deliveries: number; deferred: number }> {
    const [row] = await this.#db.query<{ deliveries: number; deferred: number }>(
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

  async ping(): Promise<void> {
    await this.#db.query('SELECT 1');
  }
}
