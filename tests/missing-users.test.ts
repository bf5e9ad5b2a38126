/** GET /users/missing: keyset pages over many users, each user exactly once. */
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config/config.ts';
import type { SqlClient } from '../src/db/sql-client.ts';
import { ADMIN_TOKEN, auth, useTestApp } from './helpers/app.ts';
import { insertAuthUser } from './helpers/users.ts';

const TOTAL_USERS = 3_000;
const WITH_PROFILE = 500;

describe('GET /users/missing', () => {
  const ctx = useTestApp({
    prepare: async (db) => {
      // 3,000 auth users, the first 500 (by a random order) with profiles: 2,500 missing.
      await db.sql.query(
        `INSERT INTO auth.users (id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
         SELECT gen_random_uuid(), 'authenticated', 'authenticated', 'bulk-' || n || '@example.com', '{}', '{}',
                now() - (n || ' minutes')::interval, now()
           FROM generate_series(1, $1::int) AS n`,
        [TOTAL_USERS],
      );
      await db.sql.query(
        `INSERT INTO public.users (id, email) SELECT id, email FROM auth.users ORDER BY md5(id::text) LIMIT $1`,
        [WITH_PROFILE],
      );
    },
  });

  it('pages 2,500 missing users at 1,000 a page, every user exactly once', async () => {
    const expected = await ctx.db.sql.query<{ id: string }>(
      `SELECT u.id::text AS id FROM auth.users u WHERE NOT EXISTS (SELECT 1 FROM public.users p WHERE p.id = u.id)`,
    );
    expect(expected).toHaveLength(TOTAL_USERS - WITH_PROFILE);

    const seen: string[] = [];
    const pageSizes: number[] = [];
    let cursor: string | null = null;
    do {
      const query: Record<string, string | number> = { limit: 1000, ...(cursor ? { cursor } : {}) };
      const res = await request(ctx.url).get('/users/missing').query(query).set(auth).expect(200);
      pageSizes.push(res.body.users.length);
      for (const user of res.body.users) {
        expect(user).toEqual({ id: expect.any(String), email: expect.stringMatching(/^bulk-\d+@example\.com$/), createdAt: expect.any(String) });
        seen.push(user.id);
      }
      cursor = res.body.nextCursor;
    } while (cursor !== null);

    expect(pageSizes).toEqual([1000, 1000, 500]);
    expect(new Set(seen).size).toBe(seen.length);
    expect(new Set(seen)).toEqual(new Set(expected.map((row) => row.id)));
  });

  it('costs one SQL statement a page, whatever the page size', async () => {
    // The same app, handed a database handle that counts the statements it is asked to run.
    const statements: string[] = [];
    const counting: SqlClient = {
      ...ctx.db.sql,
      query: <Row,>(text: string, params?: readonly unknown[]) => {
        statements.push(text);
        return ctx.db.sql.query<Row>(text, params);
      },
    };
    const app = await buildApp(
      loadConfig({
        SERVICE_TOKENS: `admin:${ADMIN_TOKEN}`,
        LOG_LEVEL: 'silent',
        RECONCILE_INTERVAL_SECONDS: '0',
        DEFERRED_SYNC_INTERVAL_SECONDS: '0',
        CAPTURE: 'off',
      }),
      { sql: counting },
    );
    try {
      let cursor: string | null = null;
      let pages = 0;
      statements.length = 0;
      do {
        const query: Record<string, string> = cursor === null ? { limit: '1000' } : { limit: '1000', cursor };
        const res = await app.inject({ method: 'GET', url: '/users/missing', query, headers: auth });
        const page: { nextCursor: string | null } = res.json();
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null);
      expect(pages).toBe(3);
      // Only statements that read users count: the app also looks for queued reconcile jobs.
      expect(statements.filter((text) => text.includes('auth.users'))).toHaveLength(pages);
    } finally {
      await app.close();
    }
  });

  it('defaults to 100 a page and says when the last page is reached', async () => {
    const res = await request(ctx.url).get('/users/missing').set(auth).expect(200);
    expect(res.body.users).toHaveLength(100);
    expect(res.body.nextCursor).toEqual(expect.any(String));
  });

  it('leaves out soft-deleted users and includes users as soon as they exist', async () => {
    const live = await insertAuthUser(ctx.db.sql, { id: 'ffffffff-ffff-4fff-bfff-fffffffffff0' });
    await insertAuthUser(ctx.db.sql, { id: 'ffffffff-ffff-4fff-bfff-fffffffffff1', deleted_at: new Date().toISOString() });
    const last = await ctx.db.sql.query<{ id: string }>(
      `SELECT u.id::text AS id FROM auth.users u WHERE u.deleted_at IS NULL
         AND NOT EXISTS (SELECT 1 FROM public.users p WHERE p.id = u.id) ORDER BY u.id DESC LIMIT 3`,
    );
    const cursor = Buffer.from(`v1:${last[2]!.id}`).toString('base64url');
    const res = await request(ctx.url).get('/users/missing').query({ cursor, limit: 10 }).set(auth).expect(200);
    expect(res.body.users.map((user: { id: string }) => user.id)).toEqual([last[1]!.id, live]);
    expect(res.body.nextCursor).toBeNull();
  });

  it.each([
    [{ limit: 0 }, 'invalid_request'],
    [{ limit: 1001 }, 'invalid_request'],
    [{ limit: 'ten' }, 'invalid_request'],
    [{ limit: 1.5 }, 'invalid_request'],
    [{ cursor: 'bm90LWEtY3Vyc29y' }, 'invalid_cursor'],
    [{ cursor: "'; DROP TABLE auth.users; --" }, 'invalid_cursor'],
  ])('refuses %o with 400 %s', async (query, code) => {
    const res = await request(ctx.url).get('/users/missing').query(query).set(auth).expect(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 400, code, type: `urn:supabase-user-sync:problem:${code}` });
  });
});
