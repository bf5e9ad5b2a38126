/**
 * The Supabase stand-in (tests/supabase-stand-in/) driven by the real supabase-js client, unchanged:
 * the admin user routes of Auth and PostgREST's table routes, their errors, the quirks supabase-js
 * has with them, and the stand-in's own controls (calls, failNext).
 */
import { AuthApiError, AuthRetryableFetchError, createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../src/db/sql-client.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { insertAuthUser } from './helpers/users.ts';
import { startSupabaseStandIn, type SupabaseStandIn } from './supabase-stand-in/index.ts';

const SERVICE_KEY = 'sb_secret_stand-in-test-key';
const clientOptions = { auth: { persistSession: false, autoRefreshToken: false } };

interface StandInContext {
  db: TestDatabase;
  standIn: SupabaseStandIn;
  supabase: SupabaseClient;
}

/** A fresh database, a stand-in over it and a supabase-js client for it, for one describe block. */
function useStandIn(prepare?: (sql: Queryable) => Promise<void>): StandInContext {
  const ctx = {} as StandInContext;
  beforeAll(async () => {
    ctx.db = await createTestDatabase();
    await prepare?.(ctx.db.sql);
    ctx.standIn = await startSupabaseStandIn({ sql: ctx.db.sql, serviceKey: SERVICE_KEY });
    ctx.supabase = createClient(ctx.standIn.url, SERVICE_KEY, clientOptions);
  });
  afterAll(async () => {
    await ctx.standIn?.close();
    await ctx.db?.close();
  });
  return ctx;
}

/** A JWT-shaped token with the given claims and a signature nobody can verify. */
const unsignedJwt = (claims: object) =>
  [{ alg: 'HS256', typ: 'JWT' }, claims].map((part) => Buffer.from(JSON.stringify(part)).toString('base64url')).join('.') + '.c2lnbmF0dXJl';

describe('Auth admin: getUserById', () => {
  const ctx = useStandIn();

  it('returns the user as the admin API does, metadata mapped and optional fields only when set', async () => {
    const id = await insertAuthUser(ctx.db.sql, {
      user_metadata: { full_name: 'Ada Lovelace', avatar_url: 'https://example.com/ada.png' },
      app_metadata: { provider: 'email', providers: ['email'], role: 'admin' },
    });
    await ctx.db.sql.query(
      `UPDATE auth.users SET created_at = '2024-05-01T09:00:00Z', updated_at = '2024-05-01T09:30:00.5Z',
              email_confirmed_at = '2024-05-01T10:00:00.123456Z', last_sign_in_at = '2024-05-02T08:00:00Z' WHERE id = $1`,
      [id],
    );

    const { data, error } = await ctx.supabase.auth.admin.getUserById(id);

    expect(error).toBeNull();
    expect(data.user).toEqual({
      id,
      aud: 'authenticated',
      role: 'authenticated',
      email: `user-${id}@example.com`,
      email_confirmed_at: '2024-05-01T10:00:00.123456Z',
      phone: '',
      // confirmed_at is generated from email_confirmed_at by the table, as in Supabase.
      confirmed_at: '2024-05-01T10:00:00.123456Z',
      last_sign_in_at: '2024-05-02T08:00:00Z',
      app_metadata: { provider: 'email', providers: ['email'], role: 'admin' },
      user_metadata: { avatar_url: 'https://example.com/ada.png', full_name: 'Ada Lovelace' },
      identities: [],
      created_at: '2024-05-01T09:00:00Z',
      updated_at: '2024-05-01T09:30:00.5Z',
      is_anonymous: false,
    });
    expect(Object.keys(data.user!)).not.toContain('banned_until');
    expect(Object.keys(data.user!)).not.toContain('deleted_at');
  });

  it('turns a NULL email or phone into "" and still returns soft-deleted users, with deleted_at', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: null, phone: null, deleted_at: '2025-01-02T03:04:05Z', is_anonymous: true });

    const { data, error } = await ctx.supabase.auth.admin.getUserById(id);

    expect(error).toBeNull();
    expect(data.user).toMatchObject({ id, email: '', phone: '', deleted_at: '2025-01-02T03:04:05Z', is_anonymous: true });
  });

  it('loads a user\'s identities as GoTrue does: provider_id as id, the row\'s id as identity_id; none in a list', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'octo@example.com', app_metadata: { provider: 'github', providers: ['github'] } });
    const [row] = await ctx.db.sql.query<{ id: string }>(
      `INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
       VALUES ('583231', $1, '{"sub": "583231", "email": "Octo@Example.com", "user_name": "octo"}', 'github',
               '2024-05-01T09:00:00Z', '2024-05-01T09:00:00Z', '2024-05-01T09:00:00.25Z')
       RETURNING id::text AS id`,
      [id],
    );

    const { data } = await ctx.supabase.auth.admin.getUserById(id);
    expect(data.user?.identities).toEqual([
      {
        identity_id: row!.id,
        id: '583231',
        user_id: id,
        identity_data: { email: 'Octo@Example.com', sub: '583231', user_name: 'octo' },
        provider: 'github',
        last_sign_in_at: '2024-05-01T09:00:00Z',
        created_at: '2024-05-01T09:00:00Z',
        updated_at: '2024-05-01T09:00:00.25Z',
        // Generated by the table, lower-cased.
        email: 'octo@example.com',
      },
    ]);

    const { data: list } = await ctx.supabase.auth.admin.listUsers({ page: 1, perPage: 1000 });
    expect(list.users.find((user) => user.id === id)).toMatchObject({ id, identities: null });
  });

  it('answers a missing user with 404 user_not_found, which supabase-js turns into an AuthApiError', async () => {
    const { data, error } = await ctx.supabase.auth.admin.getUserById('5f0c1c2e-7d7a-4c84-9e39-1f0f6a1d2b3c');

    expect(data.user).toBeNull();
    expect(error).toBeInstanceOf(AuthApiError);
    expect(error).toMatchObject({ status: 404, code: 'user_not_found', message: 'User not found' });
  });

  it('cannot see a row whose instance_id is not the nil UUID, like GoTrue', async () => {
    const id = await insertAuthUser(ctx.db.sql);
    await ctx.db.sql.query('UPDATE auth.users SET instance_id = NULL WHERE id = $1', [id]);

    const { error } = await ctx.supabase.auth.admin.getUserById(id);

    expect(error).toMatchObject({ status: 404, code: 'user_not_found' });
  });

  it('sends the error body and headers GoTrue sends, in the shape the declared API version asks for', async () => {
    const url = `${ctx.standIn.url}/auth/v1/admin/users/not-a-uuid`;
    const auth = { apikey: SERVICE_KEY, authorization: `Bearer ${SERVICE_KEY}` };

    const current = await fetch(url, { headers: { ...auth, 'x-supabase-api-version': '2024-01-01' } });
    expect(current.status).toBe(404);
    expect(current.headers.get('x-supabase-api-version')).toBe('2024-01-01');
    expect(current.headers.get('x-sb-error-code')).toBe('validation_failed');
    expect(await current.json()).toEqual({ code: 'validation_failed', message: 'user_id must be an UUID' });

    const legacy = await fetch(url, { headers: auth });
    expect(legacy.headers.get('x-supabase-api-version')).toBeNull();
    expect(await legacy.json()).toEqual({ code: 404, error_code: 'validation_failed', msg: 'user_id must be an UUID' });
  });
});

