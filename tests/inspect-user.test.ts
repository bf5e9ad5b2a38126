/** GET /users/:userId: every state, and that inspecting writes nothing. */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startApp, type TestApp } from './helpers/app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { count, insertAuthUser, profileOf, updateAuthUser } from './helpers/users.ts';

describe('GET /users/:userId', () => {
  let db: TestDatabase;
  let t: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await startApp(db);
  });
  afterAll(async () => {
    await t?.close();
    await db?.close();
  });

  const inspect = async (id: string) => (await request(t.url).get(`/users/${id}`).set(auth).expect(200)).body;

  it('missing: a user without a profile, with what a sync would write', async () => {
    const id = await insertAuthUser(db.sql, { email: 'm@example.com' });
    expect(await inspect(id)).toEqual({
      userId: id,
      state: 'missing',
      changes: [{ field: 'email', from: null, to: 'm@example.com' }],
    });
    expect(await profileOf(db.sql, id)).toBeNull();
  });

  it('in_sync after a sync; stale after auth.users changes', async () => {
    const id = await insertAuthUser(db.sql, { email: 's@example.com', user_metadata: { full_name: 'Old' } });
    await request(t.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(await inspect(id)).toEqual({ userId: id, state: 'in_sync', changes: [] });

    await updateAuthUser(db.sql, id, { user_metadata: { full_name: 'New' } });
    expect(await inspect(id)).toEqual({
      userId: id,
      state: 'stale',
      changes: [{ field: 'full_name', from: 'Old', to: 'New' }],
    });
    expect(await profileOf(db.sql, id)).toMatchObject({ full_name: 'Old' });
  });

  it('orphaned: a profile whose user is gone', async () => {
    const id = randomUUID();
    await db.sql.query(`INSERT INTO public.users (id, email) VALUES ($1, 'orphan@example.com')`, [id]);
    const body = await inspect(id);
    expect(body.state).toBe('orphaned');
    expect(body.changes).toContainEqual({ field: 'email', from: 'orphan@example.com', to: null });
  });

  it('not_found: in neither table', async () => {
    expect(await inspect(randomUUID())).toMatchObject({ state: 'not_found', changes: [] });
  });

  it('inspecting never writes', async () => {
    const before = await count(db.sql, 'SELECT 1 FROM user_sync.audit_log');
    const id = await insertAuthUser(db.sql);
    await inspect(id);
    await inspect(id);
    expect(await count(db.sql, 'SELECT 1 FROM user_sync.audit_log')).toBe(before);
    expect(await profileOf(db.sql, id)).toBeNull();
  });
});
