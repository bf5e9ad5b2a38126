/**
 * What the sync engine needs from a back end. The engine never learns which one it has: SQL
 * (embedded PGlite or PostgreSQL) or, later, the Supabase HTTP APIs.
 *
 * Profile rows travel as JSON objects (column → value as PostgreSQL's to_jsonb renders it), so a
 * row read back compares equal to the row that was written, whatever the driver.
 */
import type { AuthUser } from './auth-user.ts';

export type ProfileRow = Record<string, unknown>;

/** Which path caused a write; recorded in the audit log and in metrics. */
export type SyncSource = 'api' | 'me' | 'webhook' | 'reconcile';

export interface WriteContext {
  /** The caller's name (a service token's name, a user id, …): never a secret. */
  actor: string;
  source: SyncSource;
}

export interface MissingUser {
  id: string;
  email: string | null;
  createdAt: string | null;
}

export interface ProfileWrite {
  /** What the row was before and is after; both null only when there is and was no row. */
  before: ProfileRow | null;
  after: ProfileRow | null;
  /** The tracked columns whose values differ between before and after. */
  changedFields: string[];
}

export interface UpsertOutcome extends ProfileWrite {
  action: 'created' | 'updated' | 'unchanged';
}

export interface RetireOutcome extends ProfileWrite {
  /** False when the row was already as the delete policy wants it (or absent). */
  written: boolean;
}

export interface PreviewOutcome {
  current: ProfileRow | null;
  /** The tracked columns as the table would hold them after a sync. */
  expected: ProfileRow;
  changedFields: string[];
}

export interface SyncBackend {
  getAuthUser(userId: string): Promise<AuthUser | null>;
  getProfile(userId: string): Promise<ProfileRow | null>;
  /**
   * What a sync would write, computed by the database (casts included), writing nothing. With
   * `verify`, the write is also tried and rolled back, so constraints (NOT NULL, CHECK, UNIQUE)
   * refuse a dry run exactly as they would refuse the sync.
   */
  previewProfile(userId: string, values: Record<string, unknown>, options?: { verify?: boolean }): Promise<PreviewOutcome>;
  /** One idempotent upsert, audited in the same statement or transaction. */
  upsertProfile(userId: string, values: Record<string, unknown>, context: WriteContext): Promise<UpsertOutcome>;
  /** Applies the delete policy to a deleted user's profile, audited likewise. */
  retireProfile(userId: string, context: WriteContext): Promise<RetireOutcome>;
  /** Auth users (not deleted) without a profile, by ascending id after `after`. */
  listMissingUsers(page: { after: string | null; limit: number }): Promise<MissingUser[]>;
  /** Resolves when the database answers; rejects otherwise. */
  ping(): Promise<void>;
}