describe('Auth admin: listUsers', () => {
  const TOTAL = 25;
  const ctx = useStandIn(async (sql) => {
    // user-01 is the newest, user-25 the oldest.
    await sql.query(
      `INSERT INTO auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
       SELECT '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
              'user-' || lpad(n::text, 2, '0') || '@example.com', '{}', '{}',
              timestamptz '2025-01-01T00:00:00Z' - n * interval '1 minute', now()
         FROM generate_series(1, $1::int) AS n`,
      [TOTAL],
    );
  });

  it('pages newest first, and supabase-js misreads nextPage and lastPage once page numbers have two digits', async () => {
    const emails: string[] = [];
    for (let page = 1; page <= 13; page += 1) {
      const { data, error } = await ctx.supabase.auth.admin.listUsers({ page, perPage: 2 });
      expect(error).toBeNull();
      if (!('total' in data)) throw new Error('no pagination in the answer');
      emails.push(...data.users.map((user) => user.email!));
      expect(data.users).toHaveLength(page < 13 ? 2 : 1);
      expect(data.total).toBe(TOTAL);
      // The Link header says page=10…13; supabase-js keeps only the first digit: 1.
      expect(data.nextPage).toBe(page === 13 ? null : Number(String(page + 1)[0]));
      expect(data.lastPage).toBe(1);
    }
    expect(emails).toEqual(Array.from({ length: TOTAL }, (_, i) => `user-${String(i + 1).padStart(2, '0')}@example.com`));
  });

  it('sends X-Total-Count and Link in GoTrue format, and {users, aud}', async () => {
    const response = await fetch(`${ctx.standIn.url}/auth/v1/admin/users?per_page=2&page=10`, {
      headers: { apikey: SERVICE_KEY, authorization: `Bearer ${SERVICE_KEY}` },
    });

    expect(response.status).toBe(200);
    expect(response.headers.get('x-total-count')).toBe('25');
    expect(response.headers.get('link')).toBe('</admin/users?page=11&per_page=2>; rel="next", </admin/users?page=13&per_page=2>; rel="last"');
    const body = (await response.json()) as { aud: string; users: Array<{ email: string }> };
    expect(body.aud).toBe('authenticated');
    expect(body.users.map((user) => user.email)).toEqual(['user-19@example.com', 'user-20@example.com']);
  });

  it('defaults to 50 a page when supabase-js sends empty page parameters', async () => {
    const { data, error } = await ctx.supabase.auth.admin.listUsers();

    expect(error).toBeNull();
    expect(data.users).toHaveLength(TOTAL);
    expect(data).toMatchObject({ nextPage: null, lastPage: 1, total: TOTAL });
  });

  it('pages users with the same created_at stably', async () => {
    await ctx.db.sql.query(`UPDATE auth.users SET created_at = timestamptz '2024-06-01T00:00:00Z'`);
    const pages = [];
    for (let page = 1; page <= 5; page += 1) pages.push((await ctx.supabase.auth.admin.listUsers({ page, perPage: 6 })).data.users.map((u) => u.id));

    expect(new Set(pages.flat()).size).toBe(TOTAL);
  });
});

