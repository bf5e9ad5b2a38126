/**
 * The Supabase API back end, for deployments with a project URL and a secret key but no database
 * connection: auth users through supabase-js's `auth.admin`, the profile table through PostgREST.
 * The engine, the routes, the webhooks and the reconcile do not change.
 * @see docs/supabase-admin-api.md
 *
 * What HTTP cannot do that SQL can, and what is done instead:
 * - No statement compares and writes at once: current rows are read, compared here
 *   (values.ts), and only differing rows are upserted (`on_conflict=id`, merge).
 * - No transactions: each sync is a read and at most one write; a concurrent sync of the same
 *   user writes the same values (notify, then read the truth), so the result is the same.
 * - No `user_sync` schema: audit entries go to the log (`msg: "audit"`), and the service's own
 *   state lives in this process (memory-service-state.ts).
 * - The admin API pages users by offset, newest first: listings count pages themselves (never
 *   supabase-js's `nextPage`, misread from page 10 on) and stop on a short page.
 */
import type { SupabaseClient } from '@supabase/supabase-js';
import { profileWriteProblem } from '../db/errors.ts';
import type { ProfileTable } from '../db/profile-table.ts';
import { ProblemError } from '../errors/problems.ts';
import type { Log } from '../logging.ts';
import { normalizeAuthUser, type AuthUser } from '../sync/auth-user.ts';
import { providerSubjects, type ProviderSubject } from '../sync/deferred-match.ts';
import { mapUser, type FieldMapping } from '../sync/field-map.ts';
import { getsProfile, type ProfileRules, type TrackedColumn } from '../sync/profile-rules.ts';
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
import { isUuid } from '../sync/uuid.ts';
import { BloomFilter } from './bloom-filter.ts';
import { isRetryableStatus, keyRefused, RetryableError, withRetries, type RetryOptions } from './retry.ts';
import { sameValue, toRestValue } from './values.ts';

/** A user of the admin API's list, with the provider accounts it can be found by. */
export interface ListedUser extends AuthUser {
  subjects: ProviderSubject[];
}

/** The admin API's largest page: fewer, larger calls. */
export const AUTH_PAGE_SIZE = 1000;

export interface SupabaseProfileStoreOptions {
  client: SupabaseClient;
  table: ProfileTable;
  mapping: FieldMapping;
  rules: ProfileRules;
  log: Log;
  /**
   * Ids per profile lookup (`id=in.(…)` in the URL). Supabase's gateway answers "URI too long"
   * somewhere past a few hundred UUIDs, so lookups go in chunks.
   * @see https://github.com/supabase/supabase-js/issues/766
   */
  idChunkSize: number;
  retry?: RetryOptions;
}

interface AuthResult {
  data: unknown;
  error: { status?: number; code?: string; message: string; name?: string } | null;
}

interface RestResult<T> {
  data: T | null;
  error: { code?: string; message: string; details?: string | null; hint?: string | null } | null;
  status: number;
}

/** The gateway's 414 for a URL over its limit: long `in.(…)` filters. */
class UriTooLong extends Error {}

