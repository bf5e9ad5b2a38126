/**
 * An OAuth sign-up as Supabase Auth makes it (internal/api/external.go, hooks.go):
 *
 * 1. before-user-created is sent with a throwaway user (SignupParams.ToUserModel): a fresh id,
 *    `app_metadata` {provider, providers}, the provider's claims as `user_metadata`, no identities,
 *    Go's zero time as created_at. That user is never stored.
 * 2. The user is then stored under another newly generated id, the same claims as its
 *    user_metadata, with an auth.identities row (provider, provider_id = the claims' `sub`).
 */
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../src/db/sql-client.ts';
import { authHookBody, type HookIdentity } from './webhooks.ts';

export interface OAuthSignUp {
  provider: string;
  /** The provider's id for the person: auth.identities.provider_id. */
  subject: string;
  email: string;
  /** What the provider said (provider.Claims, mapped by structs.Map): identity_data and user_metadata. */
  claims: Record<string, unknown>;
}

export function oauthSignUp(email: string, provider = 'github'): OAuthSignUp {
  const subject = String(Math.floor(Math.random() * 1e9));
  const claims = {
    iss: 'https://api.github.com',
    sub: subject,
    provider_id: subject,
    name: 'Octo & Cat <dev>',
    full_name: 'Octo & Cat <dev>',
    user_name: `octo-${subject}`,
    preferred_username: `octo-${subject}`,
    avatar_url: `https://avatars.githubusercontent.com/u/${subject}?v=4`,
    email,
    email_verified: true,
    phone_verified: false,
  };
  return { provider, subject, email, claims };
}

/**
 * The before-user-created body for the sign-up, with its throwaway id. `listIdentity` lists the
 * identity on the user too, as a hook payload built from a stored user would; Auth's own has none.
 */
export function beforeUserCreatedBody(signUp: OAuthSignUp, options: { listIdentity?: boolean } = {}): { throwawayId: string; body: string } {
  const throwawayId = randomUUID();
  const identities: HookIdentity[] = options.listIdentity
    ? [{ id: signUp.subject, user_id: throwawayId, identity_data: signUp.claims, provider: signUp.provider, email: signUp.email }]
    : [];
  const body = authHookBody('before-user-created', {
    id: throwawayId,
    email: signUp.email,
    app_metadata: { provider: signUp.provider, providers: [signUp.provider] },
    user_metadata: signUp.claims,
    identities,
  });
  return { throwawayId, body };
}

/** Stores the signed-up user as Auth does after the hook allowed it: a new id, and its identity. Returns the id. */
export async function storeOAuthUser(db: Queryable, signUp: OAuthSignUp): Promise<string> {
  const id = randomUUID();
  await db.query(
    `INSERT INTO auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data,
                             email_confirmed_at, last_sign_in_at, created_at, updated_at)
     VALUES ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', 'authenticated', $2, $3, $4, now(), now(), now(), now())`,
    [id, signUp.email, JSON.stringify({ provider: signUp.provider, providers: [signUp.provider] }), JSON.stringify(signUp.claims)],
  );
  await db.query(
    `INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, now(), now(), now())`,
    [signUp.subject, id, JSON.stringify(signUp.claims), signUp.provider],
  );
  return id;
}
