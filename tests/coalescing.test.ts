/**
 * Concurrent one-user syncs joined into one statement (src/db/sync-batches.ts): each caller still
 * gets its own result, its own audit row and its own error, as if it had been alone. On PGlite and
 * on PostgreSQL.
 *
 * Every request here goes through the whole app (routes, authentication, the error handler) by
 * Fastify's inject, all of a test's requests sent in one turn of the event loop. That makes them
 * concurrent on both back ends: over sockets, PGlite (which runs each statement on this process's
 * thread) would answer one request before the next is parsed. With one statement in flight at a
 * time (SYNC_BATCH_CONCURRENCY=1) the requests must join; the batch-size histogram of /metrics
 * shows that they did, so these tests are about joined statements, not about syncs that happened
 * to run one by one.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, OTHER_TOKEN, auth, useTestApp } from './helpers/app.ts';
import { auditRows, count, insertAuthUser, profileOf } from './helpers/users.ts';
import { authUsersRecord, databaseWebhookBody } from './helpers/webhooks.ts';

const HOOK_TOKEN = 'test-hook-token-0123456789abcdefghijklmnopq';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON body, read by toMatchObject
  body: any;
}
const answer = (res: LightMyRequestResponse): Answer => ({ status: res.statusCode, body: res.json() });

/** The batch-size histogram's total of syncs and count of statements so far. */
async function batches(app: FastifyInstance): Promise<{ syncs: number; statements: number }> {
  const text = (await app.inject({ method: 'GET', url: '/metrics', headers: auth })).body;
  const value = (name: string) => Number(/^(\S+) (\S+)$/m.exec(text.split('\n').find((line) => line.startsWith(`${name} `)) ?? '')?.[2] ?? 0);
  return { syncs: value('user_sync_sync_batch_size_sum'), statements: value('user_sync_sync_batch_size_count') };
}

/** What the batches of `work` held: syncs, and statements they took. */
async function measured<T>(app: FastifyInstance, work: () => Promise<T>): Promise<{ result: T; syncs: number; statements: number }> {
  const before = await batches(app);
  const result = await work();
  const after = await batches(app);
  return { result, syncs: after.syncs - before.syncs, statements: after.statements - before.statements };
}

