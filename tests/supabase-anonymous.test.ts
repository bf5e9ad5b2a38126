/**
 * The anonymous-user policy (SYNC_ANONYMOUS_USERS) in Supabase API mode, where no SQL decides who
 * gets a profile: the Supabase store's own predicate does (`#profiled`, over `getsProfile`), for
 * the listing, POST /sync/:userId, a Database Webhook and the reconcile's scans. The same cases
 * as tests/anonymous-users.test.ts, through the real supabase-js client against the stand-in.
 * Capture is not here: it reads a queue in the database, and this mode has no connection to one.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { Queryable } from '../src/db/sql-client.ts';
import { auth, startApp, useAppContext, type AppContext } from './helpers/app.ts';
import { SERVICE_ROLE_KEY } from './helpers/backends.ts';
import { createTestDatabase } from './helpers/database.ts';
import { insertAuthUser, profileOf } from './helpers/users.ts';
import { runReconcileJob } from './helpers/reconcile-job.ts';
import { authUsersRecord, databaseWebhookBody } from './helpers/webhooks.ts';
import { startSupabaseStandIn } from './supabase-stand-in/index.ts';

/** A fresh database, the stand-in over it and the app in Supabase API mode, for the enclosing describe. */
function useSupabaseApp(env: Record<string, string> = {}): AppContext {
  return useAppContext(async () => {
    const db = await createTestDatabase();
    const standIn = await startSupabaseStandIn({ sql: db.sql, serviceKey: SERVICE_ROLE_KEY });
    try {
      const t = await startApp(null, { SUPABASE_URL: standIn.url, SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY, ...env });
      return { db, t, close: () => standIn.close() };
    } catch (error) {
      await standIn.close();
      await db.close();
      throw error;
    }
  });
}

/**
 * An anonymous sign-in as Supabase Auth stores it (internal/api/signup.go, ToUserModel with the
 * anonymous provider): is_anonymous true, no email, no phone, empty app_metadata (no provider is
 * recorded for it) and no auth.identities row, so the admin API shows `email: ""`, `phone: ""` and
 * `identities: []`. `user_metadata` is whatever the app passed to signInAnonymously.
 */
const signInAnonymously = (db: Queryable, user_metadata: Record<string, unknown> = {}) =>
  insertAuthUser(db, { email: null, phone: null, app_metadata: {}, user_metadata, is_anonymous: true });

/**
 * An anonymous user linking an email (PUT /user, then the email_change link), as Auth's verify
 * writes it (internal/api/verify.go, emailChangeVerify): an email identity, is_anonymous false,
 * the new email confirmed, and the email provider in app_metadata.
 */
async function linkEmail(db: Queryable, id: string, email: string): Promise<void> {
  await db.query(
    `INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
     VALUES ($1, $2, $3, 'email', now(), now(), now())`,
    [id, id, JSON.stringify({ email, email_verified: true, phone_verified: false, sub: id })],
  );
  await db.query(`UPDATE auth.users SET is_anonymous = false WHERE id = $1`, [id]);
  await db.query(
    `UPDATE auth.users SET email = $2, email_change = '', email_change_token_new = '', email_confirmed_at = now(),
            raw_app_meta_data = '{"provider": "email", "providers": ["email"]}', updated_at = now()
      WHERE id = $1`,
    [id, email],
  );
}

const missingIds = async (url: string) => {
  const res = await request(url).get('/users/missing?limit=1000').set(auth).expect(200);
  return (res.body.users as { id: string }[]).map((user) => user.id);
};

/** Runs a reconcile job to its end; every step unless told. */
const reconcile = (url: string, include: string[] = ['missing', 'stale', 'orphaned']) => runReconcileJob(url, include);

/** The INSERT pg_net posts for an anonymous sign-in: the row's own values, no email. */
const webhookInsert = (url: string, id: string) =>
  request(url)
    .post('/webhooks/supabase')
    .set(auth)
    .set('content-type', 'application/json')
    .send(
      databaseWebhookBody(
        'INSERT',
        { ...authUsersRecord(id, ''), email: null, email_confirmed_at: null, confirmed_at: null, raw_app_meta_data: {}, is_anonymous: true },
        null,
      ),
    );

