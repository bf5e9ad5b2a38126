/**
 * One anonymous-user policy (SYNC_ANONYMOUS_USERS) on every path: the listing, POST /sync/:userId,
 * a Database Webhook, the reconcile and capture. Off by default: an anonymous sign-in is no one to
 * keep a profile for until it becomes a real account (is_anonymous false); a profile one already
 * has is left as it is, never retired as if the user were gone.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startApp, useTestApp, type TestApp } from './helpers/app.ts';
import { signUp } from './helpers/auth-writes.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { asOnSupabase } from './helpers/supabase-roles.ts';
import { insertAuthUser, profileOf } from './helpers/users.ts';
import { runReconcileJob } from './helpers/reconcile-job.ts';
import { waitFor } from './helpers/wait-for.ts';
import { authUsersRecord, databaseWebhookBody } from './helpers/webhooks.ts';

const missingIds = async (url: string) => {
  const res = await request(url).get('/users/missing?limit=1000').set(auth).expect(200);
  return (res.body.users as { id: string }[]).map((user) => user.id);
};

const reconcileMissing = (url: string) => runReconcileJob(url, ['missing', 'orphaned']);

const webhookInsert = (url: string, id: string) =>
  request(url)
    .post('/webhooks/supabase')
    .set(auth)
    .set('content-type', 'application/json')
    .send(databaseWebhookBody('INSERT', { ...authUsersRecord(id, ''), email: null, is_anonymous: true }, null));

describe('SYNC_ANONYMOUS_USERS off (the default)', () => {
  const ctx = useTestApp();

  it('an anonymous user is not missing, POST /sync is 403 and writes nothing, a webhook is acknowledged and ignored', async () => {
    const anonymous = await insertAuthUser(ctx.db.sql, { email: null, is_anonymous: true });
    const member = await insertAuthUser(ctx.db.sql, { email: 'member@example.com' });
    const missing = await missingIds(ctx.url);
    expect(missing).toContain(member);
    expect(missing).not.toContain(anonymous);

    const sync = await request(ctx.url).post(`/sync/${anonymous}`).set(auth);
    expect(sync.status).toBe(403);
    expect(sync.body.code).toBe('forbidden');
    expect(sync.body.detail).toMatch(/anonymous/);
    expect((await request(ctx.url).post(`/sync/${anonymous}?dryRun=true`).set(auth)).status).toBe(403);

    const hook = await webhookInsert(ctx.url, anonymous).expect(200);
    expect(hook.body).toMatchObject({ outcome: 'ignored', userId: anonymous });
    expect(await profileOf(ctx.db.sql, anonymous)).toBeNull();

    const status = await request(ctx.url).get(`/users/${anonymous}`).set(auth).expect(200);
    expect(status.body.state).toBe('in_sync');
  });

  it('the reconcile leaves anonymous users without a profile, and one that has a profile keeps it', async () => {
    const anonymous = await insertAuthUser(ctx.db.sql, { email: null, is_anonymous: true });
    const upgraded = await insertAuthUser(ctx.db.sql, { email: null, is_anonymous: true });
    // A profile made while the policy was on (or by the app itself).
    await ctx.db.sql.query('INSERT INTO public.users (id, email) VALUES ($1, NULL)', [upgraded]);
    const job = await reconcileMissing(ctx.url);
    expect(job.status).toBe('succeeded');
    expect(await profileOf(ctx.db.sql, anonymous)).toBeNull();
    expect(await profileOf(ctx.db.sql, upgraded)).not.toBeNull();

    // Linked to an e-mail, the user is a real account: now it gets its profile.
    await ctx.db.sql.query(`UPDATE auth.users SET is_anonymous = false, email = 'linked@example.com' WHERE id = $1`, [anonymous]);
    expect(await missingIds(ctx.url)).toContain(anonymous);
    await request(ctx.url).post(`/sync/${anonymous}`).set(auth).expect(200);
    expect(await profileOf(ctx.db.sql, anonymous)).toMatchObject({ email: 'linked@example.com' });
  });
});

describe('SYNC_ANONYMOUS_USERS=true', () => {
  const ctx = useTestApp({ env: { SYNC_ANONYMOUS_USERS: 'true' } });

  it('an anonymous user is missing like any other, and every path gives it a profile', async () => {
    const [bySync, byHook, byReconcile] = (await Promise.all(
      [1, 2, 3].map(() => insertAuthUser(ctx.db.sql, { email: null, is_anonymous: true })),
    )) as [string, string, string];
    const missing = await missingIds(ctx.url);
    expect(missing).toEqual(expect.arrayContaining([bySync, byHook, byReconcile]));

    expect((await request(ctx.url).post(`/sync/${bySync}`).set(auth).expect(200)).body.action).toBe('created');
    expect((await webhookInsert(ctx.url, byHook).expect(200)).body).toMatchObject({ outcome: 'synced', action: 'created' });
    expect((await reconcileMissing(ctx.url)).status).toBe('succeeded');
    for (const id of [bySync, byHook, byReconcile]) expect(await profileOf(ctx.db.sql, id), id).not.toBeNull();
  });
});

describe('capture with SYNC_ANONYMOUS_USERS off', () => {
  let db: TestDatabase;
  let t: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await startApp(db, { CAPTURE: 'on', CAPTURE_POLL_MS: '100', ...(await asOnSupabase(db)) });
  });
  afterAll(async () => {
    await t?.close();
    await db?.close();
  });

  it('drains an anonymous sign-in without a profile, and does not retire one it has', async () => {
    const kept = await insertAuthUser(db.sql, { email: null, is_anonymous: true });
    await db.sql.query('INSERT INTO public.users (id, email) VALUES ($1, NULL)', [kept]);
    const anonymous = await insertAuthUser(db.sql, { email: null, is_anonymous: true });
    await db.sql.query(`UPDATE auth.users SET raw_user_meta_data = '{"theme": "dark"}' WHERE id = $1`, [kept]);
    // Queued after both: once its profile is there, the drain has been past the anonymous ones.
    const member = await signUp(db, { email: 'after.them@example.com' });
    await waitFor(() => profileOf(db.sql, member), { timeoutMs: 10_000, what: 'the member\'s profile, by capture' });
    expect(await profileOf(db.sql, anonymous)).toBeNull();
    expect(await profileOf(db.sql, kept)).not.toBeNull();
  });
});