const chunks = <T>(items: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

export class SupabaseProfileStore implements ProfileStore {
  readonly #client: SupabaseClient;
  readonly #schema: string;
  readonly #relation: string;
  readonly #mapping: FieldMapping;
  readonly #rules: ProfileRules;
  readonly #tracked: readonly TrackedColumn[];
  readonly #log: Log;
  /** Ids per lookup; halved for good if the gateway finds the URL too long. */
  #chunk: number;
  readonly #retry: RetryOptions | undefined;
  /** Live auth ids of the current orphan scan; rebuilt when a scan starts. */
  #liveIds: BloomFilter | undefined;

  constructor(options: SupabaseProfileStoreOptions) {
    this.#client = options.client;
    [this.#schema, this.#relation] = options.table.name.includes('.')
      ? (options.table.name.split('.') as [string, string])
      : ['public', options.table.name];
    this.#mapping = options.mapping;
    this.#rules = options.rules;
    this.#tracked = options.rules.tracked;
    this.#log = options.log;
    this.#chunk = options.idChunkSize;
    this.#retry = options.retry;
  }

  // ---- calls -------------------------------------------------------------------------------

  /** An auth-js call: its error object becomes a problem, a retry, or (404) null. */
  async #auth<R extends AuthResult>(call: () => Promise<R>, notFoundIsNull = false): Promise<R['data'] | null> {
    return withRetries(async () => {
      const { data, error } = await call();
      if (error === null) return data;
      const status = error.status ?? 0;
      if (notFoundIsNull && (status === 404 || error.code === 'user_not_found')) return null;
      if (status === 401 || status === 403) throw keyRefused(status, error.message);
      if (isRetryableStatus(status) || error.name === 'AuthRetryableFetchError') throw new RetryableError(error.message);
      throw new Error(`Supabase Auth answered ${status}: ${error.message}`);
    }, this.#retry);
  }

  /** A PostgREST call: refusals of the row become 409/422, a bad key 503, the rest retried or thrown. */
  async #rest<T>(call: () => PromiseLike<RestResult<T>>): Promise<T> {
    return withRetries(async () => {
      const { data, error, status } = await call();
      if (error === null) return data as T;
      if (status === 401 || status === 403) throw keyRefused(status, error.message);
      if (status === 414 || status === 431) throw new UriTooLong(error.message);
      if (isRetryableStatus(status)) throw new RetryableError(`PostgREST answered ${status}: ${error.message}`);
      throw profileWriteProblem(error) ?? new Error(`PostgREST answered ${status}: ${error.code ?? ''} ${error.message}`);
    }, this.#retry);
  }

  #from() {
    return this.#client.schema(this.#schema).from(this.#relation);
  }

  /**
   * Profile rows for many ids, `#chunk` ids a request. A gateway that refuses the URL as too long
   * (414) makes the chunk half as large, for this lookup and every later one.
   */
  async #lookup(ids: readonly string[], columns: '*' | 'id'): Promise<ProfileRow[]> {
    const rows: ProfileRow[] = [];
    for (let start = 0; start < ids.length; ) {
      const chunk = ids.slice(start, start + this.#chunk);
      try {
        rows.push(...(await this.#rest<ProfileRow[]>(() => this.#from().select(columns as '*').in('id', chunk))));
        start += chunk.length;
      } catch (error) {
        if (!(error instanceof UriTooLong) || this.#chunk === 1) throw error;
        this.#chunk = Math.max(1, Math.floor(this.#chunk / 2));
        this.#log.warn({ idChunkSize: this.#chunk }, 'the Supabase gateway refused a long URL; looking profiles up in smaller chunks');
      }
    }
    return rows;
  }

  async #profiles(ids: readonly string[]): Promise<Map<string, ProfileRow>> {
    return new Map((await this.#lookup(ids, '*')).map((row) => [String(row.id), row]));
  }

  async #existingProfileIds(ids: readonly string[]): Promise<Set<string>> {
    return new Set((await this.#lookup(ids, 'id')).map((row) => String(row.id)));
  }

  /** One page of the admin API's user list (1-based, newest first). */
  async #authPage(page: number): Promise<AuthUser[]> {
    const data = await this.#auth(() => this.#client.auth.admin.listUsers({ page, perPage: AUTH_PAGE_SIZE }));
    const users = (data as { users?: unknown[] } | null)?.users ?? [];
    return users.map((user) => normalizeAuthUser(user as Record<string, unknown>));
  }

  // ---- reads -------------------------------------------------------------------------------

  /**
   * The `count` newest users (the admin API's first page, newest first), with the provider
   * subjects each can be found by: where deferred syncs look for a user stored moments ago. The
   * list carries no identities (GoTrue loads them only for one user), so an external sign-up is
   * known by its first provider and `user_metadata.sub` (providerSubjects).
   */
  async newestAuthUsers(count: number): Promise<ListedUser[]> {
    const data = await this.#auth(() => this.#client.auth.admin.listUsers({ page: 1, perPage: count }));
    const users = ((data as { users?: unknown[] } | null)?.users ?? []) as Record<string, unknown>[];
    return users.map((user) => ({ ...normalizeAuthUser(user), subjects: providerSubjects(user) }));
  }

  async getAuthUser(userId: string): Promise<AuthUser | null> {
    const data = await this.#auth(() => this.#client.auth.admin.getUserById(userId), true);
    const user = (data as { user?: unknown } | null)?.user;
    return user ? normalizeAuthUser(user as Record<string, unknown>) : null;
  }

  async getProfile(userId: string): Promise<ProfileRow | null> {
    return (await this.#profiles([userId])).get(userId) ?? null;
  }

  /** The row to send for a user, and the tracked columns it would change in `current`. */
  #plan(userId: string, values: Record<string, unknown>, current: ProfileRow | null) {
    const payload: ProfileRow = { id: userId };
    for (const { column, type } of this.#tracked) payload[column] = toRestValue(values[column], type);
    const changedFields = this.#tracked
      .filter(({ column, type }) => current === null ? payload[column] !== null : !sameValue(type, current[column], payload[column]))
      .map(({ column }) => column);
    return { payload, changedFields };
  }

  // ---- writes ------------------------------------------------------------------------------

  #audit(context: WriteContext, userId: string, action: string, changedFields: string[]): void {
    this.#log.info({ audit: { actor: context.actor, userId, action, changedFields, source: context.source } }, 'audit');
  }

  /** A user who gets a profile: live, and not anonymous unless the rules say so. */
  #profiled(user: AuthUser): boolean {
    return user.deleted_at === null && getsProfile(this.#rules, user);
  }

  async syncUsers(userIds: readonly string[], context: WriteContext): Promise<(UpsertOutcome | null)[]> {
    const live = new Map<string, AuthUser>();
    for (const userId of new Set(userIds)) {
      const user = await this.getAuthUser(userId);
      if (user !== null && this.#profiled(user)) live.set(userId, user);
    }
    const outcomes = new Map((await this.#upsert([...live.values()], context)).map((outcome) => [outcome.userId, outcome]));
    return userIds.map((userId) => {
      const user = live.get(userId);
      return user === undefined ? null : outcomes.get(user.id)!;
    });
  }

  async syncPage(step: UserStep, page: Page, context: WriteContext): Promise<PageSync> {
    const { items, nextCursor } = await this.#scan(page, step === 'profiled');
    const outcomes = await this.#upsert(items, context);
    const count = (action: UpsertOutcome['action']) => outcomes.filter((outcome) => outcome.action === action).length;
    return { handled: items.length, created: count('created'), updated: count('updated'), unchanged: count('unchanged'), nextCursor };
  }

  /**
   * Maps live users and writes the profiles that differ, a chunk a request; audited in the log.
   * Each user once: one upsert cannot write a row twice, and a user may be named twice (an id in
   * two spellings, or a scan that met a user again after new users shifted the pages).
   */
  async #upsert(users: readonly AuthUser[], context: WriteContext): Promise<UpsertOutcome[]> {
    if (users.length === 0) return [];
    const unique = new Map(users.map((user) => [user.id, user]));
    const rows = [...unique.values()].map((user) => ({ userId: user.id, values: mapUser(user, this.#mapping) }));
    const currents = await this.#profiles(rows.map((row) => row.userId));
    const plans = rows.map(({ userId, values }) => ({ userId, current: currents.get(userId) ?? null, ...this.#plan(userId, values, currents.get(userId) ?? null) }));
    const toWrite = plans.filter((plan) => plan.current === null || plan.changedFields.length > 0);
    const written = new Map<string, ProfileRow>();
    const now = new Date().toISOString();
    for (const chunk of chunks(toWrite, AUTH_PAGE_SIZE)) {
      const payloads = chunk.map(({ payload }) => (this.#rules.touchUpdatedAt ? { ...payload, updated_at: now } : payload));
      const result = await this.#rest<ProfileRow[]>(() => this.#from().upsert(payloads, { onConflict: 'id' }).select('*'));
      for (const row of result) written.set(String(row.id), row);
    }
    return plans.map(({ userId, current, changedFields }): UpsertOutcome => {
      const after = written.get(userId);
      if (after === undefined) return { userId, action: 'unchanged', before: current, after: current, changedFields: [] };
      const action = current === null ? 'created' : 'updated';
      this.#audit(context, userId, action, changedFields);
      return { userId, action, before: current, after, changedFields };
    });
  }

  async retireProfiles(userIds: readonly string[], context: WriteContext): Promise<RetireOutcome[]> {
    if (userIds.length === 0) return [];
    const currents = await this.#profiles(userIds);
    const changed = new Map<string, ProfileRow | null>();
    for (const chunk of chunks(userIds, this.#chunk)) {
      if (this.#rules.retire === 'delete_row') {
        const rows = await this.#rest<ProfileRow[]>(() => this.#from().delete().in('id', chunk).select('*'));
        for (const row of rows) changed.set(String(row.id), null);
      } else if (this.#rules.retire === 'mark_deleted') {
        const now = new Date().toISOString();
        const set = this.#rules.touchUpdatedAt ? { deleted_at: now, updated_at: now } : { deleted_at: now };
        const rows = await this.#rest<ProfileRow[]>(() => this.#from().update(set).in('id', chunk).is('deleted_at', null).select('*'));
        for (const row of rows) changed.set(String(row.id), row);
      }
    }
    return userIds.map((userId): RetireOutcome => {
      const before = currents.get(userId) ?? null;
      if (!changed.has(userId)) return { userId, before, after: before, changedFields: [], written: false };
      const after = changed.get(userId) ?? null;
      const changedFields = this.#tracked
        .filter(({ column, type }) => !sameValue(type, before?.[column], after?.[column]))
        .map(({ column }) => column);
      this.#audit(context, userId, 'deleted', changedFields);
      return { userId, before, after, changedFields, written: true };
    });
  }

  // ---- scans -------------------------------------------------------------------------------

  /**
   * Walks the admin API's pages from a position ("page.offset"), checking each page's live users
   * against the profile table, until `limit` users with (`withProfile`) or without a profile are
   * found. Users created during a scan push older ones to later pages, so they may be met twice,
   * never skipped.
   */
  async #scan({ cursor, limit }: Page, withProfile: boolean): Promise<Paged<AuthUser>> {
    let [page, offset] = decodePosition(cursor);
    const found: AuthUser[] = [];
    for (;;) {
      const users = await this.#authPage(page);
      const slice = users.slice(offset);
      const existing = await this.#existingProfileIds(slice.filter((user) => this.#profiled(user)).map((user) => user.id));
      for (const [index, user] of slice.entries()) {
        if (!this.#profiled(user) || existing.has(user.id) !== withProfile) continue;
        found.push(user);
        if (found.length === limit) {
          const next = offset + index + 1;
          if (next < users.length) return { items: found, nextCursor: `${page}.${next}` };
          return { items: found, nextCursor: users.length < AUTH_PAGE_SIZE ? null : `${page + 1}.0` };
        }
      }
      if (users.length < AUTH_PAGE_SIZE) return { items: found, nextCursor: null };
      page++;
      offset = 0;
    }
  }

  async listMissingUsers(page: Page): Promise<Paged<MissingUser>> {
    const { items, nextCursor } = await this.#scan(page, false);
    return { items: items.map((user) => ({ id: user.id, email: user.email, createdAt: user.created_at })), nextCursor };
  }

  missingAuthUsers(page: Page): Promise<Paged<AuthUser>> {
    return this.#scan(page, false);
  }

  profiledAuthUsers(page: Page): Promise<Paged<AuthUser>> {
    return this.#scan(page, true);
  }

  // Over HTTP a write cannot be tried and rolled back, so `verify` cannot check constraints here.
  async previewProfiles(rows: readonly ProfileValues[]): Promise<PreviewOutcome[]> {
    const currents = await this.#profiles(rows.map((row) => row.userId));
    return rows.map(({ userId, values }) => {
      const current = currents.get(userId) ?? null;
      const { payload, changedFields } = this.#plan(userId, values, current);
      return { userId, current, expected: { ...(current ?? {}), ...payload }, changedFields };
    });
  }

  /** Counting over the admin API costs a full scan: reconcile jobs here report progress without a total. */
  async reconcileTotals(): Promise<null> {
    return null;
  }

  /**
   * Profiles by ascending id (keyset on the profile table), each checked against a Bloom filter
   * of live auth ids built when the scan starts; the few not in it are confirmed one by one.
   */
  async orphanedProfileIds({ cursor, limit }: Page): Promise<Paged<string>> {
    if (cursor === null || this.#liveIds === undefined) this.#liveIds = await this.#buildLiveIdFilter();
    if (cursor !== null && !isUuid(cursor)) throw invalidCursor();
    const liveIds = this.#liveIds;
    const rows = await this.#rest<{ id: string }[]>(() => {
      let query = this.#from().select('id').order('id', { ascending: true }).limit(limit + 1);
      if (cursor !== null) query = query.gt('id', cursor);
      // Under the soft policy a profile already marked deleted is settled.
      if (this.#rules.retire === 'mark_deleted') query = query.is('deleted_at', null);
      return query;
    });
    const page = rows.slice(0, limit);
    const orphans: string[] = [];
    for (const { id } of page) {
      if (liveIds.mightContain(id)) continue;
      const user = await this.getAuthUser(id);
      if (user === null || user.deleted_at !== null) orphans.push(id);
    }
    return { items: orphans, nextCursor: rows.length > limit ? page[page.length - 1]!.id : null };
  }

  async #buildLiveIdFilter(): Promise<BloomFilter> {
    const first = await this.#auth(() => this.#client.auth.admin.listUsers({ page: 1, perPage: 1 }));
    const filter = new BloomFilter(Math.max((first as { total?: number } | null)?.total ?? 0, AUTH_PAGE_SIZE));
    for (let page = 1; ; page++) {
      const users = await this.#authPage(page);
      for (const user of users) if (user.deleted_at === null) filter.add(user.id);
      if (users.length < AUTH_PAGE_SIZE) return filter;
    }
  }

  async ping(): Promise<void> {
    await this.#auth(() => this.#client.auth.admin.listUsers({ page: 1, perPage: 1 }));
  }
}

const invalidCursor = () =>
  new ProblemError('invalid_cursor', 'The cursor was not issued by this service; pass nextCursor as it came.');

/** "page.offset" → [page, offset]; the first page when there is no cursor. */
function decodePosition(cursor: string | null): [number, number] {
  if (cursor === null) return [1, 0];
  const match = /^(\d{1,9})\.(\d{1,4})$/.exec(cursor);
  if (!match || Number(match[1]) < 1) throw invalidCursor();
  return [Number(match[1]), Number(match[2])];
}