describe('Auth admin: credentials', () => {
  const ctx = useStandIn();

  it('answers a bearer that is not the service key as GoTrue does: 403 bad_jwt, or not_admin for a user token', async () => {
    const badBearer = createClient(ctx.standIn.url, SERVICE_KEY, { ...clientOptions, global: { headers: { Authorization: 'Bearer a.b.c' } } });
    expect((await badBearer.auth.admin.listUsers()).error).toMatchObject({ status: 403, code: 'bad_jwt' });

    const userToken = unsignedJwt({ role: 'authenticated', sub: '5f0c1c2e-7d7a-4c84-9e39-1f0f6a1d2b3c' });
    const asUser = createClient(ctx.standIn.url, SERVICE_KEY, { ...clientOptions, global: { headers: { Authorization: `Bearer ${userToken}` } } });
    expect((await asUser.auth.admin.listUsers()).error).toMatchObject({ status: 403, code: 'not_admin', message: 'User not allowed' });
  });

  it('answers a request without a bearer with 401 no_authorization', async () => {
    const response = await fetch(`${ctx.standIn.url}/auth/v1/admin/users`, { headers: { apikey: SERVICE_KEY, 'x-supabase-api-version': '2024-01-01' } });

    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ code: 'no_authorization', message: 'This endpoint requires a valid Bearer token' });
  });
});

