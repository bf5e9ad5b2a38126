/**
 * The sync engine: makes a user's profile row match what `auth.users` says now. It is framework
 * free (no Fastify) and back-end blind (it sees a `ProfileStore`), so the HTTP routes, webhooks,
 * the reconcile and the CLI all share it, and it can be used as a library.
 *
 * Notify, then read the truth: whatever asked for a sync, the engine re-reads the user and writes
 * what it finds, so duplicate, reordered or lost notifications cannot leave a wrong row behind.
 */
import { AnonymousUserRefused, userNotFound } from '../errors/problems.ts';
import { isDeleted, type AuthUser } from './auth-user.ts';
import { mapUser, type FieldMapping } from './field-map.ts';
import { getsProfile, retiredRow, type ProfileRules } from './profile-rules.ts';
import type {
  MissingUser,
  Page,
  PageSync,
  Paged,
  ProfileRow,
  ProfileStore,
  RetireOutcome,
  SyncSource,
  UpsertOutcome,
  UserStep,
  WriteContext,
} from './profile-store.ts';

export type SyncAction = 'created' | 'updated' | 'unchanged' | 'deleted';

export type UserState = 'in_sync' | 'missing' | 'stale' | 'orphaned' | 'not_found';

/** Told of every sync that ran (not dry runs): metrics count them. */
export type SyncObserver = (action: SyncAction, source: SyncSource, count: number) => void;

export interface FieldChange {
  field: string;
  from: unknown;
  to: unknown;
}

export interface SyncResult {
  userId: string;
  action: SyncAction;
  /** The profile row after the sync (or as it would be, for a dry run); null when there is none. */
  profile: ProfileRow | null;
  changes: FieldChange[];
  dryRun: boolean;
}

export interface UserInspection {
  userId: string;
  state: UserState;
  changes: FieldChange[];
}

const changesBetween = (before: ProfileRow | null, after: ProfileRow | null, fields: readonly string[]) =>
  fields.map((field) => ({ field, from: before?.[field] ?? null, to: after?.[field] ?? null }));

const UPSERT_ACTIONS = ['created', 'updated', 'unchanged'] as const;

export class SyncEngine {
  readonly #profiles: ProfileStore;
  readonly #mapping: FieldMapping;
  readonly #rules: ProfileRules;
  readonly #observe: SyncObserver;

  constructor(profiles: ProfileStore, mapping: FieldMapping, rules: ProfileRules, observe: SyncObserver = () => undefined) {
    this.#profiles = profiles;
    this.#mapping = mapping;
    this.#rules = rules;
    this.#observe = observe;
  }

