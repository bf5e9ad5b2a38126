/**
 * Webhooks when things go wrong: the database away (503, then a resend that loses nothing), and
 * two replicas on one database receiving the same 1,000 deliveries, interleaved.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startApp, type TestApp } from './helpers/app.ts';
import { createTestDatabase, onPostgres, type TestDatabase } from './helpers/database.ts';
import { useAppWithOutage } from './helpers/outage.ts';
import { count, insertAuthUser, profileOf } from './helpers/users.ts';
import { authHookBody, authUsersRecord, databaseWebhookBody, newWebhookSecret, sign } from './helpers/webhooks.ts';

const SECRET = newWebhookSecret();
const post = (url: string, body: string, headers: Record<string, string>) =>
  request(url).post('/webhooks/supabase').set(headers).send(body);

describe('the database going away', () => {
  const ctx = useAppWithOutage({ WEBHOOK_SECRET: SECRET });

  it('answers 503 with Retry-After (and /ready 503); before-user-created still answers 200 in time', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'outage@example.com' });
    const delivery = sign(SECRET, authHookBody('after-user-created', { id }));
    const before = sign(SECRET, authHookBody('before-user-created', { id: randomUUID() }));
    await ctx.down();

    const failed = await post(ctx.t.url, delivery.body, delivery.headers);
    expect(failed.status).toBe(503);
    expect(failed.body.code).toBe('database_unavailable');
    expect(Number(failed.headers['retry-after'])).toBeGreaterThan(0);
    expect((await request(ctx.t.url).get('/ready')).status).toBe(503);

    // A signup must never fail because of us: before-user-created still says yes. Supabase Auth
    // gives up on a hook after 5 s; this client gives up then too, and the test fails with it.
    await post(ctx.t.url, before.body, before.headers).timeout(5_000).expect(200, {});
  });

  it.skipIf(!onPostgres)('a resend once it is back loses nothing (PostgreSQL only: a closed PGlite cannot come back)', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'resent@example.com' });
    const delivery = sign(SECRET, authHookBody('after-user-created', { id }));
    await ctx.down();
    // The delivery fails while the database is away (the test above checks how it fails).
    expect((await post(ctx.t.url, delivery.body, delivery.headers)).status).toBe(503);

    expect(await ctx.up()).toBe(true);
    await request(ctx.t.url).get('/ready').expect(200);
    // Supabase Auth resends with a new webhook-id: the delivery's effect happens once.
    const resent = sign(SECRET, delivery.body);
    await post(ctx.t.url, resent.body, resent.headers).expect(200, {});
    expect(await profileOf(ctx.db.sql, id)).toMatchObject({ email: 'resent@example.com' });
    // The failed attempt recorded nothing, so even the very same delivery goes through.
    await post(ctx.t.url, delivery.body, delivery.headers).expect(200, {});
    expect(await count(ctx.db.sql, `SELECT 1 FROM user_sync.audit_log WHERE user_id = $1`, [id])).toBe(1);
  });
});

describe('two replicas on one database, the same 1,000 deliveries each, interleaved', () => {
  let db: TestDatabase;
  let replicas: TestApp[];

  beforeAll(async () => {
    db = await createTestDatabase();
    // On PostgreSQL each replica opens its own pool from DATABASE_URL; on PGlite both share one
    // embedded database, as two app instances in one process would.
    replicas = [await startApp(db, { WEBHOOK_SECRET: SECRET }), await startApp(db, { WEBHOOK_SECRET: SECRET })];
  });
  afterAll(async () => {
    for (const replica of replicas ?? []) await replica.close();
    await db?.close();
  });

  it('produce each effect once', async () => {
    const USERS = 1_000;
    const ids = Array.from({ length: USERS }, () => randomUUID());
    await db.sql.query(
      `INSERT INTO auth.users (id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
       SELECT id, 'authenticated', 'authenticated', 'replica-' || id || '@example.com', '{}', '{}', now(), now()
         FROM unnest($1::uuid[]) AS id`,
      [ids],
    );
    const deliveries = ids.map((id) => sign(SECRET, authHookBody('after-user-created', { id })));
    // Every delivery to both replicas, in an order that interleaves them, 16 requests in flight.
    const sends = deliveries.flatMap((delivery, i) =>
      i % 2 === 0 ? [[0, delivery], [1, delivery]] as const : [[1, delivery], [0, delivery]] as const,
    );
    const statuses: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < sends.length) {
          const [replica, delivery] = sends[next++]!;
          const res = await post(replicas[replica]!.url, delivery.body, delivery.headers);
          statuses.push(res.status);
        }
      }),
    );

    expect(statuses).toHaveLength(2 * USERS);
    expect(statuses.every((status) => status === 200)).toBe(true);
    expect(await count(db.sql, 'SELECT 1 FROM public.users')).toBe(USERS);
    expect(await count(db.sql, `SELECT 1 FROM user_sync.audit_log WHERE source = 'webhook'`)).toBe(USERS);
    expect(await count(db.sql, `SELECT user_id FROM user_sync.audit_log GROUP BY user_id HAVING count(*) > 1`)).toBe(0);
    expect(await count(db.sql, 'SELECT 1 FROM user_sync.webhook_deliveries')).toBe(USERS);
  });

  it('a Database Webhook sent to both replicas at once is applied once', async () => {
    const id = await insertAuthUser(db.sql);
    const body = databaseWebhookBody('INSERT', authUsersRecord(id, 'both-replicas@example.com'), null);
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` };
    const answers = await Promise.all(replicas.map((replica) => post(replica.url, body, headers)));
    expect(answers.map((res) => res.status)).toEqual([200, 200]);
    expect(answers.map((res) => res.body.outcome as string).sort()).toEqual(['duplicate', 'synced']);
  });
});
