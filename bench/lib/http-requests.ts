/**
 * The requests the HTTP sections send: each for a random seeded user, as the real callers send
 * them. Built per request by autocannon's setupRequest, so no two connections hammer one row.
 */
import { SignJWT } from 'jose';
import type { HttpFixture } from './http-fixture.ts';
import type { LoadRequest } from './load.ts';

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

/** `POST /sync/:userId` with a service token (the baseline ignores the header it does not need). */
export function syncRequests(userIds: readonly string[], token?: string): () => LoadRequest {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  return () => ({ method: 'POST', path: `/sync/${pick(userIds)}`, headers });
}

/**
 * `POST /sync/me` with the user's own access token, as supabase-js holds it after sign-in. Signing
 * is the client's work, not the server's, so a pool of tokens (one per user) is signed up front.
 */
export async function syncMeRequests(fixture: HttpFixture, users: number): Promise<() => LoadRequest> {
  const key = new TextEncoder().encode(fixture.jwtSecret);
  const tokens = await Promise.all(
    fixture.userIds.slice(0, users).map((sub) =>
      new SignJWT({ sub, role: 'authenticated', aal: 'aal1', session_id: crypto.randomUUID(), is_anonymous: false })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setAudience('authenticated')
        .setIssuer(fixture.issuer)
        .setIssuedAt()
        .setExpirationTime('2h')
        .sign(key),
    ),
  );
  const headers = tokens.map((token) => ({ authorization: `Bearer ${token}` }));
  return () => ({ method: 'POST', path: '/sync/me', headers: pick(headers) });
}

/**
 * A Database Webhook INSERT on auth.users as pg_net posts it: the whole row, with the service
 * token set as a static header. The service identifies a delivery by its body's hash, so each
 * body differs (its updated_at, as distinct events' do): every request is a new delivery to sync,
 * never a duplicate answered from the delivery table.
 */
export function webhookRequests(fixture: HttpFixture): () => LoadRequest {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${fixture.webhookToken}` };
  const createdAt = new Date().toISOString();
  const start = Date.now();
  let sequence = 0;
  return () => {
    const id = pick(fixture.userIds);
    const record = {
      instance_id: '00000000-0000-0000-0000-000000000000',
      id,
      aud: 'authenticated',
      role: 'authenticated',
      email: `${id}@bench.example`,
      encrypted_password: '$2a$10$abcdefghijklmnopqrstuv.0123456789ABCDEFGHIJKLMNOPQRSTU',
      email_confirmed_at: createdAt,
      confirmation_token: '',
      recovery_token: '',
      raw_app_meta_data: { provider: 'email', providers: ['email'] },
      raw_user_meta_data: { email_verified: true },
      created_at: createdAt,
      updated_at: new Date(start + sequence++).toISOString(),
      last_sign_in_at: null,
      is_anonymous: false,
    };
    return {
      method: 'POST',
      path: '/webhooks/supabase',
      headers,
      body: JSON.stringify({ type: 'INSERT', table: 'users', schema: 'auth', record, old_record: null }),
    };
  };
}
