/**
 * Hostile input, table-driven: injection and traversal strings in every parameter, bodies over
 * the limits, deeply nested JSON, wrong content types, header floods over a real socket. Every
 * case gets a 4xx (never a 5xx), problem+json wherever Fastify answers, and writes nothing.
 */
import { describe, expect, it } from 'vitest';
import { auth, useTestApp } from './helpers/app.ts';
import { expectProblem } from './helpers/problem-response.ts';
import { snapshotDatabase } from './helpers/snapshot.ts';

describe('paths the router cannot decode', () => {
  const ctx = useTestApp({ db: { seed: true } });

  // Found by tests/fuzz.test.ts: Fastify answered a broken %-escape with its own JSON body.
  it.each(['/users/%', '/sync/%zz', '/reconcile/%E0%A4%A', '/users/%c3%28x%'])('400 problem+json for %s, and nothing written', async (url) => {
    const before = await snapshotDatabase(ctx.db.sql);
    for (const method of ['GET', 'POST'] as const) {
      const res = await ctx.t.app.inject({ method, url, headers: auth });
      expect(res.statusCode).toBe(400);
      expect(expectProblem(res).code).toBe('invalid_request');
    }
    expect(await snapshotDatabase(ctx.db.sql)).toEqual(before);
  });
});

describe('a CORS preflight without its headers', () => {
  const FRONTEND = 'https://app.example.com';
  const ctx = useTestApp({ env: { CORS_ORIGINS: FRONTEND } });

  // Found by tests/fuzz.test.ts: @fastify/cors answered this with a text/plain 400.
  it('400 problem+json for an OPTIONS from an allowed origin with no Access-Control-Request-Method', async () => {
    for (const url of ['/sync/me', '/users/missing', `/users/${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}`]) {
      const res = await ctx.t.app.inject({ method: 'OPTIONS', url, headers: { origin: FRONTEND } });
      expect(res.statusCode).toBe(400);
      expect(expectProblem(res).code).toBe('invalid_request');
    }
    // A real preflight still passes.
    const preflight = await ctx.t.app.inject({
      method: 'OPTIONS',
      url: '/sync/me',
      headers: { origin: FRONTEND, 'access-control-request-method': 'POST' },
    });
    expect(preflight.statusCode).toBe(204);
  });
});
