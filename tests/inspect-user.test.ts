/** GET /users/:userId: every state, and that inspecting writes nothing. */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { auth, useTestApp } from './helpers/app.ts';
import { count, insertAuthUser, profileOf, updateAuthUser } from './helpers/users.ts';

describe('GET /users/:userId', () => {
  const ctx = useTestApp();

  const inspect = async (id: string) => (await request(ctx.url).get(`/users/${id}`).set(auth).expect(200)).body;

  it('missing: a user without a profile, with what a sync would write', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'm@example.com' });
    expect(await inspect(id)).toEqual({
      userId: id,
      state: 'missing',
      changes: [{ field: 'email', from: null, to: 'm@example.com' }],
    });
    expect(await profileOf(ctx.db.sql, id)).toBeNull();
  });

  it('in_sync after a sync; stale after auth.users changes', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 's@example.com', user_metadata: { full_name: 'Old' } });
    await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(await inspect(id)).toEqual({ userId: id, state: 'in_sync', changes: [] });

    await updateAuthUser(ctx.db.sql, id, { user_metadata: { full_name: 'New' } });
    expect(await inspect(id)).toEqual({
      userId: id,
      state: 'stale',
      changes: [{ field: 'full_name', from: 'Old', to: 'New' }],
    });
    expect(await profileOf(ctx.db.sql, id)).toMatchObject({ full_name: 'Old' });
  });

  it('orphaned: a profile whose user is gone', async () => {
    const id = randomUUID();
    await ctx.db.sql.query(`INSERT INTO public.users (id, email) VALUES ($1, 'orphan@example.com')`, [id]);
    const body = await inspect(id);
    expect(body.state).toBe('orphaned');
    expect(body.changes).toContainEqual({ field: 'email', from: 'orphan@example.com', to: null });
  });

  it('not_found: in neither table', async () => {
    expect(await inspect(randomUUID())).toMatchObject({ state: 'not_found', changes: [] });
  });

  it('inspecting never writes', async () => {
    const before = await count(ctx.db.sql, 'SELECT 1 FROM user_sync.audit_log');
    const id = await insertAuthUser(ctx.db.sql);
    await inspect(id);
    await inspect(id);
    expect(await count(ctx.db.sql, 'SELECT 1 FROM user_sync.audit_log')).toBe(before);
    expect(await profileOf(ctx.db.sql, id)).toBeNull();
  });
});
