/**
 * POST /webhooks/supabase: Auth Hooks signed with Standard Webhooks, Database Webhooks with a
 * service token. Duplicates, reordering and secrets in payloads, on PGlite and on PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, READER_TOKEN, useTestApp } from './helpers/app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { beforeUserCreatedBody, oauthSignUp, storeOAuthUser } from './helpers/oauth-sign-up.ts';
import { auditRows, count, insertAuthUser, profileOf } from './helpers/users.ts';
import { waitFor } from './helpers/wait-for.ts';
import { authHookBody, authUsersRecord, databaseWebhookBody, jsonbText, newWebhookSecret, sign } from './helpers/webhooks.ts';

const OLD_SECRET = newWebhookSecret();
const NEW_SECRET = newWebhookSecret();
const HOOK_TOKEN = 'test-hook-token-0123456789abcdefghijklmnopq';

const post = (url: string, body: string, headers: Record<string, string>) =>
  request(url).post('/webhooks/supabase').set(headers).send(body);

const bearer = (token: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${token}` });

describe('Auth Hooks (Standard Webhooks signatures)', () => {
  // A rotation in progress: both the old and the new secret are configured.
  const ctx = useTestApp({ env: { WEBHOOK_SECRET: `${OLD_SECRET}|${NEW_SECRET}` } });

  it('after-user-created creates the profile; the same delivery again answers 200 and writes nothing', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'hooked@example.com' });
    const signed = sign(NEW_SECRET, authHookBody('after-user-created', { id, email: 'hooked@example.com' }));

    const first = await post(ctx.url, signed.body, signed.headers).expect(200);
    expect(first.body).toEqual({});
    expect(await profileOf(ctx.db.sql, id)).toMatchObject({ email: 'hooked@example.com' });

    const again = await post(ctx.url, signed.body, signed.headers).expect(200);
    expect(again.body).toEqual({});
    expect(await auditRows(ctx.db.sql, id)).toEqual([
      { actor: 'supabase-auth-hook', action: 'created', changed_fields: ['email'], source: 'webhook' },
    ]);
    expect(await count(ctx.db.sql, 'SELECT 1 FROM user_sync.webhook_deliveries WHERE id = $1', [`hook:${signed.headers['webhook-id']}`])).toBe(1);
  });

  it('accepts both secrets of a rotation', async () => {
    for (const secret of [OLD_SECRET, NEW_SECRET]) {
      const id = await insertAuthUser(ctx.db.sql);
      const signed = sign(secret, authHookBody('after-user-created', { id }));
      await post(ctx.url, signed.body, signed.headers).expect(200);
      expect(await profileOf(ctx.db.sql, id)).not.toBeNull();
    }
  });

  it('accepts several signatures in one header (one per secret of the hook), however separated', async () => {
    for (const separator of [', ', ' ', ',']) {
      const id = await insertAuthUser(ctx.db.sql);
      // As Auth signs when the hook has two secrets, one this service does not know: joined ", ".
      const signed = sign([newWebhookSecret(), NEW_SECRET], authHookBody('after-user-created', { id }));
      expect(signed.headers['webhook-signature']).toMatch(/^v1,\S+, v1,\S+$/);
      const header = signed.headers['webhook-signature']!.split(', ').join(separator);
      await post(ctx.url, signed.body, { ...signed.headers, 'webhook-signature': header }).expect(200, {});
      expect(await profileOf(ctx.db.sql, id)).not.toBeNull();
    }
  });

  it('verifies the bytes as Auth sends them: Go\'s JSON escapes (\\u0026, \\u003c, \\u003e) and a bare UUID as webhook-id', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'go-json@example.com', user_metadata: { full_name: 'Ada & <Bob>' } });
    const signed = sign(NEW_SECRET, authHookBody('after-user-created', { id, email: 'go-json@example.com', user_metadata: { full_name: 'Ada & <Bob>' } }));
    expect(signed.body).toContain('Ada \\u0026 \\u003cBob\\u003e');
    expect(signed.body).toContain('"identities":[{');
    expect(signed.headers['webhook-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    await post(ctx.url, signed.body, signed.headers).expect(200, {});
    expect(await profileOf(ctx.db.sql, id)).toMatchObject({ full_name: 'Ada & <Bob>' });
    expect(await count(ctx.db.sql, 'SELECT 1 FROM user_sync.webhook_deliveries WHERE id = $1', [`hook:${signed.headers['webhook-id']}`])).toBe(1);
  });

  it.each([
    ['a tampered body', (id: string) => {
      const signed = sign(NEW_SECRET, authHookBody('after-user-created', { id }));
      return { body: signed.body.replace(id, randomUUID()), headers: signed.headers };
    }, 'webhook_signature_invalid'],
    ['a wrong secret', (id: string) => sign(newWebhookSecret(), authHookBody('after-user-created', { id })), 'webhook_signature_invalid'],
    ['a timestamp 10 minutes old', (id: string) =>
      sign(NEW_SECRET, authHookBody('after-user-created', { id }), { at: new Date(Date.now() - 10 * 60_000) }), 'webhook_timestamp_invalid'],
    ['a timestamp 10 minutes ahead', (id: string) =>
      sign(NEW_SECRET, authHookBody('after-user-created', { id }), { at: new Date(Date.now() + 10 * 60_000) }), 'webhook_timestamp_invalid'],
    ['a signature header of another scheme', (id: string) => {
      const signed = sign(NEW_SECRET, authHookBody('after-user-created', { id }));
      return { body: signed.body, headers: { ...signed.headers, 'webhook-signature': signed.headers['webhook-signature']!.replace('v1,', 'v2,') } };
    }, 'webhook_signature_invalid'],
  ])('401 for %s, and nothing written', async (_case, make, code) => {
    const id = await insertAuthUser(ctx.db.sql);
    const { body, headers } = make(id);
    const res = await post(ctx.url, body, headers).expect(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 401, code });
    expect(await profileOf(ctx.db.sql, id)).toBeNull();
  });

  it('401 unauthorized with neither a signature nor a token', async () => {
    const res = await post(ctx.url, authHookBody('after-user-created', { id: randomUUID() }), { 'content-type': 'application/json' });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('unauthorized');
  });

  it('the signature is checked over the bytes before they are parsed: badly signed junk is 401, not 400', async () => {
    const forged = sign(newWebhookSecret(), '{"metadata": not json at all');
    const res = await post(ctx.url, forged.body, forged.headers);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('webhook_signature_invalid');
    const stale = sign(NEW_SECRET, '{"metadata":', { at: new Date(Date.now() - 60 * 60 * 1000) });
    expect((await post(ctx.url, stale.body, stale.headers)).body.code).toBe('webhook_timestamp_invalid');
  });

  it('a signed body of an unknown shape is 400, not 500', async () => {
    for (const body of ['{"hello":"world"}', JSON.stringify({ metadata: { name: 'send-email' }, user: { id: randomUUID() } }), '[]']) {
      const signed = sign(NEW_SECRET, body);
      const res = await post(ctx.url, signed.body, signed.headers);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('invalid_request');
    }
    const notJson = sign(NEW_SECRET, '{"metadata":');
    expect((await post(ctx.url, notJson.body, notJson.headers)).status).toBe(400);
  });

  // How fast it answers is not asserted here: speed is measured by `npm run bench`, whose `webhook`
  // section (bench/http.ts) loads POST /webhooks/supabase (with Database Webhook INSERTs; the
  // before-user-created hook has no section of its own). Supabase Auth's own 5 s deadline for a
  // hook is held to in tests/webhook-reliability.test.ts, with the database away.
  it('before-user-created answers 200 {} and writes no profile (the user is not stored yet)', async () => {
    let last = '';
    for (let i = 0; i < 21; i++) {
      last = randomUUID();
      const signed = sign(NEW_SECRET, authHookBody('before-user-created', { id: last, email: `new-${i}@example.com` }));
      const res = await post(ctx.url, signed.body, signed.headers);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({});
    }
    expect(await profileOf(ctx.db.sql, last)).toBeNull();
    expect(await count(ctx.db.sql, 'SELECT 1 FROM user_sync.deferred_syncs WHERE user_id = $1', [last])).toBe(1);
  });

  it('before-user-created for an OAuth sign-up notes the provider, its subject and the e-mail, lower-cased', async () => {
    const signUp = oauthSignUp('Octo.Cat@Example.com');
    const { throwawayId, body } = beforeUserCreatedBody(signUp);
    const signed = sign(NEW_SECRET, body);
    await post(ctx.url, signed.body, signed.headers).expect(200, {});
    const [note] = await ctx.db.sql.query('SELECT provider, provider_id, email FROM user_sync.deferred_syncs WHERE user_id = $1', [throwawayId]);
    expect(note).toEqual({ provider: 'github', provider_id: signUp.subject, email: 'octo.cat@example.com' });
  });
});

describe('a before-user-created user gets its profile once it is stored, with no other call', () => {
  const secret = newWebhookSecret();

  describe.each([
    ['the deferred-sync poller', { DEFERRED_SYNC_INTERVAL_SECONDS: '1' }],
    ['the reconcile', { RECONCILE_INTERVAL_SECONDS: '2' }],
  ])('through %s', (_path, intervals) => {
    const ctx = useTestApp({ env: { WEBHOOK_SECRET: secret, ...intervals } });
    // One interval, and 2 s for the run that picks it up to finish on a loaded machine.
    const seconds = Number(Object.values(intervals)[0]);

    it('an OAuth sign-up, stored under another id than the hook showed, within one interval', async () => {
      const signUp = oauthSignUp(`oauth-later-${randomUUID()}@example.com`);
      const { throwawayId, body } = beforeUserCreatedBody(signUp);
      const signed = sign(secret, body);
      await post(ctx.url, signed.body, signed.headers).expect(200, {});
      const id = await storeOAuthUser(ctx.db.sql, signUp);

      const profile = await waitFor(() => profileOf(ctx.db.sql, id), {
        timeoutMs: (seconds + 2) * 1000,
        intervalMs: 100,
        what: `the profile of an OAuth user stored after before-user-created, within one ${seconds} s interval`,
      });
      expect(profile).toMatchObject({ id, email: signUp.email });
      expect(await count(ctx.db.sql, 'SELECT 1 FROM user_sync.deferred_syncs WHERE user_id = $1', [throwawayId])).toBe(0);
    });

    it('within one interval', async () => {
      const id = randomUUID();
      const signed = sign(secret, authHookBody('before-user-created', { id, email: 'later@example.com' }));
      await post(ctx.url, signed.body, signed.headers).expect(200, {});
      // Supabase Auth stores the user after the hook allowed it.
      await insertAuthUser(ctx.db.sql, { id, email: 'later@example.com' });

      const profile = await waitFor(() => profileOf(ctx.db.sql, id), {
        timeoutMs: (seconds + 2) * 1000,
        intervalMs: 100,
        what: `the profile of a user stored after before-user-created, within one ${seconds} s interval`,
      });
      expect(profile).toMatchObject({ id, email: 'later@example.com' });
      expect(await count(ctx.db.sql, 'SELECT 1 FROM user_sync.deferred_syncs WHERE user_id = $1', [id])).toBe(0);
    });
  });
});

describe('Database Webhooks (service token)', () => {
  const ctx = useTestApp({
    env: { LOG_LEVEL: 'debug', SERVICE_TOKENS: `admin:${ADMIN_TOKEN},reader[read]:${READER_TOKEN},supabase-db[webhook]:${HOOK_TOKEN}` },
  });
  const send = (body: string) => post(ctx.url, body, bearer(HOOK_TOKEN));

  it('INSERT, UPDATE (email changed) and DELETE each bring the profile to the state of auth.users', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'first@example.com' });
    const inserted = await send(databaseWebhookBody('INSERT', authUsersRecord(id, 'first@example.com'), null)).expect(200);
    expect(inserted.body).toMatchObject({ received: true, outcome: 'synced', userId: id, action: 'created' });
    expect(await profileOf(ctx.db.sql, id)).toMatchObject({ email: 'first@example.com' });

    await ctx.db.sql.query(`UPDATE auth.users SET email = 'second@example.com' WHERE id = $1`, [id]);
    const updated = await send(
      databaseWebhookBody('UPDATE', authUsersRecord(id, 'second@example.com'), authUsersRecord(id, 'first@example.com')),
    ).expect(200);
    expect(updated.body).toMatchObject({ outcome: 'synced', action: 'updated' });
    expect(await profileOf(ctx.db.sql, id)).toMatchObject({ email: 'second@example.com' });

    await ctx.db.sql.query('DELETE FROM auth.users WHERE id = $1', [id]);
    const deleted = await send(databaseWebhookBody('DELETE', null, authUsersRecord(id, 'second@example.com'))).expect(200);
    expect(deleted.body).toMatchObject({ outcome: 'synced', action: 'deleted' });
    expect(await profileOf(ctx.db.sql, id)).toBeNull();
  });

  it('the same events in reverse order leave the same final state', async () => {
    // A user created, renamed, then deleted, and one created then renamed: events arrive backwards.
    const gone = await insertAuthUser(ctx.db.sql, { email: 'gone-v2@example.com' });
    const kept = await insertAuthUser(ctx.db.sql, { email: 'kept-v2@example.com' });
    await ctx.db.sql.query('DELETE FROM auth.users WHERE id = $1', [gone]);

    const goneEvents = [
      databaseWebhookBody('INSERT', authUsersRecord(gone, 'gone-v1@example.com'), null),
      databaseWebhookBody('UPDATE', authUsersRecord(gone, 'gone-v2@example.com'), authUsersRecord(gone, 'gone-v1@example.com')),
      databaseWebhookBody('DELETE', null, authUsersRecord(gone, 'gone-v2@example.com')),
    ];
    const keptEvents = [
      databaseWebhookBody('INSERT', authUsersRecord(kept, 'kept-v1@example.com'), null),
      databaseWebhookBody('UPDATE', authUsersRecord(kept, 'kept-v2@example.com'), authUsersRecord(kept, 'kept-v1@example.com')),
    ];
    for (const body of [...goneEvents].reverse()) await send(body).expect(200);
    for (const body of [...keptEvents].reverse()) await send(body).expect(200);

    expect(await profileOf(ctx.db.sql, gone)).toBeNull();
    expect(await profileOf(ctx.db.sql, kept)).toMatchObject({ email: 'kept-v2@example.com' });
    // The stale INSERT, arriving last, read the current row: nothing went back to v1.
    expect((await auditRows(ctx.db.sql, kept)).map((row) => row.action)).toEqual(['created']);
  });

  it('a delivery sent twice has one effect; an event for another table is acknowledged and ignored', async () => {
    const id = await insertAuthUser(ctx.db.sql);
    const body = databaseWebhookBody('INSERT', authUsersRecord(id, 'twice@example.com'), null);
    expect((await send(body).expect(200)).body.outcome).toBe('synced');
    expect((await send(body).expect(200)).body).toMatchObject({ outcome: 'duplicate', userId: id });
    expect(await auditRows(ctx.db.sql, id)).toHaveLength(1);

    const other = await send(databaseWebhookBody('INSERT', { id: 1, total: 9 }, null, { schema: 'public', table: 'orders' })).expect(200);
    expect(other.body).toMatchObject({ received: true, outcome: 'ignored', reason: expect.stringContaining('public.orders') });
  });

  it('a token without the webhook scope gets 403, none gets 401', async () => {
    const body = databaseWebhookBody('INSERT', authUsersRecord(randomUUID(), 'x@example.com'), null);
    const reader = await post(ctx.url, body, bearer(READER_TOKEN)).expect(403);
    expect(reader.body).toMatchObject({ code: 'forbidden', requiredScope: 'webhook' });
    expect((await post(ctx.url, body, { 'content-type': 'application/json' }).expect(401)).body.code).toBe('unauthorized');
    expect((await post(ctx.url, body, bearer('not-a-token-at-all-0123456789abcdef')).expect(401)).body.code).toBe('unauthorized');
  });

  it('an auth.users event without a user id, or with a bad one, is 400', async () => {
    for (const body of [
      databaseWebhookBody('INSERT', { email: 'no-id@example.com' }, null),
      databaseWebhookBody('DELETE', null, { id: 'not-a-uuid' }),
      jsonbText({ type: 'TRUNCATE', table: 'users', schema: 'auth', record: null, old_record: null }),
    ]) {
      const res = await send(body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('invalid_request');
    }
  });

  it('a body over the limit is 413, a wrong media type 415', async () => {
    const big = databaseWebhookBody('INSERT', { ...authUsersRecord(randomUUID(), 'big@example.com'), pad: 'x'.repeat(1024 * 1024) }, null);
    expect((await send(big)).status).toBe(413);
    const xml = await request(ctx.url).post('/webhooks/supabase').set({ authorization: `Bearer ${HOOK_TOKEN}`, 'content-type': 'text/xml' }).send('<a/>');
    expect(xml.status).toBe(415);
  });

  it('a body announced over the limit is refused before any of it is sent', async () => {
    // Headers only: a server that waited for the body would never answer.
    const { hostname, port } = new URL(ctx.url);
    const socket = createConnection({ host: hostname, port: Number(port) });
    try {
      socket.write(
        'POST /webhooks/supabase HTTP/1.1\r\n' +
          `Host: ${hostname}\r\nAuthorization: Bearer ${HOOK_TOKEN}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${64 * 1024 * 1024}\r\n\r\n`,
      );
      const [answer] = (await once(socket, 'data')) as [Buffer];
      expect(answer.toString('latin1')).toMatch(/^HTTP\/1\.1 413 /);
    } finally {
      socket.destroy();
    }
  });

  it('a chunked body is refused once it passes the limit, without waiting for the rest', async () => {
    // No Content-Length to refuse on: the server counts bytes as they come. The body is never
    // finished (no last chunk), so only a server that stops at the limit answers at all.
    const { hostname, port } = new URL(ctx.url);
    const socket = createConnection({ host: hostname, port: Number(port) });
    try {
      socket.write(
        'POST /webhooks/supabase HTTP/1.1\r\n' +
          `Host: ${hostname}\r\nAuthorization: Bearer ${HOOK_TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
      );
      const chunk = 'x'.repeat(64 * 1024);
      const answer = once(socket, 'data') as Promise<[Buffer]>;
      // 1 MiB (the default WEBHOOK_BODY_LIMIT) and one chunk more.
      for (let sent = 0; sent <= 1024 * 1024; sent += chunk.length) socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      const [data] = await answer;
      expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 413 /);
    } finally {
      socket.destroy();
    }
  });

  it('never logs the record: no password hash or token from the payload reaches the logs', async () => {
    const id = await insertAuthUser(ctx.db.sql);
    const secret = `LEAK-${randomUUID()}`;
    await send(databaseWebhookBody('INSERT', authUsersRecord(id, 'leak@example.com', secret), null)).expect(200);
    await send(databaseWebhookBody('INSERT', { ...authUsersRecord(id, 'leak@example.com', secret), id: 'broken' }, null)).expect(400);

    const logs = ctx.t.logs();
    expect(logs).toContain('webhook delivery handled');
    expect(logs).not.toContain(secret);
    expect(logs).not.toContain(HOOK_TOKEN);
    const handled = logs
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.msg === 'webhook delivery handled' && line.userId === id);
    expect(handled).toMatchObject({ kind: 'database', outcome: 'synced', action: 'created', caller: 'supabase-db', latencyMs: expect.any(Number) });
    expect(handled!.deliveryId).toMatch(/^db:[0-9a-f]{64}$/);
  });
});

describe('fixtures: a Database Webhook body is PostgreSQL\'s jsonb::text', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.close();
  });

  it('renders as the database does: ", " and ": ", keys shorter first then bytewise, strings escaped alike', async () => {
    const id = randomUUID();
    const values = [
      JSON.parse(databaseWebhookBody('UPDATE', authUsersRecord(id, 'a@example.com'), authUsersRecord(id, 'b@example.com'))),
      { b: [1, 2, { dd: null, c: true }], a: 'quote " backslash \\ newline \n tab \t control \u0001 é ∑ 😀', aa: {}, é: [], z: 1.5, ab: -3 },
    ];
    for (const value of values) {
      const [row] = await db.sql.query<{ text: string }>('SELECT $1::jsonb::text AS text', [JSON.stringify(value)]);
      expect(jsonbText(value)).toBe(row!.text);
    }
  });
});
