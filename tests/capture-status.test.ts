/**
 * `GET /capture`: capture as the database has it (triggers, the role's privilege, the queue) and
 * whether this service drains it, for operators who reach the API and not the database (the CLI's
 * `capture status --url`). Auth writes come from `supabase_auth_admin`; the service runs as a
 * non-superuser (helpers/supabase-roles.ts).
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, READER_TOKEN, startApp, type TestApp } from './helpers/app.ts';
import { signUp } from './helpers/auth-writes.ts';
import { SERVICE_ROLE_KEY } from './helpers/backends.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { asOnSupabase } from './helpers/supabase-roles.ts';
import { startSupabaseStandIn, type SupabaseStandIn } from './supabase-stand-in/index.ts';

describe('GET /capture on a SQL back end', () => {
  let db: TestDatabase;
  let connection: Record<string, string>;
  let t: TestApp | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    connection = await asOnSupabase(db);
  });
  afterAll(async () => {
    await t?.close();
    await db?.close();
  });

  it('before capture is installed: the service is off, the triggers absent, the queue (laid out by the migrations) empty', async () => {
    t = await startApp(db, { ...connection, CAPTURE: 'off' });
    const res = await request(t.url).get('/capture').set(auth).expect(200);
    expect(res.body).toMatchObject({
      service: { state: 'off', reason: 'CAPTURE=off' },
      canTrigger: true,
      triggers: { insertDelete: 'absent', update: 'absent' },
      current: false,
      queueDepth: 0,
      oldestChangeAgeSeconds: null,
    });
    expect(typeof res.body.role).toBe('string');
    await t.close();
    t = undefined;
  });

  it('installed and drained by the service: on, current, nothing waiting', async () => {
    t = await startApp(db, { ...connection, CAPTURE: 'on' });
    const res = await request(t.url).get('/capture').set(auth).expect(200);
    expect(res.body).toMatchObject({
      service: { state: 'on', reason: null },
      triggers: { insertDelete: 'current', update: 'current' },
      current: true,
      queueDepth: 0,
      oldestChangeAgeSeconds: null,
    });
    await t.close();
    t = undefined;
  });

  it('installed but not drained (CAPTURE=off): a sign-up waits in the queue, and the answer says so', async () => {
    t = await startApp(db, { ...connection, CAPTURE: 'off' });
    await signUp(db, { email: 'queued@example.com' });
    const res = await request(t.url).get('/capture').set(auth).expect(200);
    expect(res.body.service).toEqual({ state: 'off', reason: 'CAPTURE=off' });
    expect(res.body.current).toBe(true);
    // A sign-up is an INSERT and then UPDATEs; each that changes a mapped column is recorded.
    expect(res.body.queueDepth).toBeGreaterThanOrEqual(1);
    expect(res.body.oldestChangeAgeSeconds).toBeGreaterThanOrEqual(0);
  });

  it('needs the admin scope and a token', async () => {
    const forbidden = await request(t!.url).get('/capture').set('Authorization', `Bearer ${READER_TOKEN}`).expect(403);
    expect(forbidden.body).toMatchObject({ code: 'forbidden', requiredScope: 'admin' });
    await request(t!.url).get('/capture').expect(401);
  });
});

describe('GET /capture in Supabase API mode', () => {
  let db: TestDatabase;
  let standIn: SupabaseStandIn;
  let t: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    standIn = await startSupabaseStandIn({ sql: db.sql, serviceKey: SERVICE_ROLE_KEY });
    t = await startApp(null, { SUPABASE_URL: standIn.url, SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY });
  });
  afterAll(async () => {
    await t?.close();
    await standIn?.close();
    await db?.close();
  });

  it('is 409 capture_unavailable: the API cannot install triggers', async () => {
    const res = await request(t.url).get('/capture').set(auth).expect(409);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('capture_unavailable');
    expect(res.body.detail).toContain('webhooks and the periodic reconcile');
  });
});
