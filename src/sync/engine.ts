/**
 * The sync engine: makes a user's profile row match what `auth.users` says now. It is framework
 * free (no Fastify) and back-end blind, so the HTTP routes, webhooks, the reconcile and the CLI
 * all share it, and it can be used as a library.
 *
 * Notify, then read the truth: whatever asked for a sync, the engine re-reads the user and writes
 * what it finds, so duplicate, reordered or lost notifications cannot leave a wrong row behind.
 */
import type { DeletePolicy } from '../config/config.ts';
import { userNotFound } from '../errors/problems.ts';
import { isDeleted, type AuthUser } from './auth-user.ts';
import type {
  DeliveryRecord,
  MissingUser,
  Page,
  PageSync,
  Paged,
  ProfileRow,
  RetireOutcome,
  SyncBackend,
  SyncSource,
  UpsertOutcome,
  UserStep,
  WriteContext,
} from './backend.ts';
import { mapUser, type FieldMapping } from './field-map.ts';

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

export class SyncEngine {
  readonly #backend: SyncBackend;
  readonly #mapping: FieldMapping;
  readonly #policy: DeletePolicy;
  readonly #observe: SyncObserver;

  constructor(backend: SyncBackend, mapping: FieldMapping, policy: DeletePolicy, observe: SyncObserver = () => undefined) {
    this.#backend = backend;
    this.#mapping = mapping;
    this.#policy = policy;
    this.#observe = observe;
  }

