/**
 * What the sync engine, the webhooks and the reconcile need to know about profiles: read auth
 * users, read, compare and write profile rows, and walk them in keyset pages. One implementation
 * per back end (SQL: db/sql-profile-store.ts; Supabase APIs: supabase/supabase-profile-store.ts);
 * none of the callers learns which one it has, and every method means the same in each.
 *
 * The service's own bookkeeping (delivery ids, deferred syncs, jobs, locks) is not here: see
 * service-state.ts.
 *
 * Profile rows travel as JSON objects (column → value as PostgreSQL's to_jsonb renders it), so a
 * row read back compares equal to the row that was written, whatever the driver.
 */
import type { AuthUser } from './auth-user.ts';

export type ProfileRow = Record<string, unknown>;

/** Which path caused a write; recorded in the audit log and in metrics. */
export type SyncSource = 'api' | 'me' | 'webhook' | 'reconcile' | 'capture';

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
  userId: string;
  /** What the row was before and is after; both null only when there is and was no row. */
  before: ProfileRow | null;
  after: ProfileRow | null;
  /** The tracked columns (profile-rules.ts) whose values differ between before and after. */
  changedFields: string[];
}

export interface UpsertOutcome extends ProfileWrite {
  action: 'created' | 'updated' | 'unchanged';
}

export interface RetireOutcome extends ProfileWrite {
  /** False when the row was already as the delete policy wants it (or absent). */
  written: boolean;
}

export interface ProfileValues {
  userId: string;
  /** Column → value, from the field map (mapUser). */
  values: Record<string, unknown>;
}

export interface PreviewOutcome {
  userId: string;
  current: ProfileRow | null;
  /** The profile as it would be after a sync (tracked columns as the table would hold them). */
  expected: ProfileRow;
  changedFields: string[];
}

export interface Page {
  /** Where the previous page ended (opaque, the store's own); null for the first page. */
  cursor: string | null;
  limit: number;
}

export interface Paged<T> {
  items: T[];
  /** Where this page ended; null when there is nothing after it. */
  nextCursor: string | null;
}

/** The users a reconcile step goes through: live auth users without a profile, or with one. */
export type UserStep = 'missing' | 'profiled';

/** What one page of a reconcile step did: counts, not rows. */
export interface PageSync {
  /** Users the page held; each was created, updated or found unchanged. */
  handled: number;
  created: number;
  updated: number;
  unchanged: number;
  /** Where this page ended; null when there is nothing after it. */
  nextCursor: string | null;
}

export interface ProfileStore {
  getAuthUser(userId: string): Promise<AuthUser | null>;
  getProfile(userId: string): Promise<ProfileRow | null>;

  /**
   * The one write of live users, whatever asked for it (a sync is a batch of one): each user is
   * read from auth.users as it is now, mapped by the field map, upserted where it differs, and
   * audited, all of a batch at once (SQL: one statement). One entry per id, in order: null for a
   * user that is absent or soft-deleted (nothing written for it; the delete policy is
   * `retireProfiles`'s). A row the table refuses fails the whole batch with a 409/422 problem,
   * and nothing of it is written.
   */
  syncUsers(userIds: readonly string[], context: WriteContext): Promise<(UpsertOutcome | null)[]>;
  /**
   * The same write over the next keyset page of a reconcile step, the store choosing the users
   * (live ones without a profile, or with one, as `missingAuthUsers`/`profiledAuthUsers` would
   * return them). Counts only. A refused row fails the whole page, which is then left as it was.
   */
  syncPage(step: UserStep, page: Page, context: WriteContext): Promise<PageSync>;
  /** Applies the delete policy to deleted users' profiles, audited likewise. */
  retireProfiles(userIds: readonly string[], context: WriteContext): Promise<RetireOutcome[]>;
  /**
   * What syncs of these mapped rows would write, writing nothing. With `verify`, where the store
   * can, the write is also tried and rolled back, so constraints (NOT NULL, CHECK, UNIQUE) refuse a
   * dry run as they would refuse the sync; over HTTP nothing can be rolled back, so it cannot.
   */
  previewProfiles(rows: readonly ProfileValues[], options?: { verify?: boolean }): Promise<PreviewOutcome[]>;

  /** Live auth users without a profile, for listing. A cursor not issued here is `invalid_cursor`. */
  listMissingUsers(page: Page): Promise<Paged<MissingUser>>;
  /** The same users, whole: for dry runs and for syncing a refused page one user at a time. */
  missingAuthUsers(page: Page): Promise<Paged<AuthUser>>;
  /** Live auth users that have a profile, whole: for finding stale profiles. */
  profiledAuthUsers(page: Page): Promise<Paged<AuthUser>>;
  /** Ids of profiles whose user is gone or soft-deleted and that the delete policy has yet to handle. */
  orphanedProfileIds(page: Page): Promise<Paged<string>>;
  /** How many users each reconcile step has before it; null where counting costs a full scan. */
  reconcileTotals(): Promise<{ missing: number; withProfile: number; orphaned: number } | null>;

  /** Resolves when the data behind the store answers; rejects otherwise. */
  ping(): Promise<void>;
}