describe('concurrent syncs joined into one statement', () => {
  const ctx = useTestApp({
    env: {
      SYNC_BATCH_CONCURRENCY: '1',
      SERVICE_TOKENS: `admin:${ADMIN_TOKEN},other:${OTHER_TOKEN},supabase-db[webhook]:${HOOK_TOKEN}`,
    },
  });

  const sync = (id: string, options: { token?: string; query?: string } = {}) =>
    ctx.t.app.inject({ method: 'POST', url: `/sync/${id}${options.query ?? ''}`, headers: bearer(options.token ?? ADMIN_TOKEN) }).then(answer);

  it('200 syncs of 200 users: 200 correct results and 200 audit rows, each naming its caller, in fewer statements', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) ids.push(await insertAuthUser(ctx.db.sql, { email: `joined-${i}@example.com`, user_metadata: { full_name: `Joined ${i}` } }));
    const tokenOf = (i: number) => (i % 2 === 0 ? ADMIN_TOKEN : OTHER_TOKEN);

    const { result: responses, syncs, statements } = await measured(ctx.t.app, () =>
      Promise.all(ids.map((id, i) => sync(id, { token: tokenOf(i) }))),
    );

    expect(responses.map((res) => res.status)).toEqual(Array(200).fill(200));
    responses.forEach((res, i) => {
      expect(res.body).toMatchObject({ userId: ids[i], action: 'created', profile: { id: ids[i], email: `joined-${i}@example.com`, full_name: `Joined ${i}` } });
      expect(res.body.changes).toContainEqual({ field: 'email', from: null, to: `joined-${i}@example.com` });
    });
    for (const [i, id] of ids.entries()) {
      expect(await auditRows(ctx.db.sql, id)).toEqual([
        { actor: i % 2 === 0 ? 'admin' : 'other', action: 'created', changed_fields: ['email', 'full_name'], source: 'api' },
      ]);
    }
    expect(await count(ctx.db.sql, 'SELECT 1 FROM user_sync.audit_log WHERE user_id = ANY($1::uuid[])', [ids])).toBe(200);
    expect(syncs).toBe(200);
    expect(statements).toBeLessThan(200);
  });

  it('one refused row among 50: only its request fails (422), the 49 others are synced', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const metadata = i === 17 ? { organization_id: 'not-a-uuid' } : { full_name: `Batch ${i}` };
      ids.push(await insertAuthUser(ctx.db.sql, { user_metadata: metadata }));
    }
    const { result: responses, statements } = await measured(ctx.t.app, () =>
      Promise.all(ids.map((id) => sync(id))),
    );

    responses.forEach((res, i) => {
      if (i === 17) {
        expect(res.status).toBe(422);
        expect(res.body).toMatchObject({ code: 'profile_rejected' });
      } else {
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ userId: ids[i], action: 'created', profile: { full_name: `Batch ${i}` } });
      }
    });
    expect(await profileOf(ctx.db.sql, ids[17]!)).toBeNull();
    expect(await auditRows(ctx.db.sql, ids[17]!)).toEqual([]);
    for (const [i, id] of ids.entries()) if (i !== 17) expect(await auditRows(ctx.db.sql, id)).toHaveLength(1);
    // Joined: a batch with the refused user was refused whole and its users run again alone.
    expect(statements).toBeLessThan(50);
  });

  it('50 syncs of one user: one row, one created audit row; the others see it unchanged', async () => {
    const id = await insertAuthUser(ctx.db.sql, { user_metadata: { full_name: 'Many Clicks' } });
    const { result: responses, statements } = await measured(ctx.t.app, () =>
      Promise.all(Array.from({ length: 50 }, () => sync(id))),
    );

    expect(responses.map((res) => res.status)).toEqual(Array(50).fill(200));
    const actions = responses.map((res) => res.body.action as string);
    expect(actions.filter((action) => action === 'created')).toHaveLength(1);
    expect(actions.filter((action) => action === 'unchanged')).toHaveLength(49);
    for (const res of responses) expect(res.body.profile).toMatchObject({ id, full_name: 'Many Clicks' });
    expect(await count(ctx.db.sql, 'SELECT 1 FROM public.users WHERE id = $1', [id])).toBe(1);
    expect((await auditRows(ctx.db.sql, id)).map((row) => row.action)).toEqual(['created']);
    expect(statements).toBeLessThan(50);
  });

  it('dry runs among joined syncs write nothing; the syncs around them are written', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push(await insertAuthUser(ctx.db.sql));
    const dry = (i: number) => i % 2 === 0;
    const { result: responses, statements } = await measured(ctx.t.app, () =>
      Promise.all(ids.map((id, i) => sync(id, { query: dry(i) ? '?dryRun=true' : '' }))),
    );

    for (const [i, res] of responses.entries()) {
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ userId: ids[i], action: 'created', dryRun: dry(i) });
      expect(await profileOf(ctx.db.sql, ids[i]!)).toEqual(dry(i) ? null : expect.objectContaining({ id: ids[i] }));
      expect(await auditRows(ctx.db.sql, ids[i]!)).toHaveLength(dry(i) ? 0 : 1);
    }
    expect(statements).toBeLessThan(20);
  });

  it('a user gone or deleted in a batch is answered on its own (404, deleted); the others are synced', async () => {
    const live = await insertAuthUser(ctx.db.sql);
    const deleted = await insertAuthUser(ctx.db.sql);
    expect((await sync(deleted)).status).toBe(200);
    await ctx.db.sql.query('DELETE FROM auth.users WHERE id = $1', [deleted]);
    const absent = randomUUID();

    const [a, b, c] = await Promise.all([live, deleted, absent].map((id) => sync(id)));
    expect(a!.body).toMatchObject({ action: 'created' });
    expect(b!.body).toMatchObject({ action: 'deleted' });
    expect(c!.status).toBe(404);
    expect(await profileOf(ctx.db.sql, deleted)).toBeNull();
  });

  describe('webhook deliveries', () => {
    const send = (body: string) =>
      ctx.t.app
        .inject({ method: 'POST', url: '/webhooks/supabase', headers: { ...bearer(HOOK_TOKEN), 'content-type': 'application/json' }, payload: body })
        .then(answer);

    it('50 deliveries each sent twice at once: each synced once and a duplicate once, each recorded with its write', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 50; i++) ids.push(await insertAuthUser(ctx.db.sql, { email: `hooked-${i}@example.com` }));
      const bodies = ids.map((id, i) => databaseWebhookBody('INSERT', authUsersRecord(id, `hooked-${i}@example.com`), null));

      const { result: responses, statements } = await measured(ctx.t.app, () => Promise.all([...bodies, ...bodies].map(send)));

      expect(responses.map((res) => res.status)).toEqual(Array(100).fill(200));
      for (const [i, id] of ids.entries()) {
        const outcomes = [responses[i]!.body.outcome, responses[i + 50]!.body.outcome].sort();
        expect(outcomes).toEqual(['duplicate', 'synced']);
        expect(await auditRows(ctx.db.sql, id)).toEqual([
          { actor: 'supabase-db', action: 'created', changed_fields: ['email'], source: 'webhook' },
        ]);
      }
      expect(await count(ctx.db.sql, 'SELECT 1 FROM user_sync.webhook_deliveries WHERE user_id = ANY($1::uuid[])', [ids])).toBe(50);
      expect(statements).toBeLessThan(100);
    });

    it('two deliveries of one user at once are both synced with one write', async () => {
      const id = await insertAuthUser(ctx.db.sql, { email: 'second@example.com' });
      const [inserted, updated] = await Promise.all([
        send(databaseWebhookBody('INSERT', authUsersRecord(id, 'first@example.com'), null)),
        send(databaseWebhookBody('UPDATE', authUsersRecord(id, 'second@example.com'), authUsersRecord(id, 'first@example.com'))),
      ]);
      expect([inserted.body.outcome, updated.body.outcome]).toEqual(['synced', 'synced']);
      expect([inserted.body.action, updated.body.action].sort()).toEqual(['created', 'unchanged']);
      expect((await auditRows(ctx.db.sql, id)).map((row) => row.action)).toEqual(['created']);
      expect(await count(ctx.db.sql, 'SELECT 1 FROM user_sync.webhook_deliveries WHERE user_id = $1', [id])).toBe(2);
    });

    it('a refused row fails only its delivery, which stays unrecorded so that a resend is synced', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push(await insertAuthUser(ctx.db.sql, { user_metadata: i === 5 ? { organization_id: 'nope' } : {} }));
      const bodies = ids.map((id) => databaseWebhookBody('INSERT', authUsersRecord(id, `user-${id}@example.com`), null));

      const responses = await Promise.all(bodies.map(send));
      responses.forEach((res, i) => expect(res.status).toBe(i === 5 ? 422 : 200));
      expect(await count(ctx.db.sql, 'SELECT 1 FROM user_sync.webhook_deliveries WHERE user_id = ANY($1::uuid[])', [ids])).toBe(19);

      await ctx.db.sql.query(`UPDATE auth.users SET raw_user_meta_data = '{}' WHERE id = $1`, [ids[5]]);
      expect(await send(bodies[5]!)).toMatchObject({ status: 200, body: { outcome: 'synced', action: 'created' } });
    });
  });
});
