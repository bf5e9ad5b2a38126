/**
 * Errors at the edge: every one is problem+json with a stable code and its true status; bad
 * credentials are 401; a bad id is 400 before any database call; a database outage is 503 with
 * Retry-After, and the service recovers when the database is back.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, auth, READER_TOKEN, useTestApp } from './helpers/app.ts';
import { onPostgres } from './helpers/database.ts';
import { useAppWithOutage } from './helpers/outage.ts';
import { insertAuthUser, profileOf } from './helpers/users.ts';

const expectProblem = (res: request.Response, status: number, code: string) => {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({
    type: `urn:supabase-user-sync:problem:${code}`,
    title: expect.any(String),
    status,
    detail: expect.any(String),
    code,
  });
};

describe('credentials and input', () => {
  const ctx = useTestApp();

  it.each([
    ['no Authorization header', {}],
    ['an empty header', { Authorization: '' }],
    ['another scheme', { Authorization: `Basic ${ADMIN_TOKEN}` }],
    ['a wrong token', { Authorization: 'Bearer this-is-not-a-configured-token-at-all-000' }],
    ['a token with one character changed', { Authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}X` }],
    ['a prefix of the token', { Authorization: `Bearer ${ADMIN_TOKEN.slice(0, 20)}` }],
  ])('401 unauthorized for %s, with WWW-Authenticate', async (_case, headers) => {
    for (const [method, path] of [
      ['post', `/sync/${randomUUID()}`],
      ['get', '/users/missing'],
      ['get', `/users/${randomUUID()}`],
    ] as const) {
      const res = await request(ctx.url)[method](path).set(headers);
      expectProblem(res, 401, 'unauthorized');
      expect(res.headers['www-authenticate']).toBe('Bearer');
    }
  });

  it('403 forbidden for a token outside its scope, naming the scope it lacks', async () => {
    const reader = { Authorization: `Bearer ${READER_TOKEN}` };
    await request(ctx.url).get('/users/missing').set(reader).expect(200);
    const res = await request(ctx.url).post(`/sync/${randomUUID()}`).set(reader);
    expectProblem(res, 403, 'forbidden');
    expect(res.body.requiredScope).toBe('sync');
  });

  it('400 invalid_user_id for a non-UUID id, on each route that takes one', async () => {
    for (const id of ['abc', '123', "1' OR '1'='1", '3f1c0e5e-8d3a-4b7e-9a51-2c9d7e4b6a1', '..%2F..%2Fetc%2Fpasswd']) {
      expectProblem(await request(ctx.url).post(`/sync/${id}`).set(auth), 400, 'invalid_user_id');
      expectProblem(await request(ctx.url).get(`/users/${id}`).set(auth), 400, 'invalid_user_id');
    }
  });

  it('400 invalid_request for a bad dryRun value', async () => {
    const res = await request(ctx.url).post(`/sync/${randomUUID()}?dryRun=maybe`).set(auth);
    expectProblem(res, 400, 'invalid_request');
    expect(res.body.detail).toMatch(/dryRun/);
  });

  it('takes an empty JSON body as no body, and refuses a broken one or another media type', async () => {
    const id = await insertAuthUser(ctx.db.sql);
    const empty = await request(ctx.url).post(`/sync/${id}`).set(auth).set('Content-Type', 'application/json').send('');
    expect(empty.status).toBe(200);
    expect(empty.body.action).toBe('created');

    const broken = await request(ctx.url).post(`/sync/${id}`).set(auth).set('Content-Type', 'application/json').send('{"a":');
    expectProblem(broken, 400, 'invalid_request');
    const poisoned = await request(ctx.url)
      .post(`/sync/${id}`)
      .set(auth)
      .set('Content-Type', 'application/json')
      .send('{"__proto__":{"admin":true}}');
    expectProblem(poisoned, 400, 'invalid_request');
    const xml = await request(ctx.url).post(`/sync/${id}`).set(auth).set('Content-Type', 'application/xml').send('<a/>');
    expectProblem(xml, 415, 'unsupported_media_type');
  });

  it('413 body_too_large for a body over the limit', async () => {
    const res = await request(ctx.url)
      .post(`/sync/${randomUUID()}`)
      .set(auth)
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ pad: 'x'.repeat(1024 * 1024 + 1) }));
    expectProblem(res, 413, 'body_too_large');
  });

  it('404 route_not_found for an unknown route, also problem+json', async () => {
    expectProblem(await request(ctx.url).get('/nope').set(auth), 404, 'route_not_found');
  });

  it('every response carries a request id, and a safe caller-given one is kept', async () => {
    const mine = await request(ctx.url).get('/health').set('x-request-id', 'trace-abc.123');
    expect(mine.headers['x-request-id']).toBe('trace-abc.123');
    const unsafe = await request(ctx.url).get('/health').set('x-request-id', 'evil\tline');
    expect(unsafe.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const problem = await request(ctx.url).get('/users/missing');
    expect(problem.body.requestId).toBe(problem.headers['x-request-id']);
  });
});

describe('profile rows the database refuses', () => {
  const ctx = useTestApp({ db: {
      profileSql: `
        CREATE TABLE public.users (
          id           uuid PRIMARY KEY,
          email        text UNIQUE,
          display_name text NOT NULL,
          handle       varchar(12) CONSTRAINT handle_is_lowercase CHECK (handle = lower(handle))
        );`,
    }, env: {
      FIELD_MAP: JSON.stringify({
        email: 'email',
        display_name: ['user_metadata.full_name', 'user_metadata.name'],
        handle: 'user_metadata.handle',
      }),
    } });

  it('422 profile_rejected for a NOT NULL the mapped data breaks, naming the column', async () => {
    const id = await insertAuthUser(ctx.db.sql, { user_metadata: {} });
    const res = await request(ctx.url).post(`/sync/${id}`).set(auth);
    expectProblem(res, 422, 'profile_rejected');
    expect(res.body.column).toBe('display_name');
    expect(await profileOf(ctx.db.sql, id)).toBeNull();
  });

  it('422 profile_rejected for a CHECK, naming the constraint', async () => {
    const id = await insertAuthUser(ctx.db.sql, { user_metadata: { name: 'Shouty', handle: 'LOUD' } });
    const res = await request(ctx.url).post(`/sync/${id}`).set(auth);
    expectProblem(res, 422, 'profile_rejected');
    expect(res.body.constraint).toBe('handle_is_lowercase');
    expect(res.body.detail).toContain('handle_is_lowercase');
  });

  it('422 for a value too long for its column: refused, never truncated', async () => {
    const id = await insertAuthUser(ctx.db.sql, { user_metadata: { name: 'Long', handle: 'much-too-long-a-handle' } });
    expectProblem(await request(ctx.url).post(`/sync/${id}`).set(auth), 422, 'profile_rejected');
    expect(await profileOf(ctx.db.sql, id)).toBeNull();
  });

  it('409 profile_conflict for a unique constraint, naming it', async () => {
    await ctx.db.sql.query(`INSERT INTO public.users (id, email, display_name) VALUES ($1, 'taken@example.com', 'First')`, [
      randomUUID(),
    ]);
    const id = await insertAuthUser(ctx.db.sql, { email: 'taken@example.com', user_metadata: { name: 'Second' } });
    const res = await request(ctx.url).post(`/sync/${id}`).set(auth);
    expectProblem(res, 409, 'profile_conflict');
    expect(res.body.constraint).toBe('users_email_key');
    // What to change, and nothing of the database's own words: not its message (which quotes the
    // other user's e-mail), not its SQLSTATE. Those are in the log, under the request id.
    expect(res.body.detail).toMatch(/Another profile already holds this value \(the constraint "users_email_key"/);
    expect(JSON.stringify(res.body)).not.toMatch(/duplicate key|taken@example\.com|23505/);
    expect(res.body.sqlstate).toBeUndefined();
    const logged = ctx.t
      .logs()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { reqId?: string; database?: { message?: string; sqlstate?: string } })
      .find((line) => line.reqId === res.body.requestId && line.database !== undefined);
    expect(logged?.database).toMatchObject({ sqlstate: '23505', message: expect.stringContaining('duplicate key value violates unique constraint') });
  });

  it('a dry run reports the same refusal without writing', async () => {
    const id = await insertAuthUser(ctx.db.sql, { user_metadata: { name: 'Dry', handle: 'UPPER' } });
    expectProblem(await request(ctx.url).post(`/sync/${id}?dryRun=true`).set(auth), 422, 'profile_rejected');
  });
});

describe('the database going away', () => {
  const ctx = useAppWithOutage();

  it('503 database_unavailable with Retry-After while down; 400 still comes before any database call', async () => {
    const id = await insertAuthUser(ctx.db.sql);
    // A connection checked out when the database goes (here, one holding a lock) must fail what
    // it was doing, not crash the process with an unheard 'error' event. The lock is held until
    // the database is gone, then let go: its release is the first thing to meet the dead connection.
    let entered!: () => void;
    const holding = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const held = ctx.t.app.sync.state.exclusively('outage-test', async () => {
      entered();
      await released;
    });
    await Promise.race([
      holding,
      held.then((run) => {
        throw new Error(`the lock was never held: ${JSON.stringify(run)}`);
      }),
    ]);
    await ctx.down();
    release();
    await held.catch(() => undefined);

    const sync = await request(ctx.t.url).post(`/sync/${id}`).set(auth);
    expectProblem(sync, 503, 'database_unavailable');
    expect(Number(sync.headers['retry-after'])).toBeGreaterThan(0);

    const ready = await request(ctx.t.url).get('/ready');
    expectProblem(ready, 503, 'database_unavailable');
    await request(ctx.t.url).get('/health').expect(200);

    expectProblem(await request(ctx.t.url).post('/sync/not-a-uuid').set(auth), 400, 'invalid_user_id');
    expectProblem(await request(ctx.t.url).get('/users/missing').set(auth), 503, 'database_unavailable');
  });

  it.skipIf(!onPostgres)('recovers once the database is back, with no restart (PostgreSQL only: a closed PGlite cannot come back)', async () => {
    const id = await insertAuthUser(ctx.db.sql);
    await ctx.down();
    // A sync while it is away fails (the test above checks how), and writes nothing.
    expectProblem(await request(ctx.t.url).post(`/sync/${id}`).set(auth), 503, 'database_unavailable');

    expect(await ctx.up()).toBe(true);
    // The server comes back: the same requests now succeed, no restart needed.
    await request(ctx.t.url).get('/ready').expect(200);
    const retried = await request(ctx.t.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(retried.body.action).toBe('created');
  });
});
