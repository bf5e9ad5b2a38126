/**
 * Failed authentication is counted per client address before any other work: token guessing
 * gets 429s, not an unlimited run of 401s, and one address's failures hold back no other.
 */
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { AuthFailureLimiter } from '../src/http/auth-failures.ts';
import { ADMIN_TOKEN, auth, useTestApp } from './helpers/app.ts';

const WEBHOOK_SECRET = 'v1,whsec_aGVsbG8gd29ybGQ=';
const wrongToken = { Authorization: 'Bearer not-a-token-of-ours-0123456789abcdefghij' };
const from = (address: string) => ({ 'X-Forwarded-For': address });

describe('failed authentication per address (AUTH_FAILURE_LIMIT=3, TRUST_PROXY=loopback)', () => {
  const ctx = useTestApp({
    env: { AUTH_FAILURE_LIMIT: '3', AUTH_FAILURE_WINDOW_SECONDS: '60', TRUST_PROXY: 'loopback', WEBHOOK_SECRET },
  });

  it('three wrong service tokens, then 429 with Retry-After, even for the right token; a success in between resets nothing', async () => {
    const guesser = from('203.0.113.1');
    await request(ctx.url).get('/users/missing').set(wrongToken).set(guesser).expect(401);
    await request(ctx.url).get('/users/missing').set(auth).set(guesser).expect(200);
    await request(ctx.url).get('/users/missing').set(wrongToken).set(guesser).expect(401);
    await request(ctx.url).get('/users/missing').set(guesser).expect(401); // no credentials at all

    const blocked = await request(ctx.url).get('/users/missing').set(auth).set(guesser);
    expect(blocked.status).toBe(429);
    expect(blocked.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(blocked.body.code).toBe('rate_limited');
    const retryAfter = Number(blocked.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // Another address, and the connection's own, are not held back.
    await request(ctx.url).get('/users/missing').set(auth).set(from('203.0.113.2')).expect(200);
    await request(ctx.url).get('/users/missing').set(auth).expect(200);
  });

  it('bad webhook signatures and bad user tokens count the same way', async () => {
    const signer = from('203.0.113.3');
    const body = JSON.stringify({ type: 'INSERT', table: 'users', schema: 'auth', record: { id: '00000000-0000-4000-8000-000000000001' }, old_record: null });
    const badlySigned = {
      'content-type': 'application/json',
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
      'webhook-signature': 'v1,bm90IHRoZSBzaWduYXR1cmU=',
    };
    for (let i = 0; i < 3; i++) await request(ctx.url).post('/webhooks/supabase').set(signer).set(badlySigned).send(body).expect(401);
    const blocked = await request(ctx.url).post('/webhooks/supabase').set(signer).set(badlySigned).send(body);
    expect(blocked.status).toBe(429);
    expect(blocked.body.code).toBe('rate_limited');

    const user = from('203.0.113.4');
    for (let i = 0; i < 3; i++) {
      await request(ctx.url).post('/sync/me').set(user).set('Authorization', 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl').expect(401);
    }
    await request(ctx.url).post('/sync/me').set(user).set('Authorization', 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl').expect(429);
  });
});

describe('failed authentication without TRUST_PROXY', () => {
  const ctx = useTestApp({ env: { AUTH_FAILURE_LIMIT: '2' } });

  it('X-Forwarded-For is not believed: a guesser cannot spread its failures over made-up addresses', async () => {
    await request(ctx.url).get('/users/missing').set(wrongToken).set(from('198.51.100.1')).expect(401);
    await request(ctx.url).get('/users/missing').set(wrongToken).set(from('198.51.100.2')).expect(401);
    const blocked = await request(ctx.url).get('/users/missing').set('Authorization', `Bearer ${ADMIN_TOKEN}`).set(from('198.51.100.3'));
    expect(blocked.status).toBe(429);
  });
});

describe('AuthFailureLimiter', () => {
  it('a window ends: the address may try again, with a fresh count', () => {
    let now = 0;
    const limiter = new AuthFailureLimiter(2, 10, () => now);
    limiter.fail('a');
    limiter.fail('a');
    expect(limiter.blockedFor('a')).toBe(10);
    now = 9_500;
    expect(limiter.blockedFor('a')).toBe(1);
    now = 10_000;
    expect(limiter.blockedFor('a')).toBe(0);
    limiter.fail('a');
    expect(limiter.blockedFor('a')).toBe(0);
    expect(limiter.blockedFor('b')).toBe(0);
  });
});
