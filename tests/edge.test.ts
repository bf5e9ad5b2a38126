/** CORS for the configured frontends, security headers, and rate limits per caller. */
import { randomUUID } from 'node:crypto';
import fastifyHelmet from '@fastify/helmet';
import Fastify from 'fastify';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { ADMIN_TOKEN, auth, OTHER_TOKEN, useTestApp } from './helpers/app.ts';

const JWT_SECRET = 'edge-test-jwt-secret-with-at-least-32-characters';
const ISSUER = 'https://edgeedgeedgeedge.supabase.co/auth/v1';

const FRONTEND = 'https://app.example.com';

describe('CORS and security headers', () => {
  const ctx = useTestApp({ env: { CORS_ORIGINS: `${FRONTEND}, https://admin.example.com` } });

  const preflight = (origin: string) =>
    request(ctx.url)
      .options('/sync/me')
      .set('Origin', origin)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type');

  it('a preflight from an allowed origin passes', async () => {
    const res = await preflight(FRONTEND);
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(FRONTEND);
    expect(res.headers['access-control-allow-methods']).toContain('POST');
    expect(res.headers['access-control-allow-headers']?.toLowerCase()).toContain('authorization');
  });

  it('a preflight, or a request, from another origin is refused with a problem', async () => {
    const res = await preflight('https://evil.example.net');
    expect(res.status).toBe(403);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.body).toMatchObject({ code: 'forbidden', detail: expect.stringContaining('https://evil.example.net') });
    const direct = await request(ctx.url).post(`/sync/${randomUUID()}`).set(auth).set('Origin', 'https://evil.example.net');
    expect(direct.status).toBe(403);
  });

  it("the service's own origin (Swagger UI) and callers without an Origin work", async () => {
    const own = new URL(ctx.url).origin;
    await request(ctx.url).get('/users/missing').set(auth).set('Origin', own).expect(200);
    await request(ctx.url).get('/users/missing').set(auth).expect(200);
  });

  it('sends the security headers @fastify/helmet sent, on every response past CORS', async () => {
    // @fastify/helmet with the directives the service used to give it: edge.ts now sets the
    // headers it sent as fixed values, and must send every one of them, unchanged.
    const helmet = Fastify();
    await helmet.register(fastifyHelmet, {
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:'],
          connectSrc: ["'self'"],
        },
      },
    });
    helmet.get('/', async () => ({}));
    const reference = await helmet.inject('/');
    await helmet.close();
    const generic = new Set(['content-type', 'content-length', 'date', 'connection', 'keep-alive']);
    const expected = Object.fromEntries(Object.entries(reference.headers).filter(([name]) => !generic.has(name)));
    expect(Object.keys(expected)).toHaveLength(12);
    expect(expected['content-security-policy']).toContain("style-src 'self' 'unsafe-inline'");

    const responses = {
      'a probe': await request(ctx.url).get('/health').expect(200),
      'a 401 problem': await request(ctx.url).post(`/sync/${randomUUID()}`).expect(401),
      'a 404 problem': await request(ctx.url).get('/no-such-route').expect(404),
      'Swagger UI': await request(ctx.url).get('/docs/').expect(200),
      'a CORS request': await request(ctx.url).get('/users/missing').set(auth).set('Origin', FRONTEND).expect(200),
    };
    for (const [what, res] of Object.entries(responses)) {
      const sent = Object.fromEntries(Object.keys(expected).map((name) => [name, res.headers[name]]));
      expect(sent, what).toEqual(expected);
      expect(res.headers['x-powered-by']).toBeUndefined();
    }
  });
});

describe('rate limits by kind of caller, defaults', () => {
  const ctx = useTestApp({ env: { RATE_LIMIT_MAX: '3', RATE_LIMIT_USER_MAX: '2', SUPABASE_JWT_SECRET: JWT_SECRET, SUPABASE_JWT_ISSUER: ISSUER } });

  it('a service token is not limited by default: a backend syncing every sign-in is never cut off', async () => {
    for (let i = 0; i < 12; i++) await request(ctx.url).get('/users/missing').set(auth).expect(200);
  });

  it('a user token is limited per user: a third /sync/me in the window is 429, another user still passes', async () => {
    const userToken = (sub: string) =>
      new SignJWT({ sub, aud: 'authenticated', role: 'authenticated' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(ISSUER)
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(JWT_SECRET));
    const [a, b] = await Promise.all([userToken(randomUUID()), userToken(randomUUID())]);
    // The users do not exist: 404 each time, counted all the same.
    for (let i = 0; i < 2; i++) await request(ctx.url).post('/sync/me').set('Authorization', `Bearer ${a}`).expect(404);
    const limited = await request(ctx.url).post('/sync/me').set('Authorization', `Bearer ${a}`);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    await request(ctx.url).post('/sync/me').set('Authorization', `Bearer ${b}`).expect(404);
  });
});

describe('rate limits', () => {
  const ctx = useTestApp({ env: { RATE_LIMIT_SERVICE_MAX: '3', RATE_LIMIT_WINDOW_SECONDS: '60' } });

  it('a caller over its limit gets 429 problem+json with Retry-After; other callers are not held back', async () => {
    for (let i = 0; i < 3; i++) await request(ctx.url).get('/users/missing').set(auth).expect(200);
    const limited = await request(ctx.url).get('/users/missing').set(auth);
    expect(limited.status).toBe(429);
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(limited.body.code).toBe('rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);

    // Counted per token name, not per address: the other token still has its own budget.
    await request(ctx.url).get('/users/missing').set('Authorization', `Bearer ${OTHER_TOKEN}`).expect(200);
    // Probes and webhooks are never limited.
    for (let i = 0; i < 5; i++) await request(ctx.url).get('/health').expect(200);
    const webhook = JSON.stringify({ type: 'INSERT', table: 'orders', schema: 'public', record: { id: 1 }, old_record: null });
    for (let i = 0; i < 5; i++) {
      await request(ctx.url)
        .post('/webhooks/supabase')
        .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
        .set('content-type', 'application/json')
        .send(webhook)
        .expect(200);
    }
  });
});

describe('rate limits per service token', () => {
  // The backend's token stays unlimited (the default) while a partner's token is held to 2.
  const ctx = useTestApp({ env: { RATE_LIMIT_BY_TOKEN: 'other:2' } });

  it('RATE_LIMIT_BY_TOKEN limits the token it names, and only that one', async () => {
    for (let i = 0; i < 2; i++) await request(ctx.url).get('/users/missing').set('Authorization', `Bearer ${OTHER_TOKEN}`).expect(200);
    const limited = await request(ctx.url).get('/users/missing').set('Authorization', `Bearer ${OTHER_TOKEN}`);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('rate_limited');
    expect(limited.body.detail).toContain('More than 2 requests');
    for (let i = 0; i < 6; i++) await request(ctx.url).get('/users/missing').set(auth).expect(200);
  });
});

describe('a per-token exception to a limit on every service token', () => {
  const ctx = useTestApp({ env: { RATE_LIMIT_SERVICE_MAX: '2', RATE_LIMIT_BY_TOKEN: 'admin:0' } });

  it('a token named with 0 is unlimited while the others keep RATE_LIMIT_SERVICE_MAX', async () => {
    for (let i = 0; i < 6; i++) await request(ctx.url).get('/users/missing').set(auth).expect(200);
    for (let i = 0; i < 2; i++) await request(ctx.url).get('/users/missing').set('Authorization', `Bearer ${OTHER_TOKEN}`).expect(200);
    await request(ctx.url).get('/users/missing').set('Authorization', `Bearer ${OTHER_TOKEN}`).expect(429);
  });
});
