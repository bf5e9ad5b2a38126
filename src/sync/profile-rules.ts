/**
 * The rules of a profile row that every back end applies the same way, decided once at start-up
 * from the table, the field map and DELETE_POLICY: which columns a sync writes and reports, who
 * owns `deleted_at` and `updated_at`, and what the delete policy does to a deleted user's row.
 * The SQL statements (db/statements/), the Supabase store and the engine's dry runs read them
 * here rather than deciding again.
 */
import { ConfigError, type DeletePolicy } from '../config/config.ts';
import type { ProfileTable } from '../db/profile-table.ts';
import type { AuthUser } from './auth-user.ts';
import type { FieldMapping } from './field-map.ts';
import type { ProfileRow } from './profile-store.ts';

export interface TrackedColumn {
  column: string;
  /** The column's type in the profile table, for casts and comparisons. */
  type: string;
}

/**
 * What the delete policy does to the profile of a user that is gone or soft-deleted:
 * - `delete_row`: the row is deleted (DELETE_POLICY=delete);
 * - `mark_deleted`: its `deleted_at` is set, once (DELETE_POLICY=soft); a marked row is settled;
 * - `keep`: nothing (DELETE_POLICY=keep); the row stays, still reported as orphaned.
 */
export type RetireEffect = 'delete_row' | 'mark_deleted' | 'keep';

export interface ProfileRules {
  readonly policy: DeletePolicy;
  readonly retire: RetireEffect;
  /** The columns a sync writes, whose changes are reported and audited, in order. */
  readonly tracked: readonly TrackedColumn[];
  readonly trackedNames: readonly string[];
  /**
   * Under the soft policy the service owns `deleted_at` (unless FIELD_MAP maps it): a live user's
   * profile is un-deleted, so a sync writes `deleted_at = null`.
   */
  readonly ownsDeletedAt: boolean;
  /** The table has `updated_at` and no mapping sets it: every write sets it to now. */
  readonly touchUpdatedAt: boolean;
  /**
   * Whether anonymous users (anonymous sign-ins, `is_anonymous`) get a profile: SYNC_ANONYMOUS_USERS.
   * One policy on every path (syncs, webhooks, capture, the listing, the reconcile). When off they
   * are not missing and never synced; a profile one already has is left as it is, not retired.
   */
  readonly profilesForAnonymous: boolean;
}

const RETIRE_EFFECTS: Record<DeletePolicy, RetireEffect> = { delete: 'delete_row', soft: 'mark_deleted', keep: 'keep' };

/** The rules for a table and map; a policy the table cannot follow stops start-up. */
export function profileRules(table: ProfileTable, mapping: FieldMapping, policy: DeletePolicy, profilesForAnonymous = false): ProfileRules {
  const typeOf = (name: string) => table.columns.find((column) => column.name === name)?.type;
  if (policy === 'soft' && typeOf('deleted_at') === undefined) {
    throw new ConfigError(
      `invalid configuration:\n  DELETE_POLICY: "soft" sets the profile's deleted_at, but ${table.name} has no deleted_at column`,
    );
  }
  const mapped: TrackedColumn[] = mapping.columns.map(({ column, type }) => ({ column, type }));
  const ownsDeletedAt = policy === 'soft' && !mapped.some(({ column }) => column === 'deleted_at');
  const tracked = ownsDeletedAt ? [...mapped, { column: 'deleted_at', type: typeOf('deleted_at')! }] : mapped;
  const trackedNames = tracked.map(({ column }) => column);
  return {
    policy,
    retire: RETIRE_EFFECTS[policy],
    tracked,
    trackedNames,
    ownsDeletedAt,
    touchUpdatedAt: typeOf('updated_at') !== undefined && !trackedNames.includes('updated_at'),
    profilesForAnonymous,
  };
}

/**
 * Whether a live user gets a profile: anonymous ones only if the rules say so. Its SQL form is
 * `profiledUser` (db/statements/fragments.ts).
 */
export const getsProfile = (rules: ProfileRules, user: Pick<AuthUser, 'is_anonymous'>): boolean =>
  !user.is_anonymous || rules.profilesForAnonymous;

/** The row the delete policy leaves of `current` (for dry runs and inspection). */
export function retiredRow(rules: ProfileRules, current: ProfileRow | null, now = new Date()): ProfileRow | null {
  if (current === null) return null;
  switch (rules.retire) {
    case 'delete_row':
      return null;
    case 'mark_deleted':
      return current.deleted_at == null ? { ...current, deleted_at: now.toISOString() } : current;
    case 'keep':
      return current;
  }
}
