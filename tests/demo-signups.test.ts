/**
 * POST /demo/signups, embedded mode's way to watch capture work without a SQL client: it writes a
 * user into auth.users as Supabase Auth writes an email sign-up, and the profile appears through
 * the capture triggers and the drain alone. Absent (404) in postgres and Supabase API modes.
 *
 * Embedded mode is PGlite whatever TEST_DATABASE says, so the embedded tests run on PGlite in
 * both runs; the postgres-mode test uses the real server with TEST_DATABASE=postgres.
 */
import request, { type Response } from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteClient } from '../src/db/pglite-client.ts';
import { authSchemaSql, demoProfileTableSql, supabaseRolesSql } from '../src/embedded/supabase-schema.ts';
import { auth, READER_TOKEN, startApp, type TestApp } from './helpers/app.ts';
import { SERVICE_ROLE_KEY } from './helpers/backends.ts';
import { createTestDatabase, onPostgres, type TestDatabase } from './helpers/database.ts';
import { expectProblem } from './helpers/problem-response.ts';
import { auditRows, count, profileOf } from './helpers/users.ts';
import { waitFor } from './helpers/wait-for.ts';
import { startSupabaseStandIn } from './supabase-stand-in/index.ts';

/** A PGlite database laid out as embedded mode lays out its own (without the demo users). */
async function embeddedDatabase(): Promise<TestDatabase> {
  const sql = await createPgliteClient('memory://');
  await sql.exec(supabaseRolesSql);
  await sql.exec(authSchemaSql);
  await sql.exec(demoProfileTableSql);
  return { sql, url: undefined, close: () => sql.close() };
}

/**
 * With the poll a minute away, only the capture path syncs a sign-up: the triggers record it and
 * their notification wakes the drain. Nothing in these tests asks for a sync.
 */
const CAPTURE_ON = { CAPTURE: 'on', CAPTURE_POLL_MS: '60000' };

/** The problem a supertest response carries, checked as every error response of the service must be. */
const problemOf = (res: Response) => expectProblem({ statusCode: res.status, headers: res.headers, body: res.text }, 'POST');

const postSignUp = (url: string, body: unknown, headers: Record<string, string> = auth) =>
  request(url).post('/demo/signups').set(headers).set('content-type', 'application/json').send(JSON.stringify(body));