describe('PostgREST: reads', () => {
  const ids = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333'];
  const ctx = useStandIn(async (sql) => {
    await sql.query(
      `INSERT INTO public.users (id, email, full_name, created_at, updated_at)
       VALUES ($1, 'a@example.com', 'Ann', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z'),
              ($2, 'b@example.com', NULL, '2025-01-02T00:00:00Z', '2025-01-02T00:00:00Z'),
              ($3, 'c@example.com', 'Cy', '2025-01-03T00:00:00Z', '2025-01-03T00:00:00Z')`,
      ids,
    );
  });

  it('selects columns with in() and order, rendering rows as PostgreSQL does', async () => {
    const { data, error, status } = await ctx.supabase
      .from('users')
      .select('id, email, created_at')
      .in('id', [ids[0], ids[2]])
      .order('email', { ascending: false });

    expect(error).toBeNull();
    expect(status).toBe(200);
    expect(data).toEqual([
      { id: ids[2], email: 'c@example.com', created_at: '2025-01-03T00:00:00+00:00' },
      { id: ids[0], email: 'a@example.com', created_at: '2025-01-01T00:00:00+00:00' },
    ]);
  });

  it('filters with is.null, gt, not and or', async () => {
    const byNull = await ctx.supabase.from('users').select('email').is('full_name', null);
    expect(byNull.data).toEqual([{ email: 'b@example.com' }]);

    const later = await ctx.supabase.from('users').select('email').gt('created_at', '2025-01-01T12:00:00Z').order('created_at');
    expect(later.data).toEqual([{ email: 'b@example.com' }, { email: 'c@example.com' }]);

    const either = await ctx.supabase.from('users').select('email').or('full_name.eq.Cy,email.like.a*').not('id', 'eq', ids[2]);
    expect(either.data).toEqual([{ email: 'a@example.com' }]);
  });

  it('counts exactly with Prefer: count=exact, answering 206 for a partial page', async () => {
    const { data, count, status } = await ctx.supabase.from('users').select('id', { count: 'exact' }).order('id').range(1, 1);

    expect(status).toBe(206);
    expect(count).toBe(3);
    expect(data).toEqual([{ id: ids[1] }]);
  });

  it('gives one object for single(), and PGRST116 when not exactly one row matches', async () => {
    const one = await ctx.supabase.from('users').select('email').eq('id', ids[1]).single();
    expect(one.data).toEqual({ email: 'b@example.com' });

    const none = await ctx.supabase.from('users').select('email').eq('id', '44444444-4444-4444-8444-444444444444').single();
    expect(none.status).toBe(406);
    expect(none.error).toMatchObject({ code: 'PGRST116', details: 'The result contains 0 rows' });
  });

  it('answers an unknown table with 404 PGRST205, an unknown column with 400 42703, an unexposed schema with 406', async () => {
    const table = await ctx.supabase.from('user').select();
    expect(table.status).toBe(404);
    expect(table.error).toEqual({
      code: 'PGRST205',
      details: null,
      hint: "Perhaps you meant the table 'public.users'",
      message: "Could not find the table 'public.user' in the schema cache",
    });

    const column = await ctx.supabase.from('users').select('nope');
    expect(column.status).toBe(400);
    expect(column.error).toMatchObject({ code: '42703', message: 'column users.nope does not exist' });

    const schema = await ctx.supabase.schema('auth').from('users').select();
    expect(schema.status).toBe(406);
    expect(schema.error).toMatchObject({ code: 'PGRST106', message: 'Invalid schema: auth' });
  });

  it('serves the OpenAPI document with each column PostgreSQL type as format', async () => {
    const response = await fetch(`${ctx.standIn.url}/rest/v1/`, { headers: { apikey: SERVICE_KEY, authorization: `Bearer ${SERVICE_KEY}` } });

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/openapi+json; charset=utf-8');
    const document = (await response.json()) as OpenApiDocument;
    expect(document.swagger).toBe('2.0');
    const users = document.definitions.users!;
    expect(users.required).toEqual(['id', 'created_at', 'updated_at']);
    expect(users.properties.id).toMatchObject({ format: 'uuid', type: 'string' });
    expect(users.properties.email).toEqual({ format: 'text', type: 'string' });
    expect(users.properties.created_at).toEqual({ default: 'now()', format: 'timestamp with time zone', type: 'string' });
    expect(document.paths['/users']).toHaveProperty('post');
  });
});