describe('Supabase API mode, SYNC_ANONYMOUS_USERS off (the default)', () => {
  const ctx = useSupabaseApp();

  it('GET /users/missing lists an ordinary user without a profile but not an anonymous one', async () => {
    const anonymous = await signInAnonymously(ctx.db.sql);
    // The control: without it an empty listing would pass for a correct one.
    const member = await insertAuthUser(ctx.db.sql, { email: 'member@example.com' });
    const missing = await missingIds(ctx.url);
    expect(missing).toContain(member);
    expect(missing).not.toContain(anonymous);
  });

  it('POST /sync/:userId for an anonymous user is 403 forbidden, dry run or not, and writes no profile', async () => {
    const anonymous = await signInAnonymously(ctx.db.sql);
    // Asked before any sync, while it has no profile: nothing is owed to it, so not "missing".
    const status = await request(ctx.url).get(`/users/${anonymous}`).set(auth);
    expect(status.body.state).toBe('in_sync');

    expect((await request(ctx.url).post(`/sync/${anonymous}?dryRun=true`).set(auth)).status).toBe(403);
    const sync = await request(ctx.url).post(`/sync/${anonymous}`).set(auth);
    expect(sync.status).toBe(403);
    expect(sync.body.code).toBe('forbidden');
    expect(sync.body.detail).toMatch(/anonymous/);
    expect(await profileOf(ctx.db.sql, anonymous)).toBeNull();
  });

  it('a Database Webhook for an anonymous sign-in is acknowledged as ignored and writes no profile', async () => {
    const anonymous = await signInAnonymously(ctx.db.sql);
    // A 200, not an error: the sender did nothing wrong, and a resend would change nothing.
    const hook = await webhookInsert(ctx.url, anonymous).expect(200);
    expect(hook.body).toMatchObject({ outcome: 'ignored', userId: anonymous });
    expect(await profileOf(ctx.db.sql, anonymous)).toBeNull();
  });

  it('a reconcile job creates the ordinary user\'s profile and none for the anonymous user', async () => {
    const anonymous = await signInAnonymously(ctx.db.sql, { name: 'Guest 7' });
    const member = await insertAuthUser(ctx.db.sql, { email: 'reconciled@example.com' });
    const job = await reconcile(ctx.url, ['missing']);
    expect(job.status).toBe('succeeded');
    expect(await profileOf(ctx.db.sql, member)).toMatchObject({ email: 'reconciled@example.com' });
    expect(await profileOf(ctx.db.sql, anonymous)).toBeNull();
  });

  it('a reconcile job neither retires nor rewrites the profile an anonymous user already has, and still retires a real orphan', async () => {
    // A profile the app made itself before the guest picked a name: the stale step would write
    // full_name into it if it took the anonymous user for one it keeps in step.
    const anonymous = await signInAnonymously(ctx.db.sql, { name: 'Guest 42' });
    await ctx.db.sql.query('INSERT INTO public.users (id, email) VALUES ($1, NULL)', [anonymous]);
    const before = await profileOf(ctx.db.sql, anonymous);
    // The control: a profile whose user is gone from auth.users, which the orphan step must delete
    // (DELETE_POLICY=delete), so that the job is known to have looked at orphans at all.
    const orphan = randomUUID();
    await ctx.db.sql.query('INSERT INTO public.users (id, email) VALUES ($1, $2)', [orphan, 'gone@example.com']);

    const job = await reconcile(ctx.url);
    expect(job.status).toBe('succeeded');
    expect(await profileOf(ctx.db.sql, orphan)).toBeNull();
    // The user is still in auth.users, only anonymous: not gone, so its profile stays as it was.
    expect(await profileOf(ctx.db.sql, anonymous)).toEqual(before);
  });

  it('an anonymous user who links an email is missing, and gets a profile from POST /sync and from the reconcile', async () => {
    const bySync = await signInAnonymously(ctx.db.sql);
    const byReconcile = await signInAnonymously(ctx.db.sql);
    // PUT /user only records the address to confirm: until the link is followed the user is anonymous.
    await ctx.db.sql.query(`UPDATE auth.users SET email_change = 'pending@example.com', email_change_sent_at = now() WHERE id = $1`, [bySync]);
    expect(await missingIds(ctx.url)).not.toContain(bySync);

    await linkEmail(ctx.db.sql, bySync, 'linked@example.com');
    await linkEmail(ctx.db.sql, byReconcile, 'linked.later@example.com');
    expect(await missingIds(ctx.url)).toEqual(expect.arrayContaining([bySync, byReconcile]));

    const sync = await request(ctx.url).post(`/sync/${bySync}`).set(auth);
    expect(sync.status).toBe(200);
    expect(sync.body.action).toBe('created');
    expect(await profileOf(ctx.db.sql, bySync)).toMatchObject({ email: 'linked@example.com' });

    expect((await reconcile(ctx.url, ['missing'])).status).toBe('succeeded');
    expect(await profileOf(ctx.db.sql, byReconcile)).toMatchObject({ email: 'linked.later@example.com' });
  });
});

describe('Supabase API mode, SYNC_ANONYMOUS_USERS=true', () => {
  const ctx = useSupabaseApp({ SYNC_ANONYMOUS_USERS: 'true' });

  it('GET /users/missing lists an anonymous user like any other', async () => {
    const anonymous = await signInAnonymously(ctx.db.sql);
    expect(await missingIds(ctx.url)).toContain(anonymous);
  });

  it('POST /sync/:userId, a webhook and a reconcile job each give an anonymous user a profile', async () => {
    const [bySync, byHook, byReconcile] = (await Promise.all(
      [1, 2, 3].map(() => signInAnonymously(ctx.db.sql, { name: 'Guest' })),
    )) as [string, string, string];

    const sync = await request(ctx.url).post(`/sync/${bySync}`).set(auth);
    expect(sync.status).toBe(200);
    expect(sync.body.action).toBe('created');
    expect((await webhookInsert(ctx.url, byHook).expect(200)).body).toMatchObject({ outcome: 'synced', action: 'created' });
    expect((await reconcile(ctx.url, ['missing'])).status).toBe('succeeded');
    for (const id of [bySync, byHook, byReconcile]) {
      expect(await profileOf(ctx.db.sql, id), id).toMatchObject({ email: null, phone: null, full_name: 'Guest' });
    }
  });
});