  /**
   * Syncs one user. A live user's profile is created or updated; a deleted user's profile is
   * handled by the delete policy (action `deleted`). A user in neither table is `user_not_found`.
   */
  async sync(userId: string, context: WriteContext, options: { dryRun?: boolean } = {}): Promise<SyncResult> {
    const dryRun = options.dryRun === true;
    if (!dryRun && this.#backend.syncLiveUser) {
      // The common case in one round trip. No outcome means the user is absent or deleted:
      // nothing was written, and the path below applies the delete policy.
      const outcome = await this.#backend.syncLiveUser(userId, context);
      if (outcome !== null) return this.#upserted(userId, outcome, context);
    }
    const user = await this.#backend.getAuthUser(userId);

    if (isDeleted(user)) {
      if (dryRun) {
        const current = await this.#backend.getProfile(userId);
        if (user === null && current === null) throw userNotFound(userId);
        const after = this.#retiredRow(current);
        return { userId, action: 'deleted', profile: after, changes: this.#retireChanges(current, after), dryRun };
      }
      const [outcome] = await this.#backend.retireProfiles([userId], context);
      if (user === null && outcome!.before === null) throw userNotFound(userId);
      this.#observe('deleted', context.source, 1);
      return {
        userId,
        action: 'deleted',
        profile: outcome!.after,
        changes: changesBetween(outcome!.before, outcome!.after, outcome!.changedFields),
        dryRun,
      };
    }

    const values = mapUser(user!, this.#mapping);
    if (dryRun) {
      const preview = await this.#backend.previewProfile(userId, values, { verify: true });
      const action: SyncAction =
        preview.current === null ? 'created' : preview.changedFields.length > 0 ? 'updated' : 'unchanged';
      return {
        userId,
        action,
        profile: preview.current === null ? preview.expected : { ...preview.current, ...preview.expected },
        changes: changesBetween(preview.current, preview.expected, preview.changedFields),
        dryRun,
      };
    }
    const [outcome] = await this.#backend.upsertProfiles([{ userId, values }], context);
    return this.#upserted(userId, outcome!, context);
  }

  /**
   * Syncs the user a webhook delivery names and records the delivery, in one statement, where the
   * back end can and the user is live: `duplicate` when the delivery was recorded before (nothing
   * written). Undefined when nothing was done (an absent or deleted user, or a back end without
   * the one-statement path): the caller records the delivery and syncs in a transaction instead.
   */
  async syncDelivery(delivery: DeliveryRecord & { userId: string }, context: WriteContext): Promise<SyncResult | 'duplicate' | undefined> {
    if (!this.#backend.syncLiveUserOnce) return undefined;
    const outcome = await this.#backend.syncLiveUserOnce(delivery, context);
    if (outcome === 'not_live') return undefined;
    if (outcome === 'duplicate') return outcome;
    return this.#upserted(delivery.userId, outcome, context);
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
   * Syncs many live users in one statement (the reconcile's batches, where the back end cannot
   * sync a page itself, and a refused page's users one by one). The users must have been
   * read just before; duplicates are collapsed, since one statement cannot write a row twice.
   */
  async syncUsers(users: readonly AuthUser[], context: WriteContext): Promise<UpsertOutcome[]> {
    const unique = [...new Map(users.map((user) => [user.id, user])).values()];
    const outcomes = await this.#backend.upsertProfiles(
      unique.map((user) => ({ userId: user.id, values: mapUser(user, this.#mapping) })),
      context,
    );
    for (const action of ['created', 'updated', 'unchanged'] as const) {
      this.#observe(action, context.source, outcomes.filter((outcome) => outcome.action === action).length);
    }
    return outcomes;
  }

  /** Whether the back end syncs a reconcile page in one statement (`syncUserPage`). */
  get syncsPages(): boolean {
    return this.#backend.syncUserPage !== undefined;
  }

  /**
   * Syncs the next page of a reconcile step in one statement, where the back end can (see
   * `syncsPages`): read, mapped, written and audited together, counted by the observer. A row the
   * table refuses fails the whole page, which is then left as it was.
   */
  async syncUserPage(step: UserStep, page: Page, context: WriteContext): Promise<PageSync> {
    if (!this.#backend.syncUserPage) throw new Error('this back end cannot sync a page in one statement');
    const synced = await this.#backend.syncUserPage(step, page, context);
    for (const action of ['created', 'updated', 'unchanged'] as const) this.#observe(action, context.source, synced[action]);
    return synced;
  }

  /** What syncing many live users would do, writing nothing (dry-run reconcile jobs). */
  async previewUsers(users: readonly AuthUser[]): Promise<{ userId: string; action: SyncAction }[]> {
    const unique = [...new Map(users.map((user) => [user.id, user])).values()];
    const previews = await this.#backend.previewProfiles(
      unique.map((user) => ({ userId: user.id, values: mapUser(user, this.#mapping) })),
    );
    return previews.map((preview) => ({
      userId: preview.userId,
      action: preview.current === null ? 'created' : preview.changedFields.length > 0 ? 'updated' : 'unchanged',
    }));
  }

  /** Applies the delete policy to profiles whose users are gone (the reconcile's orphans). */
  async retireProfiles(userIds: readonly string[], context: WriteContext): Promise<RetireOutcome[]> {
    const outcomes = await this.#backend.retireProfiles(userIds, context);
    this.#observe('deleted', context.source, outcomes.filter((outcome) => outcome.written).length);
    return outcomes;
  }

  get deletePolicy(): DeletePolicy {
    return this.#policy;
  }

  /** The same engine over another view of the back end (one bound to a transaction). */
  with(backend: SyncBackend): SyncEngine {
    return new SyncEngine(backend, this.#mapping, this.#policy, this.#observe);
  }

  /** Compares a user with its profile, writing nothing. */
  async inspect(userId: string): Promise<UserInspection> {
    const user = await this.#backend.getAuthUser(userId);
    if (isDeleted(user)) {
      const current = await this.#backend.getProfile(userId);
      if (current === null) return { userId, state: user === null ? 'not_found' : 'in_sync', changes: [] };
      const changes = this.#retireChanges(current, this.#retiredRow(current));
      // Under `keep` the profile stays by design, but it is still an orphan worth knowing about.
      const settled = this.#policy === 'soft' && changes.length === 0;
      return { userId, state: settled ? 'in_sync' : 'orphaned', changes };
    }
    const preview = await this.#backend.previewProfile(userId, mapUser(user!, this.#mapping));
    const changes = changesBetween(preview.current, preview.expected, preview.changedFields);
    if (preview.current === null) return { userId, state: 'missing', changes };
    return { userId, state: changes.length > 0 ? 'stale' : 'in_sync', changes };
  }

  /** One page of users that have no profile; `cursor` is where the previous page ended. */
  listMissing(cursor: string | null, limit: number): Promise<Paged<MissingUser>> {
    return this.#backend.listMissingUsers({ cursor, limit });
  }

  /** The row the delete policy would leave (for dry runs and inspection). */
  #retiredRow(current: ProfileRow | null): ProfileRow | null {
    if (current === null) return null;
    if (this.#policy === 'delete') return null;
    if (this.#policy === 'soft' && current.deleted_at == null) return { ...current, deleted_at: new Date().toISOString() };
    return current;
  }

  #retireChanges(before: ProfileRow | null, after: ProfileRow | null): FieldChange[] {
    const fields = this.#mapping.columns.map(({ column }) => column);
    if (this.#policy === 'soft') fields.push('deleted_at');
    return changesBetween(before, after, fields).filter(
      (change) => JSON.stringify(change.from) !== JSON.stringify(change.to),
    );
  }
}
