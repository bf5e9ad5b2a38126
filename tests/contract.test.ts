/**
 * The contract every back end keeps: the same requests give the same answers and leave the same
 * profile table, whether the service reads auth.users through SQL (embedded PGlite, PostgreSQL)
 * or through the Supabase APIs (supabase-js against the stand-in). Run it on each:
 *   npm test                      (SQL back end on PGlite)
 *   npm run test:pg               (SQL back end on PostgreSQL)
 *   npm run test:supabase         (Supabase API back end, stand-in on PostgreSQL)
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { auth } from './helpers/app.ts';
import { onSupabase, useBackendApp, useBackendAppWithOutage } from './helpers/backends.ts';
import { count, insertAuthUser, profileOf, softDeleteAuthUser, updateAuthUser } from './helpers/users.ts';
import { waitFor } from './helpers/wait-for.ts';
import { beforeUserCreatedBody, oauthSignUp, storeOAuthUser } from './helpers/oauth-sign-up.ts';
import { authUsersRecord, databaseWebhookBody, newWebhookSecret, sign } from './helpers/webhooks.ts';

const backendName = onSupabase ? 'Supabase API' : 'SQL';

describe(`contract (${backendName} back end): one user`, () => {
  const ctx = useBackendApp();

  it('creates, then leaves unchanged, then updates a profile', async () => {
    const id = await insertAuthUser(ctx.db.sql, {
      email: 'contract@example.com',
      user_metadata: { name: 'Contract', organization_id: '7e57d004-2b97-0e7a-b45f-5387367791cd' },
      app_metadata: { role: 'editor' },
    });
    const created = await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(created.body).toMatchObject({
      action: 'created',
      profile: { id, email: 'contract@example.com', full_name: 'Contract', role: 'editor', organization_id: '7e57d004-2b97-0e7a-b45f-5387367791cd' },
    });
    expect((await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200)).body).toMatchObject({ action: 'unchanged', changes: [] });

    await updateAuthUser(ctx.db.sql, id, { email: 'renamed@example.com' });
    const updated = await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(updated.body).toMatchObject({ action: 'updated', changes: [{ field: 'email', from: 'contract@example.com', to: 'renamed@example.com' }] });
    expect(await profileOf(ctx.db.sql, id)).toMatchObject({ email: 'renamed@example.com', full_name: 'Contract' });
  });

  it('a dry run reports and writes nothing', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'dry-contract@example.com' });
    const dry = await request(ctx.url).post(`/sync/${id}?dryRun=true`).set(auth).expect(200);
    expect(dry.body).toMatchObject({ action: 'created', dryRun: true, changes: [{ field: 'email', from: null, to: 'dry-contract@example.com' }] });
    expect(await profileOf(ctx.db.sql, id)).toBeNull();
  });

  it('hard- and soft-deleted users are deleted; a user in neither place is 404', async () => {
    const hard = await insertAuthUser(ctx.db.sql);
    const soft = await insertAuthUser(ctx.db.sql);
    for (const id of [hard, soft]) await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    await ctx.db.sql.query('DELETE FROM auth.users WHERE id = $1', [hard]);
    await softDeleteAuthUser(ctx.db.sql, soft);

    for (const id of [hard, soft]) {
      expect((await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200)).body.action).toBe('deleted');
      expect(await profileOf(ctx.db.sql, id)).toBeNull();
    }
    expect((await request(ctx.url).post(`/sync/${randomUUID()}`).set(auth).expect(404)).body.code).toBe('user_not_found');
  });

  it('compares states the same way', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'state@example.com' });
    const state = async () => (await request(ctx.url).get(`/users/${id}`).set(auth).expect(200)).body.state as string;
    expect(await state()).toBe('missing');
    await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(await state()).toBe('in_sync');
    await updateAuthUser(ctx.db.sql, id, { user_metadata: { full_name: 'Changed' } });
    expect(await state()).toBe('stale');
    expect((await request(ctx.url).get(`/users/${randomUUID()}`).set(auth).expect(200)).body.state).toBe('not_found');
  });

  it('a value the column cannot hold is 422 profile_rejected, and nothing is written', async () => {
    const id = await insertAuthUser(ctx.db.sql, { user_metadata: { organization_id: 'not-a-uuid' } });
    const res = await request(ctx.url).post(`/sync/${id}`).set(auth).expect(422);
    expect(res.body.code).toBe('profile_rejected');
    expect(await profileOf(ctx.db.sql, id)).toBeNull();
  });

  it('the reconcile applies the delete policy to orphaned profiles, and only to them', async () => {
    const orphan = randomUUID();
    await ctx.db.sql.query(`INSERT INTO public.users (id, email) VALUES ($1, 'orphan-contract@example.com')`, [orphan]);
    const softDeleted = await insertAuthUser(ctx.db.sql);
    await ctx.db.sql.query('INSERT INTO public.users (id) VALUES ($1)', [softDeleted]);
    await softDeleteAuthUser(ctx.db.sql, softDeleted);
    const live = await insertAuthUser(ctx.db.sql);
    await request(ctx.url).post(`/sync/${live}`).set(auth).expect(200);

    const report = await ctx.t.app.sync.reconciler.runOnce();
    expect(report?.actions.deleted).toBeGreaterThanOrEqual(2);
    expect(await profileOf(ctx.db.sql, orphan)).toBeNull();
    expect(await profileOf(ctx.db.sql, softDeleted)).toBeNull();
    expect(await profileOf(ctx.db.sql, live)).not.toBeNull();
  });

  it('a reconcile job repairs missing users and reports its counts', async () => {
    const missing = await insertAuthUser(ctx.db.sql, { email: 'job-contract@example.com' });
    const { body } = await request(ctx.url).post('/reconcile').set(auth).send({ include: ['missing'] }).expect(202);
    const job = await waitFor(
      async () => {
        const view: { status: string; counts: { created: number; failed: number } } = (
          await request(ctx.url).get(`/reconcile/${body.jobId}`).set(auth).expect(200)
        ).body;
        return view.status === 'queued' || view.status === 'running' ? undefined : view;
      },
      { timeoutMs: 30_000, intervalMs: 50, what: `reconcile job ${body.jobId} to finish` },
    );
    expect(job.status).toBe('succeeded');
    expect(job.counts.created).toBeGreaterThanOrEqual(1);
    expect(await profileOf(ctx.db.sql, missing)).toMatchObject({ email: 'job-contract@example.com' });
  });

  it('a Database Webhook syncs the user it names, once', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'hooked-contract@example.com' });
    const body = databaseWebhookBody('INSERT', authUsersRecord(id, 'hooked-contract@example.com'), null);
    const send = () => request(ctx.url).post('/webhooks/supabase').set(auth).set('content-type', 'application/json').send(body);
    expect((await send().expect(200)).body).toMatchObject({ outcome: 'synced', action: 'created' });
    expect((await send().expect(200)).body).toMatchObject({ outcome: 'duplicate' });
  });

  it('the store\'s one write answers every id asked for, a repeated user (in any case) written once', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'batch-contract@example.com' });
    const gone = randomUUID();
    const outcomes = await ctx.t.app.sync.profiles.syncUsers([id, gone, id.toUpperCase()], { actor: 'test', source: 'api' });
    expect(outcomes.map((outcome) => outcome?.action ?? null)).toEqual(['created', null, 'created']);
    expect(await profileOf(ctx.db.sql, id)).toMatchObject({ email: 'batch-contract@example.com' });
  });

  it('a Database Webhook DELETE applies the delete policy, once', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'deleted-contract@example.com' });
    await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    await ctx.db.sql.query('DELETE FROM auth.users WHERE id = $1', [id]);
    const body = databaseWebhookBody('DELETE', null, authUsersRecord(id, 'deleted-contract@example.com'));
    const send = () => request(ctx.url).post('/webhooks/supabase').set(auth).set('content-type', 'application/json').send(body);
    expect((await send().expect(200)).body).toMatchObject({ outcome: 'synced', action: 'deleted' });
    expect(await profileOf(ctx.db.sql, id)).toBeNull();
    // The user is gone everywhere now, but the delivery was recorded with its effect: a repeat is
    // a duplicate, not a user_not_found.
    expect((await send().expect(200)).body).toMatchObject({ outcome: 'duplicate' });
  });
});

describe(`contract (${backendName} back end): before-user-created for an OAuth sign-up`, () => {
  const secret = newWebhookSecret();
  const ctx = useBackendApp({ env: { WEBHOOK_SECRET: secret } });
  const hook = (body: string) => {
    const signed = sign(secret, body);
    return request(ctx.url).post('/webhooks/supabase').set(signed.headers).send(signed.body);
  };

  // Supabase Auth shows the hook a throwaway user and stores the user under a new id: the deferred
  // round finds it by its identity (or e-mail), with no reconcile and no other webhook.
  it.each([
    ['as Supabase Auth sends it (no identities; the subject in user_metadata.sub)', false],
    ['with the identity listed on the hook\'s user', true],
  ])('the stored user gets its profile in the deferred round: %s', async (_shape, listIdentity) => {
    const signUp = oauthSignUp(`octo-${randomUUID()}@example.com`);
    const { throwawayId, body } = beforeUserCreatedBody(signUp, { listIdentity });
    await hook(body).expect(200, {});
    const id = await storeOAuthUser(ctx.db.sql, signUp);

    expect(await ctx.t.app.sync.reconciler.completeDeferred()).toBeGreaterThanOrEqual(1);
    expect(await profileOf(ctx.db.sql, id)).toMatchObject({ id, email: signUp.email, full_name: 'Octo & Cat <dev>' });
    expect(await profileOf(ctx.db.sql, throwawayId)).toBeNull();
  });

  it('an older account with the same e-mail and a profile is neither matched nor touched', async () => {
    const email = `older-${randomUUID()}@example.com`;
    const older = await insertAuthUser(ctx.db.sql, { email, user_metadata: { full_name: 'Now' } });
    await ctx.db.sql.query(`UPDATE auth.users SET created_at = now() - interval '1 day' WHERE id = $1`, [older]);
    // A stale profile: a sync of this user would change it.
    await ctx.db.sql.query(`INSERT INTO public.users (id, email, full_name) VALUES ($1, $2, 'Then')`, [older, email]);

    // A sign-up with that address whose user was never stored (Auth refused it, or linked it).
    await hook(beforeUserCreatedBody(oauthSignUp(email)).body).expect(200, {});

    expect(await ctx.t.app.sync.reconciler.completeDeferred()).toBe(0);
    expect(await profileOf(ctx.db.sql, older)).toMatchObject({ email, full_name: 'Then' });
  });
});

describe(`contract (${backendName} back end): a delivery whose sync failed`, () => {
  const ctx = useBackendAppWithOutage();

  /** A Database Webhook as pg_net posts it: the whole row, a bearer token, the same bytes on a resend. */
  const webhook = (body: string) =>
    request(ctx.url).post('/webhooks/supabase').set(auth).set('content-type', 'application/json').send(body);
  const unavailable = onSupabase ? 'supabase_unavailable' : 'database_unavailable';

  /** Sends `body` while the data is away (503), then again once it is back. */
  async function failThenResend(body: string) {
    await ctx.outage.down();
    try {
      const failed = await webhook(body);
      expect(failed.status).toBe(503);
      expect(failed.body.code).toBe(unavailable);
    } finally {
      await ctx.outage.up();
    }
    // A pool whose connections were reset opens new ones: wait until the service answers again.
    await waitFor(async () => (await request(ctx.url).get('/ready')).status === 200, { timeoutMs: 15_000, what: 'the service to be ready again' });
    return webhook(body);
  }

  it('an INSERT sent during an outage creates the profile when resent, once', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'resent-insert@example.com' });
    const body = databaseWebhookBody('INSERT', authUsersRecord(id, 'resent-insert@example.com'), null);
    expect((await failThenResend(body)).body).toMatchObject({ outcome: 'synced', action: 'created' });
    expect(await profileOf(ctx.db.sql, id)).toMatchObject({ email: 'resent-insert@example.com' });
    expect((await webhook(body).expect(200)).body).toMatchObject({ outcome: 'duplicate' });
  });

  it('an UPDATE sent during an outage updates the stale profile when resent (the reconcile never would)', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'before-update@example.com' });
    await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    await updateAuthUser(ctx.db.sql, id, { email: 'after-update@example.com' });
    const body = databaseWebhookBody(
      'UPDATE',
      authUsersRecord(id, 'after-update@example.com'),
      authUsersRecord(id, 'before-update@example.com'),
    );
    expect((await failThenResend(body)).body).toMatchObject({ outcome: 'synced', action: 'updated' });
    expect(await profileOf(ctx.db.sql, id)).toMatchObject({ email: 'after-update@example.com' });
  });
});