describe('PostgREST: writes', () => {
  const ctx = useStandIn();
  const id = '55555555-5555-4555-8555-555555555555';

  it('upserts on a conflict column: 201 when it inserts, 200 when it only updates, rows with representation', async () => {
    const inserted = await ctx.supabase.from('users').upsert({ id, email: 'first@example.com' }, { onConflict: 'id' }).select('id, email');
    expect(inserted.error).toBeNull();
    expect(inserted.status).toBe(201);
    expect(inserted.data).toEqual([{ id, email: 'first@example.com' }]);

    const updated = await ctx.supabase.from('users').upsert([{ id, email: 'second@example.com' }], { onConflict: 'id' }).select('id, email');
    expect(updated.status).toBe(200);
    expect(updated.data).toEqual([{ id, email: 'second@example.com' }]);

    const ignored = await ctx.supabase.from('users').upsert({ id, email: 'third@example.com' }, { onConflict: 'id', ignoreDuplicates: true }).select();
    expect(ignored.status).toBe(201);
    expect(ignored.data).toEqual([]);
    expect(await emailOf(ctx, id)).toBe('second@example.com');
  });

  it('inserts without representation: 201, no body', async () => {
    const other = '66666666-6666-4666-8666-666666666666';
    const { data, error, status } = await ctx.supabase.from('users').insert({ id: other, email: 'other@example.com' });

    expect({ data, error, status }).toEqual({ data: null, error: null, status: 201 });
    expect(await emailOf(ctx, other)).toBe('other@example.com');
  });

  it('updates and deletes matching rows, returning them with representation', async () => {
    const updated = await ctx.supabase.from('users').update({ full_name: 'Grace' }).eq('id', id).select('id, full_name');
    expect(updated.status).toBe(200);
    expect(updated.data).toEqual([{ id, full_name: 'Grace' }]);

    const deleted = await ctx.supabase.from('users').delete().eq('id', id).select('id');
    expect(deleted.status).toBe(200);
    expect(deleted.data).toEqual([{ id }]);
    expect(await emailOf(ctx, id)).toBeUndefined();

    const nothing = await ctx.supabase.from('users').delete().eq('id', id);
    expect(nothing.status).toBe(204);
  });

  it('lets PostgreSQL refuse values: 22P02 and 23505 with PostgREST statuses and bodies', async () => {
    const refused = await ctx.supabase.from('users').insert({ id: 'not-a-uuid', email: 'x@example.com' });
    expect(refused.status).toBe(400);
    expect(refused.error).toEqual({ code: '22P02', details: null, hint: null, message: 'invalid input syntax for type uuid: "not-a-uuid"' });

    const again = '77777777-7777-4777-8777-777777777777';
    await ctx.supabase.from('users').insert({ id: again });
    const duplicate = await ctx.supabase.from('users').insert({ id: again });
    expect(duplicate.status).toBe(409);
    expect(duplicate.error).toMatchObject({ code: '23505', details: `Key (id)=(${again}) already exists.` });

    const unknown = await ctx.supabase.from('users').insert({ id: again, nickname: 'x' });
    expect(unknown.status).toBe(400);
    expect(unknown.error).toMatchObject({ code: 'PGRST204', message: "Could not find the 'nickname' column of 'users' in the schema cache" });
  });

  it('refuses an update or delete without filters, as Supabase (pg-safeupdate) does', async () => {
    const { status, error } = await ctx.supabase.from('users').delete();

    expect(status).toBe(400);
    expect(error).toMatchObject({ code: '21000', message: 'DELETE requires a WHERE clause' });
  });
});

