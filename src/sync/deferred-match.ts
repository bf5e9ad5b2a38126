/**
 * How a deferred sync finds its user. before-user-created shows a user before it is stored, and
 * for an OAuth, SSO, ID-token or web3 sign-up Supabase Auth shows a throwaway: it builds a user to
 * show the hook, then stores a second one under a newly generated id, so the hook's id is never
 * stored. The note therefore also keeps what the stored user can be found by: the provider and
 * the subject it gave (auth.identities (provider, provider_id)), else the e-mail.
 *
 * A match must have been created around when the note was made, from MATCH_SLACK_SECONDS before
 * (the clocks of Auth and of whoever stamps the note differ a little) to MATCH_WINDOW_SECONDS
 * after (Auth stores the user within its request, seconds after the hook), so an older account
 * with the same e-mail is never taken for it. SQL back ends match in db/sql-service-state.ts,
 * Supabase API mode in supabase/memory-service-state.ts, by these same rules.
 * @see docs/supabase-webhooks-and-hooks.md
 */
import type { ProfileStore } from './profile-store.ts';

export const MATCH_SLACK_SECONDS = 5;
export const MATCH_WINDOW_SECONDS = 10 * 60;
/** How many matches a note keeps: one is the norm; more only if several users share an e-mail. */
export const MAX_MATCHES = 5;

/** Which account at which provider: auth.identities (provider, provider_id). */
export interface ProviderSubject {
  provider: string;
  providerId: string;
}

/** A deferred sync: the user the hook named, and how else to find the user Auth stored. */
export interface DeferredSync {
  userId: string;
  /** `app_metadata.provider` of the hook's user, and the subject that provider gave. */
  provider: string | null;
  providerId: string | null;
  /** Lower-cased, as Auth stores e-mails. */
  email: string | null;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/**
 * The provider subjects a user JSON (a hook's, or the admin API's) names: each listed identity
 * (`id` is its provider_id in Auth's JSON; identity_data.sub is what provider_id is made from),
 * and `app_metadata.provider` with `user_metadata.sub`, because Auth makes an external sign-up's
 * user_metadata of the provider's claims. That is the only place a before-user-created hook
 * carries the subject (the throwaway user has no identities), and the only place the admin API's
 * list does (it loads no identities).
 */
export function providerSubjects(user: Record<string, unknown>): ProviderSubject[] {
  const subjects: ProviderSubject[] = [];
  for (const identity of Array.isArray(user.identities) ? user.identities.filter(isRecord) : []) {
    const provider = text(identity.provider);
    const data = isRecord(identity.identity_data) ? identity.identity_data : {};
    const providerId = text(identity.provider_id) ?? text(data.sub) ?? text(identity.id);
    if (provider !== undefined && providerId !== undefined) subjects.push({ provider, providerId });
  }
  const provider = text(isRecord(user.app_metadata) ? user.app_metadata.provider : undefined);
  const sub = text(isRecord(user.user_metadata) ? user.user_metadata.sub : undefined);
  if (provider !== undefined && sub !== undefined) subjects.push({ provider, providerId: sub });
  return subjects;
}

/**
 * The note for a before-user-created hook's user. A sign-up that keeps its id (email, phone,
 * anonymous, invite) is found by that id first, so whatever else is noted for it does no harm.
 */
export function deferredSyncOf(userId: string, user: Record<string, unknown>): DeferredSync {
  const provider = text(isRecord(user.app_metadata) ? user.app_metadata.provider : undefined) ?? null;
  const subjects = providerSubjects(user);
  const subject = subjects.find((candidate) => provider === null || candidate.provider === provider) ?? null;
  return {
    userId,
    provider: subject?.provider ?? provider,
    providerId: subject?.providerId ?? null,
    email: text(user.email)?.toLowerCase() ?? null,
  };
}

/** Whether a user created at `createdAt` may be the one a note made at `notedAt` announced. */
export function createdNear(createdAt: Date, notedAt: Date): boolean {
  const offset = createdAt.getTime() - notedAt.getTime();
  return offset >= -MATCH_SLACK_SECONDS * 1000 && offset <= MATCH_WINDOW_SECONDS * 1000;
}

/** A user as a list shows it: enough to tell whether it is the one a note announced. */
export interface MatchCandidate {
  id: string;
  email: string | null;
  created_at: string | null;
  deleted_at: string | null;
  subjects: readonly ProviderSubject[];
}

/**
 * The ids of the users among `users` that a note made at `notedAt` may stand for, best first:
 * live, created near the note, with its identity, then with its e-mail; oldest first within each.
 * The same order as the SQL back end's (db/sql-service-state.ts), and at most as many.
 */
export function matchesAmong(note: DeferredSync, notedAt: Date, users: readonly MatchCandidate[]): string[] {
  const near = users
    .filter((user) => user.deleted_at === null && user.created_at !== null && createdNear(new Date(user.created_at), notedAt))
    .sort((a, b) => Date.parse(a.created_at!) - Date.parse(b.created_at!));
  const byIdentity = near.filter(
    (user) => note.providerId !== null && user.subjects.some((s) => s.provider === note.provider && s.providerId === note.providerId),
  );
  const byEmail = near.filter((user) => note.email !== null && user.email?.toLowerCase() === note.email);
  return [...new Set([...byIdentity, ...byEmail].map((user) => user.id))].slice(0, MAX_MATCHES);
}

/**
 * The user a matched note syncs: the first match (best first) with no profile yet. Null when
 * every match has one: the user was synced already (after-user-created, a Database Webhook,
 * POST /sync/me), and a profile that exists is not the deferred sync's to touch.
 */
export async function firstWithoutProfile(matches: readonly string[], profiles: ProfileStore): Promise<string | null> {
  for (const userId of matches) {
    if ((await profiles.getProfile(userId)) === null) return userId;
  }
  return null;
}