describe(`contract (${backendName} back end): 10,500 users, 1,234 without a profile`, () => {
  const TOTAL = 10_500;
  const MISSING = 1_234;
  const ctx = useBackendApp({ env: { RECONCILE_BATCH_SIZE: '1000' } });

  it('GET /users/missing finds each of them exactly once, and the reconcile fixes them all', async () => {
    await ctx.db.sql.query(
      `INSERT INTO auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
       SELECT '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated', 'many-' || n || '@example.com',
              jsonb_build_object('full_name', 'Many ' || n), '{}', now() - n * interval '1 second', now()
         FROM generate_series(1, $1::int) AS n`,
      [TOTAL],
    );
    await ctx.db.sql.query(
      `INSERT INTO public.users (id, email) SELECT id, email FROM auth.users ORDER BY md5(id::text) LIMIT $1`,
      [TOTAL - MISSING],
    );
    const expected = await ctx.db.sql.query<{ id: string }>(
      'SELECT u.id::text AS id FROM auth.users u WHERE NOT EXISTS (SELECT 1 FROM public.users p WHERE p.id = u.id)',
    );
    expect(expected).toHaveLength(MISSING);

    const listAll = async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const query: Record<string, string | number> = cursor === null ? { limit: 1000 } : { limit: 1000, cursor };
        const res = await request(ctx.url).get('/users/missing').query(query).set(auth).expect(200);
        seen.push(...res.body.users.map((user: { id: string }) => user.id));
        cursor = res.body.nextCursor;
      } while (cursor !== null);
      return seen;
    };
    const seen = await listAll();
    expect(seen).toHaveLength(MISSING);
    expect(new Set(seen)).toEqual(new Set(expected.map((row) => row.id)));

    const report = await ctx.t.app.sync.reconciler.runOnce();
    expect(report).toMatchObject({ actions: { created: MISSING }, failed: 0 });
    expect(await count(ctx.db.sql, 'SELECT 1 FROM public.users')).toBe(TOTAL);
    expect(await listAll()).toEqual([]);
  });
});
