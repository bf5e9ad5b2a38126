/**
 * The SQL back end: `auth.users` and the profile table in one PostgreSQL database, reached
 * through PGlite (embedded) or node-postgres (postgres mode). Every method is one statement.
 */
import { ConfigError, type DeletePolicy } from '../config/config.ts';
import { normalizeAuthUser, type AuthUser } from '../sync/auth-user.ts';
import type {
  MissingUser,
  PreviewOutcome,
  ProfileRow,
  RetireOutcome,
  SyncBackend,
  UpsertOutcome,
  WriteContext,
} from '../sync/backend.ts';
import type { FieldMapping } from '../sync/field-map.ts';
import { profileWriteProblem } from './errors.ts';
import { buildMissingUsersStatement, buildProfileStatements, type ProfileStatements } from './profile-statements.ts';
import type { ProfileTable } from './profile-table.ts';
import type { Queryable, SqlClient } from './sql-client.ts';

/** Thrown to end a dry run's transaction: whatever it wrote is rolled back. */
class DryRunRollback extends Error {}

const AUTH_USER_SQL = `
  SELECT to_jsonb(u) AS user FROM (
    SELECT id, email, phone, raw_user_meta_data AS user_metadata, raw_app_meta_data AS app_metadata,
           created_at, updated_at, last_sign_in_at, email_confirmed_at, deleted_at, is_anonymous, banned_until
      FROM auth.users WHERE id = $1
  ) u`;

/** Values go to PostgreSQL as text and are cast there to the column's type. */
function toParam(value: unknown, columnType: string): string | null {
  if (value === null || value === undefined) return null;
  if (columnType === 'json' || columnType === 'jsonb') return JSON.stringify(value);
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}

/** Runs a statement that writes or casts profile data, turning refusals into 409/422 problems. */
async function profileStatement<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw profileWriteProblem(error) ?? error;
  }
}

export class SqlBackend implements SyncBackend {
  readonly #sql: SqlClient;
  readonly #mapping: FieldMapping;
  readonly #statements: ProfileStatements;
  readonly #missingFirst: string;
  readonly #missingNext: string;

  constructor(sql: SqlClient, table: ProfileTable, mapping: FieldMapping, policy: DeletePolicy) {
    if (policy === 'soft' && !table.columns.some((column) => column.name === 'deleted_at')) {
      throw new ConfigError(
        `invalid configuration:\n  DELETE_POLICY: "soft" sets the profile's deleted_at, but ${table.name} has no deleted_at column`,
      );
    }
    this.#sql = sql;
    this.#mapping = mapping;
    this.#statements = buildProfileStatements(table, mapping, policy);
    this.#missingFirst = buildMissingUsersStatement(table, true);
    this.#missingNext = buildMissingUsersStatement(table, false);
  }

  #valueParams(values: Record<string, unknown>): (string | null)[] {
    return this.#mapping.columns.map(({ column, type }) => toParam(values[column], type));
  }

  async getAuthUser(userId: string): Promise<AuthUser | null> {
    const [row] = await this.#sql.query<{ user: Record<string, unknown> }>(AUTH_USER_SQL, [userId]);
    return row ? normalizeAuthUser(row.user) : null;
  }

  async getProfile(userId: string): Promise<ProfileRow | null> {
    const [row] = await this.#sql.query<{ row: ProfileRow }>(this.#statements.getProfile, [userId]);
    return row?.row ?? null;
  }

  async previewProfile(
    userId: string,
    values: Record<string, unknown>,
    options: { verify?: boolean } = {},
  ): Promise<PreviewOutcome> {
    const params = this.#valueParams(values);
    const preview = async (db: Queryable): Promise<PreviewOutcome> => {
      const [row] = await db.query<{ current: ProfileRow | null; expected: ProfileRow; changed_fields: string[] }>(
        this.#statements.preview,
        [userId, ...params, this.#statements.tracked],
      );
      return { current: row!.current, expected: row!.expected, changedFields: row!.changed_fields };
    };
    if (!options.verify) return profileStatement(() => preview(this.#sql));

    // Try the real write inside a transaction that is always rolled back.
    let outcome: PreviewOutcome | undefined;
    await profileStatement(() =>
      this.#sql
        .transaction(async (tx) => {
          outcome = await preview(tx);
          await tx.query(this.#statements.upsert, [userId, ...params, 'dry-run', 'dry-run', this.#statements.tracked]);
          throw new DryRunRollback();
        })
        .catch((error: unknown) => {
          if (!(error instanceof DryRunRollback)) throw error;
        }),
    );
    return outcome!;
  }

  async upsertProfile(userId: string, values: Record<string, unknown>, context: WriteContext): Promise<UpsertOutcome> {
    const [row] = await profileStatement(() =>
      this.#sql.query<{
        before: ProfileRow | null;
        inserted: boolean | null;
        after: ProfileRow | null;
        changed_fields: string[] | null;
      }>(this.#statements.upsert, [
        userId,
        ...this.#valueParams(values),
        context.actor,
        context.source,
        this.#statements.tracked,
      ]),
    );
    const { before, inserted, after, changed_fields } = row!;
    if (inserted === null) {
      // Nothing differed, so nothing was written. `before` comes from the statement's snapshot;
      // a row committed by a concurrent sync after that snapshot is read afresh.
      return { action: 'unchanged', before, after: before ?? (await this.getProfile(userId)), changedFields: [] };
    }
    return { action: inserted ? 'created' : 'updated', before, after, changedFields: changed_fields ?? [] };
  }

  async retireProfile(userId: string, context: WriteContext): Promise<RetireOutcome> {
    if (this.#statements.retire === undefined) {
      // DELETE_POLICY=keep: the profile stays as it is.
      const current = await this.getProfile(userId);
      return { before: current, after: current, changedFields: [], written: false };
    }
    const [row] = await profileStatement(() =>
      this.#sql.query<{ before: ProfileRow | null; after: ProfileRow | null; changed_fields: string[] | null; written: boolean }>(
        this.#statements.retire!,
        [userId, context.actor, context.source, this.#statements.tracked],
      ),
    );
    return { before: row!.before, after: row!.after, changedFields: row!.changed_fields ?? [], written: row!.written };
  }

  async listMissingUsers({ after, limit }: { after: string | null; limit: number }): Promise<MissingUser[]> {
    const rows =
      after === null
        ? await this.#sql.query<{ id: string; email: string | null; created_at: string | null }>(this.#missingFirst, [limit])
        : await this.#sql.query<{ id: string; email: string | null; created_at: string | null }>(this.#missingNext, [
            limit,
            after,
          ]);
    return rows.map((row) => ({ id: row.id, email: row.email === '' ? null : row.email, createdAt: row.created_at }));
  }

  async ping(): Promise<void> {
    await this.#sql.query('SELECT 1');
  }
}