describe('Gateway behaviour and controls', () => {
  const ctx = useStandIn();

  it('answers a wrong key with the gateway 401 on both APIs, before GoTrue or PostgREST', async () => {
    const wrong = createClient(ctx.standIn.url, 'sb_secret_wrong', clientOptions);

    const auth = await wrong.auth.admin.getUserById('5f0c1c2e-7d7a-4c84-9e39-1f0f6a1d2b3c');
    const rest = await wrong.from('users').select();

    expect(auth.error).toBeInstanceOf(AuthApiError);
    expect(auth.error).toMatchObject({ status: 401, message: 'Invalid API key' });
    expect(rest.status).toBe(401);
    expect(rest.error).toMatchObject({ message: 'Invalid API key' });
  });

  it('answers a bearer PostgREST cannot verify with 401 PGRST301', async () => {
    const badBearer = createClient(ctx.standIn.url, SERVICE_KEY, { ...clientOptions, global: { headers: { Authorization: 'Bearer a.b.c' } } });

    const { status, error } = await badBearer.from('users').select();

    expect(status).toBe(401);
    expect(error).toMatchObject({ code: 'PGRST301', message: 'No suitable key or wrong key type' });
  });

  it('fails the next request with failNext(1): a retryable error for auth-js, then the call after it succeeds', async () => {
    const id = await insertAuthUser(ctx.db.sql);
    const before = ctx.standIn.calls.length;

    ctx.standIn.failNext(1);
    const failed = await ctx.supabase.auth.admin.getUserById(id);
    const succeeded = await ctx.supabase.auth.admin.getUserById(id);

    expect(failed.error).toBeInstanceOf(AuthRetryableFetchError);
    expect(failed.error?.status).toBe(503);
    expect(succeeded.error).toBeNull();
    expect(succeeded.data.user?.id).toBe(id);
    expect(ctx.standIn.calls.slice(before)).toEqual([
      { method: 'GET', path: `/auth/v1/admin/users/${id}`, status: 503 },
      { method: 'GET', path: `/auth/v1/admin/users/${id}`, status: 200 },
    ]);
  });

  it('records the retry postgrest-js makes by itself after a 503 on a read', async () => {
    const before = ctx.standIn.calls.length;

    ctx.standIn.failNext(1);
    const { error, status } = await ctx.supabase.from('users').select('id');

    expect(error).toBeNull();
    expect(status).toBe(200);
    expect(ctx.standIn.calls.slice(before).map((call) => call.status)).toEqual([503, 200]);
  });

  it('counts every request, unknown routes included', async () => {
    const before = ctx.standIn.calls.length;

    await fetch(`${ctx.standIn.url}/nowhere?x=1`);
    await ctx.supabase.from('users').select();

    expect(ctx.standIn.calls.slice(before)).toEqual([
      { method: 'GET', path: '/nowhere', status: 404 },
      { method: 'GET', path: '/rest/v1/users', status: 200 },
    ]);
  });
});

interface OpenApiDocument {
  swagger: string;
  paths: Record<string, Record<string, unknown>>;
  definitions: Record<string, { required: string[]; properties: Record<string, Record<string, unknown>> }>;
}

async function emailOf(ctx: StandInContext, id: string): Promise<string | null | undefined> {
  const [row] = await ctx.db.sql.query<{ email: string | null }>('SELECT email FROM public.users WHERE id = $1', [id]);
  return row?.email;
}
