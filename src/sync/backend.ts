/**
 * What the sync engine, the webhooks and the reconcile need from a back end. None of them learns
 * which one it has: SQL (embedded PGlite or PostgreSQL) or, later, the Supabase HTTP APIs.
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
  userId: string;
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
  /** The profile as it would be after a sync (tracked columns as the table would hold them). */
  expected: ProfileRow;
  changedFields: string[];
}

export interface ProfileValues {
  userId: string;
  /** Column → value, from the field map. */
  values: Record<string, unknown>;
}

export interface Page {
  /** Where the previous page ended (opaque, the back end's own); null for the first page. */
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

/** What one page of a reconcile step did, synced in one statement: counts, not rows. */
export interface PageSync {
  /** Users the page held; each was created, updated or found unchanged. */
  handled: number;
  created: number;
  updated: number;
  unchanged: number;
  /** Where this page ended; null when there is nothing after it. */
  nextCursor: string | null;
}

/** The webhook deliveries already handled, so a repeat is answered without a second effect. */
export interface DeliveryRecord {
  id: string;
  kind: string;
  userId: string | null;
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
  /** Idempotent upserts of many profiles in one statement, audited in the same statement. */
  upsertProfiles(rows: readonly ProfileValues[], context: WriteContext): Promise<UpsertOutcome[]>;
  /**
   * Optional, for back ends that can map users themselves (SQL): reads the user and, if it is live
   * (present, not deleted), upserts its profile in one statement, mapped as `mapUser` would,
   * audited in the same statement. null, with nothing written, for an absent or deleted user.
   */
  syncLiveUser?(userId: string, context: WriteContext): Promise<UpsertOutcome | null>;
  /**
   * Optional, likewise: `syncLiveUser` of a webhook delivery's user and `claimDelivery`, all or
   * nothing. `not_live` when the user is absent or deleted (nothing recorded or written);
   * `duplicate` when the delivery was recorded before (nothing written).
   */
  syncLiveUserOnce?(
    delivery: DeliveryRecord & { userId: string },
    context: WriteContext,
  ): Promise<UpsertOutcome | 'duplicate' | 'not_live'>;
  /**
   * Optional, likewise: a reconcile batch in one statement. Reads the next keyset page of live
   * users of the step (as `missingAuthUsers` or `profiledAuthUsers` would), maps them as `mapUser`
   * would, upserts and audits them, and returns the counts. A row the table refuses fails the
   * whole page (a `profile_rejected` or `profile_conflict` problem): nothing of it is written.
   */
  syncUserPage?(step: UserStep, page: Page, context: WriteContext): Promise<PageSync>;
  /** Applies the delete policy to deleted users' profiles, audited likewise. */
  retireProfiles(userIds: readonly string[], context: WriteContext): Promise<RetireOutcome[]>;
  /**
   * Auth users (not deleted) without a profile: for listing. A cursor the back end did not issue
   * is an `invalid_cursor` problem.
   */
  listMissingUsers(page: Page): Promise<Paged<MissingUser>>;
  /** The same users, whole: for syncing them. */
  missingAuthUsers(page: Page): Promise<Paged<AuthUser>>;
  /** Ids of profiles whose user is gone or soft-deleted and that the delete policy has yet to handle. */
  orphanedProfileIds(page: Page): Promise<Paged<string>>;
  /** Live auth users that have a profile, whole: for finding stale profiles. */
  profiledAuthUsers(page: Page): Promise<Paged<AuthUser>>;
  /** What syncs of many users would write (one statement where the back end can), writing nothing. */
  previewProfiles(rows: readonly ProfileValues[]): Promise<(PreviewOutcome & { userId: string })[]>;
  /** How many users each reconcile step has before it; null where counting costs a full scan. */
  reconcileTotals(): Promise<{ missing: number; withProfile: number; orphaned: number } | null>;

  /** Runs `work` against this back end inside one transaction. */
  transaction<T>(work: (backend: SyncBackend) => Promise<T>): Promise<T>;
  /** Runs `work` only if no other replica runs work under the same name; else resolves `acquired: false`. */
  exclusively<T>(name: string, work: () => Promise<T>): Promise<{ acquired: true; value: T } | { acquired: false }>;

  /** Records a delivery; false when it was recorded before (a repeat). */
  claimDelivery(delivery: DeliveryRecord): Promise<boolean>;
  /** Notes that a user not yet stored should be synced as soon as it is. */
  deferSync(userId: string): Promise<void>;
  /**
   * Removes and returns up to `limit` deferred syncs whose user now exists. Inside a transaction
   * the rows stay locked (and skipped by other replicas) until it ends, so a failed sync puts
   * them back.
   */
  takeReadyDeferredSyncs(limit: number): Promise<string[]>;
  /** Forgets deliveries and unfulfilled deferred syncs older than the retention window. */
  pruneState(olderThanHours: number): Promise<{ deliveries: number; deferred: number }>;

  /** Resolves when the database answers; rejects otherwise. */
  ping(): Promise<void>;
}
