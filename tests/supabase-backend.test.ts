/**
 * What only the Supabase API back end has to get right: the number of HTTP calls a listing costs,
 * paging past supabase-js's misread `nextPage`, users created during a scan, a refused key, and
 * transient 5xx answers. Through the real supabase-js client against the local stand-in.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { ConfigError, loadConfig } from '../src/config/config.ts';
import { auth, startApp, type TestApp } from './helpers/app.ts';
import { SERVICE_ROLE_KEY } from './helpers/backends.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { insertAuthUser, profileOf } from './helpers/users.ts';
import { startSupabaseStandIn, type SupabaseStandIn } from './supabase-stand-in/index.ts';

const TOTAL = 10_500;
const MISSING = 1_234;

async function seedUsers(db: TestDatabase): Promise<void> {
  await db.sql.query(
    `INSERT INTO auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
     SELECT '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated', 'paged-' || n || '@example.com', '{}', '{}',
            now() - n * interval '1 second', now()
       FROM generate_series(1, $1::int) AS n`,
    [TOTAL],
  );
  await db.sql.query(`INSERT INTO public.users (id, email) SELECT id, email FROM auth.users ORDER BY md5(id::text) LIMIT $1`, [
    TOTAL - MISSING,
  ]);
}

const supabaseEnv = (standIn: SupabaseStandIn, env: Record<string, string> = {}) => ({
  SUPABASE_URL: standIn.url,
  SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY,
  ...env,
});

async function listAllMissing(url: string): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const query: Record<string, string | number> = cursor === null ? { limit: 1000 } : { limit: 1000, cursor };
    const res = await request(url).get('/users/missing').query(query).set(auth).expect(200);
    seen.push(...res.body.users.map((user: { id: string }) => user.id));
    cursor = res.body.nextCursor;
  } while (cursor !== null);
  return seen;
}

describe('the cost of listing missing users over the Supabase APIs', () => {
  let db: TestDatabase;
  let standIn: SupabaseStandIn;

  beforeAll(async () => {
    db = await createTestDatabase();
    await seedUsers(db);
    standIn = await startSupabaseStandIn({ sql: db.sql, serviceKey: SERVICE_ROLE_KEY });
  });
  afterAll(async () => {
    await standIn?.close();
    await db?.close();
  });

  const pages = Math.ceil(TOTAL / 1000);
  const requests = Math.ceil(MISSING / 1000);

  it.each([
    // One profile lookup per page of 1,000 users: the bound of 2·⌈N/1000⌉ + 1 calls, plus one
    // page read again where a response of 1,000 users ends inside a page.
    [1000, 2 * pages + 1 + (requests - 1)],
    // The default, five lookups of 200 ids a page, for gateways that refuse long URLs.
    [200, (pages + requests - 1) * (1 + 1000 / 200)],
  ])('with %i ids per lookup, finds every missing user once in at most %i calls', async (chunk, bound) => {
    const t: TestApp = await startApp(null, supabaseEnv(standIn, { SUPABASE_ID_CHUNK_SIZE: String(chunk) }));
    try {
      const before = standIn.calls.length;
      const seen = await listAllMissing(t.url);
      const calls = standIn.calls.slice(before);
      expect(new Set(seen).size).toBe(MISSING);
      expect(seen).toHaveLength(MISSING);
      expect(calls.length).toBeLessThanOrEqual(bound);
      // Never one call per user: every call here is a page of users or a chunk of profile ids.
      expect(calls.filter((call) => call.path === '/auth/v1/admin/users').length).toBeLessThanOrEqual(pages + requests - 1);
      expect(calls.every((call) => call.path === '/auth/v1/admin/users' || call.path === '/rest/v1/users')).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('behind a gateway that refuses long URLs (414), lookups shrink until they pass, and the listing is whole', async () => {
    const strict = await startSupabaseStandIn({ sql: db.sql, serviceKey: SERVICE_ROLE_KEY, maxUrlLength: 8192 });
    const t = await startApp(null, supabaseEnv(strict, { SUPABASE_ID_CHUNK_SIZE: '1000' }));
    try {
      const seen = await listAllMissing(t.url);
      expect(new Set(seen).size).toBe(MISSING);
      expect(seen).toHaveLength(MISSING);
      const refused = strict.calls.filter((call) => call.status === 414);
      // 1000 → 500 → 250 → 125 ids: three refusals, once; every later lookup fits.
      expect(refused).toHaveLength(3);
      expect(t.logs()).toContain('looking profiles up in smaller chunks');
    } finally {
      await t.close();
      await strict.close();
    }
  });

  it('a user created during a scan makes it skip no one who existed when it began', async () => {
    const t = await startApp(null, supabaseEnv(standIn));
    try {
      const expected = await db.sql.query<{ id: string }>(
        'SELECT u.id::text AS id FROM auth.users u WHERE NOT EXISTS (SELECT 1 FROM public.users p WHERE p.id = u.id)',
      );
      const first = await request(t.url).get('/users/missing').query({ limit: 600 }).set(auth).expect(200);
      // New users are the newest, so they land on page 1 and push everyone else one place on.
      for (let i = 0; i < 30; i++) await insertAuthUser(db.sql, { email: `during-scan-${i}@example.com` });
      const seen = new Set<string>(first.body.users.map((user: { id: string }) => user.id));
      let cursor: string | null = first.body.nextCursor;
      while (cursor !== null) {
        const res = await request(t.url).get('/users/missing').query({ limit: 600, cursor }).set(auth).expect(200);
        for (const user of res.body.users) seen.add(user.id);
        cursor = res.body.nextCursor;
      }
      for (const { id } of expected) expect(seen.has(id)).toBe(true);
    } finally {
      await t.close();
    }
  });
});

describe('Supabase answers that are not a success', () => {
  let db: TestDatabase;
  let standIn: SupabaseStandIn;
  let t: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    standIn = await startSupabaseStandIn({ sql: db.sql, serviceKey: SERVICE_ROLE_KEY });
    t = await startApp(null, supabaseEnv(standIn));
  });
  afterAll(async () => {
    await t?.close();
    await standIn?.close();
    await db?.close();
  });

  it.each(['SUPABASE_SERVICE_ROLE_KEY', 'SUPABASE_SECRET_KEY'])('a wrong %s stops start-up, naming it', async (variable) => {
    const config = loadConfig({
      SUPABASE_URL: standIn.url,
      [variable]: 'sb_secret_this-key-is-wrong-0123456789',
      SERVICE_TOKENS: `admin:${'a'.repeat(40)}`,
      LOG_LEVEL: 'silent',
    });
    const starting = buildApp(config);
    await expect(starting).rejects.toBeInstanceOf(ConfigError);
    await expect(starting).rejects.toThrow(new RegExp(`${variable}: Supabase answered 401`));
  });

  it('a transient 503 is retried and the sync succeeds', async () => {
    const id = await insertAuthUser(db.sql, { email: 'retried@example.com' });
    standIn.failNext(2, 503);
    const before = standIn.calls.length;
    const res = await request(t.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(res.body.action).toBe('created');
    expect(standIn.calls.slice(before).filter((call) => call.status === 503)).toHaveLength(2);
    expect(await profileOf(db.sql, id)).toMatchObject({ email: 'retried@example.com' });
  });

  it('an outage that outlasts the retries is a 503 with a clear code, and nothing is written', async () => {
    const id = await insertAuthUser(db.sql);
    standIn.failNext(50, 503);
    const res = await request(t.url).post(`/sync/${id}`).set(auth).expect(503);
    expect(res.body.code).toBe('supabase_unavailable');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    standIn.failNext(0);
    expect(await profileOf(db.sql, id)).toBeNull();
  });

  it('a key refused at run time is a 503 supabase_unauthorized, never a 500 or an empty list', async () => {
    standIn.failNext(1, 401);
    const res = await request(t.url).get('/users/missing').set(auth).expect(503);
    expect(res.body.code).toBe('supabase_unauthorized');
    expect((await request(t.url).get('/users/missing').set(auth)).status).toBe(200);
  });

  it('an email that is "" in the admin API is null in the profile', async () => {
    const id = await insertAuthUser(db.sql, { email: null, phone: '+15550100' });
    const res = await request(t.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(res.body.profile).toMatchObject({ email: null, phone: '+15550100' });
  });
});