  /** The same engine over another view of the profiles (one bound to a transaction, or guarded by a delivery). */
  with(profiles: ProfileStore): SyncEngine {
    return new SyncEngine(profiles, this.#mapping, this.#rules, this.#observe);
  }

  get rules(): ProfileRules {
    return this.#rules;
  }

  /**
   * Syncs one user. A live user's profile is created or updated; a deleted user's profile is
   * handled by the delete policy (action `deleted`). A user in neither table is `user_not_found`.
   * At most one write: a live user's sync, or the delete policy.
   */
  async sync(userId: string, context: WriteContext, options: { dryRun?: boolean } = {}): Promise<SyncResult> {
    if (options.dryRun === true) return this.#preview(userId);
    const [live] = await this.#profiles.syncUsers([userId], context);
    if (live) return this.#upserted(userId, live, context);

    // Absent, soft-deleted or anonymous (SYNC_ANONYMOUS_USERS off) when the statement ran.
    const user = await this.#profiles.getAuthUser(userId);
    if (!isDeleted(user)) {
      if (!getsProfile(this.#rules, user!)) throw new AnonymousUserRefused(userId);
      // Created or restored since: sync it as it is now.
      const [again] = await this.#profiles.syncUsers([userId], context);
      if (again) return this.#upserted(userId, again, context);
    }
    const [outcome] = await this.#profiles.retireProfiles([userId], context);
    if (user === null && outcome!.before === null) throw userNotFound(userId);
    this.#observe('deleted', context.source, 1);
    return {
      userId,
      action: 'deleted',
      profile: outcome!.after,
      changes: changesBetween(outcome!.before, outcome!.after, outcome!.changedFields),
      dryRun: false,
    };
  }

  /** What `sync` would do, writing nothing; the write is tried and rolled back where the store can. */
  async #preview(userId: string): Promise<SyncResult> {
    const user = await this.#profiles.getAuthUser(userId);
    if (!isDeleted(user) && !getsProfile(this.#rules, user!)) throw new AnonymousUserRefused(userId);
    if (isDeleted(user)) {
      const current = await this.#profiles.getProfile(userId);
      if (user === null && current === null) throw userNotFound(userId);
      const after = retiredRow(this.#rules, current);
      return { userId, action: 'deleted', profile: after, changes: this.#retireChanges(current, after), dryRun: true };
    }
    const [preview] = await this.#profiles.previewProfiles([{ userId, values: mapUser(user!, this.#mapping) }], { verify: true });
    const { current, expected, changedFields } = preview!;
    return {
      userId,
      action: current === null ? 'created' : changedFields.length > 0 ? 'updated' : 'unchanged',
      profile: current === null ? expected : { ...current, ...expected },
      changes: changesBetween(current, expected, changedFields),
      dryRun: true,
    };
  }

  /** The result of an upsert, counted by the observer; `userId` as the caller spelled it. */
  #upserted(userId: string, outcome: UpsertOutcome, context: WriteContext): SyncResult {
    this.#observe(outcome.action, context.source, 1);
    return {
      userId,
      action: outcome.action,
      profile: outcome.after,
      changes: changesBetween(outcome.before, outcome.after, outcome.changedFields),
      dryRun: false,
    };
  }

  /**
   * Syncs many users in one write (a refused reconcile page's users, one at a time): one entry
   * per id, null for a user no longer live.
   */
  async syncUsers(userIds: readonly string[], context: WriteContext): Promise<(UpsertOutcome | null)[]> {
    const outcomes = await this.#profiles.syncUsers(userIds, context);
    for (const action of UPSERT_ACTIONS) {
      this.#observe(action, context.source, outcomes.filter((outcome) => outcome?.action === action).length);
    }
    return outcomes;
  }

  /**
   * Syncs the next page of a reconcile step in one write, counted by the observer. A row the
   * table refuses fails the whole page, which is then left as it was.
   */
  async syncPage(step: UserStep, page: Page, context: WriteContext): Promise<PageSync> {
    const synced = await this.#profiles.syncPage(step, page, context);
    for (const action of UPSERT_ACTIONS) this.#observe(action, context.source, synced[action]);
    return synced;
  }

  /** What syncing many live users would do, writing nothing (dry-run reconcile jobs). */
  async previewUsers(users: readonly AuthUser[]): Promise<{ userId: string; action: SyncAction }[]> {
    const unique = [...new Map(users.map((user) => [user.id, user])).values()];
    const previews = await this.#profiles.previewProfiles(unique.map((user) => ({ userId: user.id, values: mapUser(user, this.#mapping) })));
    return previews.map((preview) => ({
      userId: preview.userId,
      action: preview.current === null ? 'created' : preview.changedFields.length > 0 ? 'updated' : 'unchanged',
    }));
  }

  /** Applies the delete policy to profiles whose users are gone (the reconcile's orphans). */
  async retireProfiles(userIds: readonly string[], context: WriteContext): Promise<RetireOutcome[]> {
    const outcomes = await this.#profiles.retireProfiles(userIds, context);
    this.#observe('deleted', context.source, outcomes.filter((outcome) => outcome.written).length);
    return outcomes;
  }

  /** Compares a user with its profile, writing nothing. */
  async inspect(userId: string): Promise<UserInspection> {
    const user = await this.#profiles.getAuthUser(userId);
    if (isDeleted(user)) {
      const current = await this.#profiles.getProfile(userId);
      if (current === null) return { userId, state: user === null ? 'not_found' : 'in_sync', changes: [] };
      const changes = this.#retireChanges(current, retiredRow(this.#rules, current));
      // Under `keep` the profile stays by design, but it is still an orphan worth knowing about.
      const settled = this.#rules.retire === 'mark_deleted' && changes.length === 0;
      return { userId, state: settled ? 'in_sync' : 'orphaned', changes };
    }
    // An anonymous user the rules give no profile: nothing to do, whether it has one or not.
    if (!getsProfile(this.#rules, user!)) return { userId, state: 'in_sync', changes: [] };
    const [preview] = await this.#profiles.previewProfiles([{ userId, values: mapUser(user!, this.#mapping) }]);
    const changes = changesBetween(preview!.current, preview!.expected, preview!.changedFields);
    if (preview!.current === null) return { userId, state: 'missing', changes };
    return { userId, state: changes.length > 0 ? 'stale' : 'in_sync', changes };
  }

  /** One page of users that have no profile; `cursor` is where the previous page ended. */
  listMissing(cursor: string | null, limit: number): Promise<Paged<MissingUser>> {
    return this.#profiles.listMissingUsers({ cursor, limit });
  }

  #retireChanges(before: ProfileRow | null, after: ProfileRow | null): FieldChange[] {
    return changesBetween(before, after, this.#rules.trackedNames).filter(
      (change) => JSON.stringify(change.from) !== JSON.stringify(change.to),
    );
  }
}
