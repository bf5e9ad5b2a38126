/** The typed frontend client, generated from openapi/openapi.json, against the running service. */
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { createUserSyncClient } from '../client/index.ts';
import { ADMIN_TOKEN, useTestApp } from './helpers/app.ts';
import { insertAuthUser } from './helpers/users.ts';

const JWT_SECRET = 'client-test-jwt-secret-with-at-least-32-characters';
const ISSUER = 'https://clientclientclient.supabase.co/auth/v1';

describe('the typed client', () => {
  const ctx = useTestApp({ env: { SUPABASE_JWT_SECRET: JWT_SECRET, SUPABASE_JWT_ISSUER: ISSUER } });

  it("replaces check-then-RPC-then-refetch with one call that returns the user's profile", async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'frontend@example.com', user_metadata: { full_name: 'Front End' } });
    const accessToken = await new SignJWT({ sub: id, aud: 'authenticated', role: 'authenticated' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(JWT_SECRET));

    const sync = createUserSyncClient(ctx.url, { accessToken: () => accessToken });
    const { data, error } = await sync.syncMe();
    expect(error).toBeUndefined();
    expect(data).toMatchObject({ userId: id, action: 'created', profile: { email: 'frontend@example.com', full_name: 'Front End' } });

    const again = await sync.syncMe();
    expect(again.data?.action).toBe('unchanged');
  });

  it('is typed for every route, problems included', async () => {
    const admin = createUserSyncClient(ctx.url, { accessToken: () => ADMIN_TOKEN });
    const { data } = await admin.api.GET('/users/missing', { params: { query: { limit: 5 } } });
    expect(Array.isArray(data?.users)).toBe(true);

    const anonymous = createUserSyncClient(ctx.url);
    const refused = await anonymous.api.GET('/users/missing', { params: { query: { limit: 5 } } });
    expect(refused.response.status).toBe(401);
    expect(refused.error).toMatchObject({ code: 'unauthorized' });
  });
});
