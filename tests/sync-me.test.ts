/**
 * POST /sync/me with the user's own Supabase access token: HS256 with the project's JWT secret,
 * ES256 against a JWKS served locally, and every way a token must be refused.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, useTestApp } from './helpers/app.ts';
import { auditRows, insertAuthUser, profileOf } from './helpers/users.ts';

const JWT_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long';
const PROJECT = 'https://abcdefghijklmnop.supabase.co';
const ISSUER = `${PROJECT}/auth/v1`;

interface Claims {
  sub: string;
  aud?: string;
  iss?: string;
  expiresIn?: string | number;
  is_anonymous?: boolean;
}

function claims({ sub, aud = 'authenticated', iss = ISSUER, is_anonymous = false }: Claims) {
  return { sub, aud, iss, role: 'authenticated', aal: 'aal1', session_id: crypto.randomUUID(), is_anonymous, app_metadata: {}, user_metadata: {} };
}

const hs256 = (options: Claims) =>
  new SignJWT(claims(options))
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h')
    .sign(new TextEncoder().encode(JWT_SECRET));

const es256 = (key: CryptoKey, kid: string, options: Claims) =>
  new SignJWT(claims(options)).setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' }).setIssuedAt().setExpirationTime(options.expiresIn ?? '1h').sign(key);

/** `alg: none`: a header and payload with no signature at all. */
const unsigned = (options: Claims) => {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ ...claims(options), exp: Math.floor(Date.now() / 1000) + 3600 })}.`;
};

const syncMe = (url: string, token: string) => request(url).post('/sync/me').set('Authorization', `Bearer ${token}`);

describe('POST /sync/me with HS256 tokens (SUPABASE_JWT_SECRET)', () => {
  const ctx = useTestApp({ env: { SUPABASE_JWT_SECRET: JWT_SECRET, SUPABASE_URL: PROJECT } });

  it("syncs the token's user and answers with the profile, in one call", async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'me@example.com', user_metadata: { full_name: 'Me Myself' } });
    const res = await syncMe(ctx.url, await hs256({ sub: id })).expect(200);
    expect(res.body).toMatchObject({ userId: id, action: 'created', profile: { id, email: 'me@example.com', full_name: 'Me Myself' } });
    expect(await profileOf(ctx.db.sql, id)).toMatchObject({ email: 'me@example.com' });
    expect((await syncMe(ctx.url, await hs256({ sub: id })).expect(200)).body.action).toBe('unchanged');
    expect(await auditRows(ctx.db.sql, id)).toEqual([
      { actor: `user:${id}`, action: 'created', changed_fields: ['email', 'full_name'], source: 'me' },
    ]);
  });

  it.each([
    ['an expired token', async (id: string) => hs256({ sub: id, expiresIn: Math.floor(Date.now() / 1000) - 60 }), 'token_expired'],
    ['a wrong audience', async (id: string) => hs256({ sub: id, aud: 'anon' }), 'invalid_token'],
    ['another project\'s issuer', async (id: string) => hs256({ sub: id, iss: 'https://other.supabase.co/auth/v1' }), 'invalid_token'],
    ['alg: none', async (id: string) => unsigned({ sub: id }), 'invalid_token'],
    ['a token signed with another secret', async (id: string) =>
      new SignJWT(claims({ sub: id })).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode('x'.repeat(40))), 'invalid_token'],
    ['no JWT at all', async () => 'not-a-jwt', 'invalid_token'],
    ['a token with no exp (it would never expire)', async (id: string) =>
      new SignJWT(claims({ sub: id })).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().sign(new TextEncoder().encode(JWT_SECRET)), 'invalid_token'],
    ['a token with no iss', async (id: string) => {
      const rest: Partial<ReturnType<typeof claims>> = claims({ sub: id });
      delete rest.iss;
      return new SignJWT(rest).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET));
    }, 'invalid_token'],
    // A project's anon and service_role keys are JWTs signed with the same secret; one given a sub
    // and the user audience is still no user's sign-in.
    ['role anon', async (id: string) =>
      new SignJWT({ ...claims({ sub: id }), role: 'anon' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET)), 'invalid_token'],
    ['role service_role', async (id: string) =>
      new SignJWT({ ...claims({ sub: id }), role: 'service_role' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET)), 'invalid_token'],
    ['no role', async (id: string) => {
      const rest: Partial<ReturnType<typeof claims>> = claims({ sub: id });
      delete rest.role;
      return new SignJWT(rest).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET));
    }, 'invalid_token'],
  ])('refuses %s with 401 %s', async (_case, make, code) => {
    const id = await insertAuthUser(ctx.db.sql);
    const res = await syncMe(ctx.url, await make(id));
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe(code);
    expect(await profileOf(ctx.db.sql, id)).toBeNull();
  });

  it("user A's token on /sync/<B>, or on any other service route, is 403", async () => {
    const a = await insertAuthUser(ctx.db.sql);
    const b = await insertAuthUser(ctx.db.sql);
    const tokenA = await hs256({ sub: a });
    const other = await request(ctx.url).post(`/sync/${b}`).set('Authorization', `Bearer ${tokenA}`);
    expect(other.status).toBe(403);
    expect(other.body.code).toBe('forbidden');
    expect((await request(ctx.url).get('/users/missing').set('Authorization', `Bearer ${tokenA}`)).status).toBe(403);
    expect(await profileOf(ctx.db.sql, b)).toBeNull();
  });

  it('a service token is no user token: 401 on /sync/me', async () => {
    const res = await request(ctx.url).post('/sync/me').set(auth);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('invalid_token');
  });

  it('anonymous users get no profile unless SYNC_ANONYMOUS_USERS=true', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: null, is_anonymous: true });
    const res = await syncMe(ctx.url, await hs256({ sub: id, is_anonymous: true }));
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('forbidden');
    expect(await profileOf(ctx.db.sql, id)).toBeNull();
  });
});

describe('POST /sync/me with ES256 tokens from the project JWKS', () => {
  let jwks: Server;
  let jwksUrl = '';
  let signing: { key: CryptoKey; kid: string };
  const published: JWK[] = [];
  /** What the JWKS endpoint answers with besides 200: set to 500 to take it down. */
  let jwksStatus = 200;
  let jwksFetches = 0;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    signing = { key: pair.privateKey, kid: 'key-1' };
    published.push({ ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'ES256', use: 'sig' });
    jwks = createServer((_request, response) => {
      jwksFetches += 1;
      response.statusCode = jwksStatus;
      response.setHeader('content-type', 'application/json');
      response.end(jwksStatus === 200 ? JSON.stringify({ keys: published }) : '{"message":"upstream error"}');
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/auth/v1/.well-known/jwks.json`;
  });
  afterAll(async () => {
    await new Promise((resolve) => jwks?.close(resolve));
  });

  const ctx = useTestApp({
    env: {
      SUPABASE_URL: PROJECT,
      get SUPABASE_JWKS_URL() {
        return jwksUrl;
      },
      // So that the rotation test need not wait 30 s for an unknown kid to be fetched again.
      SUPABASE_JWKS_COOLDOWN_SECONDS: '0',
    },
  });

  it('accepts a token signed with the published key', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'es256@example.com' });
    const res = await syncMe(ctx.url, await es256(signing.key, signing.kid, { sub: id })).expect(200);
    expect(res.body).toMatchObject({ action: 'created', profile: { email: 'es256@example.com' } });
  });

  it('refuses a token signed by a key the project does not publish, and an HS256 token', async () => {
    const id = await insertAuthUser(ctx.db.sql);
    const stranger = await generateKeyPair('ES256');
    const forged = await syncMe(ctx.url, await es256(stranger.privateKey, signing.kid, { sub: id }));
    expect(forged.status).toBe(401);
    expect(forged.body.code).toBe('invalid_token');
    const symmetric = await syncMe(ctx.url, await hs256({ sub: id }));
    expect(symmetric.status).toBe(401);
    expect(symmetric.body.detail).toMatch(/HS256 tokens are not accepted/);
  });

  it('a key rotation: a token under a new kid makes the service fetch the JWKS again, and passes', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'rotated@example.com' });
    await syncMe(ctx.url, await es256(signing.key, signing.kid, { sub: id })).expect(200);
    const next = await generateKeyPair('ES256');
    published.push({ ...(await exportJWK(next.publicKey)), kid: 'key-2', alg: 'ES256', use: 'sig' });
    const fetchesBefore = jwksFetches;
    const res = await syncMe(ctx.url, await es256(next.privateKey, 'key-2', { sub: id }));
    expect(res.status).toBe(200);
    expect(jwksFetches).toBe(fetchesBefore + 1);
  });

  it('a JWKS that answers 5xx is 503 auth_keys_unavailable with Retry-After, not the caller\'s bad token', async () => {
    const id = await insertAuthUser(ctx.db.sql);
    const stranger = await generateKeyPair('ES256');
    jwksStatus = 500;
    try {
      // An unknown kid: the keys must be fetched, and the fetch fails.
      const res = await syncMe(ctx.url, await es256(stranger.privateKey, 'key-unknown', { sub: id }));
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('auth_keys_unavailable');
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(await profileOf(ctx.db.sql, id)).toBeNull();
    } finally {
      jwksStatus = 200;
    }
  });
});