describe('POST /demo/signups, in embedded mode with capture on', () => {
  let db: TestDatabase;
  let t: TestApp;

  beforeAll(async () => {
    db = await embeddedDatabase();
    // Every write to auth.users, with who made it and in which transaction, to compare with Supabase Auth's.
    await db.sql.exec(`
      CREATE TABLE public.auth_writes (n bigint GENERATED ALWAYS AS IDENTITY, user_id uuid, op text, role text, writer text,
                                       search_path text, app_metadata jsonb, tx bigint);
      GRANT INSERT ON public.auth_writes TO PUBLIC;
      CREATE FUNCTION public.record_auth_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO public.auth_writes (user_id, op, role, writer, search_path, app_metadata, tx)
        VALUES (NEW.id, TG_OP, NEW.role, current_user, current_setting('search_path'), NEW.raw_app_meta_data, txid_current());
        RETURN NULL;
      END $$;
      CREATE TRIGGER record_auth_write AFTER INSERT OR UPDATE ON auth.users FOR EACH ROW EXECUTE FUNCTION public.record_auth_write();
    `);
    t = await startApp(db, CAPTURE_ON);
  });
  afterAll(async () => {
    await t?.close();
    await db?.close();
  });

  it('runs with capture on, and /ready says so', async () => {
    expect(t.app.sync.mode).toBe('embedded');
    expect(t.app.sync.capture).toEqual({ state: 'on', installed: 'now' });
    expect((await request(t.url).get('/ready').expect(200)).body).toEqual({ status: 'ready', backend: 'embedded', capture: 'on' });
  });

  it('answers 201 {userId}; the profile appears through capture alone, its audit row saying so', async () => {
    const res = await postSignUp(t.url, { email: 'Ada.Lovelace@Example.com', fullName: 'Ada Lovelace' }).expect(201);
    expect(Object.keys(res.body as object)).toEqual(['userId']);
    const { userId } = res.body as { userId: string };

    const profile = await waitFor(() => profileOf(db.sql, userId), { timeoutMs: 5_000, what: 'capture to make the profile' });
    // Auth lower-cases the address, as the route does.
    expect(profile).toMatchObject({ id: userId, email: 'ada.lovelace@example.com', full_name: 'Ada Lovelace' });
    expect((await auditRows(db.sql, userId)).map((row) => [row.action, row.source, row.actor])).toEqual([['created', 'capture', 'capture']]);
    expect((await request(t.url).get(`/users/${userId}`).set(auth).expect(200)).body).toMatchObject({ userId, state: 'in_sync' });
  });

  it('writes auth.users as Supabase Auth does: one transaction as supabase_auth_admin, an INSERT with role "" and then UPDATEs', async () => {
    const { userId } = (await postSignUp(t.url, { email: 'grace@example.com' }).expect(201)).body as { userId: string };
    const writes = await db.sql.query<{ op: string; role: string; writer: string; search_path: string; app_metadata: unknown; tx: string }>(
      'SELECT op, role, writer, search_path, app_metadata, tx::text AS tx FROM public.auth_writes WHERE user_id = $1 ORDER BY n',
      [userId],
    );
    expect(writes[0]).toMatchObject({ op: 'INSERT', role: '', writer: 'supabase_auth_admin', search_path: 'auth', app_metadata: {} });
    expect(writes.length).toBeGreaterThan(2);
    expect(writes.slice(1).every((write) => write.op === 'UPDATE' && write.writer === 'supabase_auth_admin')).toBe(true);
    expect(new Set(writes.map((write) => write.tx)).size).toBe(1);
    expect(writes.at(-1)).toMatchObject({ role: 'authenticated', app_metadata: { provider: 'email', providers: ['email'] } });

    const [user] = await db.sql.query<Record<string, unknown>>(
      `SELECT role, aud, instance_id::text, email, raw_user_meta_data, confirmation_token, confirmation_sent_at, email_confirmed_at
         FROM auth.users WHERE id = $1`,
      [userId],
    );
    expect(user).toMatchObject({
      role: 'authenticated',
      aud: 'authenticated',
      instance_id: '00000000-0000-0000-0000-000000000000',
      email: 'grace@example.com',
      raw_user_meta_data: { sub: userId, email: 'grace@example.com', email_verified: false, phone_verified: false },
      confirmation_token: expect.stringMatching(/^[0-9a-f]{56}$/),
      email_confirmed_at: null,
    });
    expect(user!.confirmation_sent_at).not.toBeNull();
    const [identities] = await db.sql.query<{ present: boolean }>(`SELECT to_regclass('auth.identities') IS NOT NULL AS present`);
    if (identities!.present) {
      expect(await count(db.sql, `SELECT 1 FROM auth.identities WHERE user_id = $1 AND provider = 'email' AND provider_id = $1::text`, [userId])).toBe(1);
    }
    await waitFor(() => profileOf(db.sql, userId), { timeoutMs: 5_000, what: 'capture to make the profile' });
  });

  it('a taken email address (in any case) is 409 email_taken, and writes nothing', async () => {
    await postSignUp(t.url, { email: 'twice@example.com' }).expect(201);
    const res = await postSignUp(t.url, { email: 'TWICE@example.com', fullName: 'Again' });
    expect(res.status).toBe(409);
    expect(problemOf(res)).toMatchObject({ code: 'email_taken' });
    expect(await count(db.sql, `SELECT 1 FROM auth.users WHERE email = 'twice@example.com'`)).toBe(1);
  });

  it('a body that is not valid is 400 invalid_request, naming the field', async () => {
    const long = `${'a'.repeat(250)}@example.com`;
    const cases: [unknown, string][] = [
      [{}, 'email'],
      [{ email: 'not an address' }, 'email'],
      [{ email: long }, 'email'],
      [{ email: 'a@example.com', fullName: '' }, 'fullName'],
      [{ email: 'a@example.com', role: 'admin' }, ''],
    ];
    for (const [body, field] of cases) {
      const res = await postSignUp(t.url, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(problemOf(res)).toMatchObject({ code: 'invalid_request', issues: [expect.objectContaining({ in: 'body', field })] });
    }
    expect(await count(db.sql, 'SELECT 1 FROM auth.users WHERE email = ANY($1)', [['a@example.com', long]])).toBe(0);
  });

  it('needs a service token with the admin scope', async () => {
    expect(problemOf(await postSignUp(t.url, { email: 'nobody@example.com' }, {}))).toMatchObject({ code: 'unauthorized' });
    const forbidden = await postSignUp(t.url, { email: 'nobody@example.com' }, { Authorization: `Bearer ${READER_TOKEN}` });
    expect(problemOf(forbidden)).toMatchObject({ code: 'forbidden', requiredScope: 'admin' });
  });

  it('is listed in Swagger UI under the demo tag, marked embedded-only', async () => {
    const document = (await request(t.url).get('/docs/json').expect(200)).body as { paths: Record<string, Record<string, { tags: string[]; description: string }>> };
    const operation = document.paths['/demo/signups']!.post!;
    expect(operation.tags).toEqual(['demo']);
    expect(operation.description).toMatch(/^\*\*Embedded mode only\*\*/);
  });
});

describe('POST /demo/signups, in an embedded app that opens its own database', () => {
  it('works on the layout embedded mode makes (auth owned by the superuser): GET /users/{id} turns in_sync by itself', async () => {
    const t = await startApp(null, { EMBEDDED_DATA_DIR: 'memory://', EMBEDDED_SEED: 'false', ...CAPTURE_ON });
    try {
      expect(t.app.sync.description).toBe('embedded (memory://)');
      const { userId } = (await postSignUp(t.url, { email: 'hopper@example.com', fullName: 'Grace Hopper' }).expect(201)).body as { userId: string };
      await waitFor(
        async () => ((await request(t.url).get(`/users/${userId}`).set(auth).expect(200)).body as { state: string }).state === 'in_sync',
        { timeoutMs: 5_000, what: 'the demo user to be in sync' },
      );
    } finally {
      await t.close();
    }
  });
});

describe('POST /demo/signups, outside embedded mode', () => {
  const expectAbsent = async (t: TestApp) => {
    const res = await postSignUp(t.url, { email: 'absent@example.com' });
    expect(res.status).toBe(404);
    expect(problemOf(res)).toMatchObject({ code: 'route_not_found' });
    const document = (await request(t.url).get('/openapi.json').expect(200)).body as { paths: Record<string, unknown> };
    expect(document.paths).not.toHaveProperty(['/demo/signups']);
  };

  it(`is 404 in postgres mode (${onPostgres ? 'the real server' : 'on PGlite: DATABASE_URL set, the test database handed to the app'})`, async () => {
    const db = await createTestDatabase();
    // On PGlite the app is handed the test database; DATABASE_URL only makes the mode postgres.
    const t = await startApp(db, { ...CAPTURE_ON, ...(onPostgres ? {} : { DATABASE_URL: 'postgres://unused@127.0.0.1:1/unused' }) });
    try {
      expect(t.app.sync.mode).toBe('postgres');
      await expectAbsent(t);
      expect(await count(db.sql, 'SELECT 1 FROM auth.users')).toBe(0);
    } finally {
      await t.close();
      await db.close();
    }
  });

  it('is 404 in Supabase API mode', async () => {
    const db = await createTestDatabase();
    const standIn = await startSupabaseStandIn({ sql: db.sql, serviceKey: SERVICE_ROLE_KEY });
    const t = await startApp(null, { SUPABASE_URL: standIn.url, SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY });
    try {
      expect(t.app.sync.mode).toBe('supabase');
      expect((await request(t.url).get('/ready').expect(200)).body).toMatchObject({ backend: 'supabase', capture: 'unavailable' });
      await expectAbsent(t);
    } finally {
      await t.close();
      await standIn.close();
      await db.close();
    }
  });
});
