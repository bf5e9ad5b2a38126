/** POST /sync/:userId: every action, under every delete policy, on PGlite and on PostgreSQL. */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { auth, useTestApp } from './helpers/app.ts';
import { auditRows, count, insertAuthUser, profileOf, updateAuthUser } from './helpers/users.ts';

describe('POST /sync/:userId', () => {
  const ctx = useTestApp();

  it('creates a missing profile from auth.users, then reports unchanged', async () => {
    const id = await insertAuthUser(ctx.db.sql, {
      email: 'grace@example.com',
      user_metadata: { name: 'Grace Hopper', picture: 'https://img.example.com/g.png', organization_id: '7e57d004-2b97-0e7a-b45f-5387367791cd' },
      app_metadata: { provider: 'github', role: 'editor' },
    });

    const first = await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(first.body).toMatchObject({ userId: id, action: 'created', dryRun: false });
    expect(first.body.profile).toMatchObject({
      id,
      email: 'grace@example.com',
      full_name: 'Grace Hopper', // fell back from user_metadata.full_name to .name
      avatar_url: 'https://img.example.com/g.png',
      role: 'editor',
      organization_id: '7e57d004-2b97-0e7a-b45f-5387367791cd',
    });
    expect(first.body.changes).toContainEqual({ field: 'email', from: null, to: 'grace@example.com' });
    expect(await profileOf(ctx.db.sql, id)).toMatchObject({ email: 'grace@example.com', full_name: 'Grace Hopper' });

    const second = await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(second.body).toMatchObject({ action: 'unchanged', changes: [] });
    expect(second.body.profile).toEqual(first.body.profile);

    const audit = await auditRows(ctx.db.sql, id);
    expect(audit).toEqual([
      { actor: 'admin', action: 'created', source: 'api', changed_fields: ['email', 'full_name', 'avatar_url', 'role', 'organization_id'] },
    ]);
  });

  it('a sync that finds the profile in step only reads it: the row is not locked or rewritten', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'steady@example.com', user_metadata: { full_name: 'In Step' } });
    await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    // xmax is the last transaction that locked or deleted the row version: an upsert that takes
    // the conflict path locks the row even when its WHERE then writes nothing.
    const rowVersion = async () =>
      (await ctx.db.sql.query<{ xmin: string; xmax: string }>('SELECT xmin::text, xmax::text FROM public.users WHERE id = $1', [id]))[0];
    const created = await rowVersion();
    expect(created?.xmax).toBe('0');

    const again = await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(again.body.action).toBe('unchanged');
    expect(await rowVersion()).toEqual(created);
  });

  it('updates only what changed and audits the changed columns', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'before@example.com', user_metadata: { full_name: 'Same Name' } });
    await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    const createdRow = await profileOf(ctx.db.sql, id);

    await updateAuthUser(ctx.db.sql, id, { email: 'after@example.com' });
    const res = await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(res.body.action).toBe('updated');
    expect(res.body.changes).toEqual([{ field: 'email', from: 'before@example.com', to: 'after@example.com' }]);
    const updatedRow = await profileOf(ctx.db.sql, id);
    expect(updatedRow).toMatchObject({ email: 'after@example.com', full_name: 'Same Name' });
    // updated_at is touched on a real change, created_at is not.
    expect(updatedRow!.created_at).toBe(createdRow!.created_at);
    expect(updatedRow!.updated_at).not.toBe(createdRow!.updated_at);

    const audit = await auditRows(ctx.db.sql, id);
    expect(audit.map((row) => [row.action, row.changed_fields])).toEqual([
      ['created', ['email', 'full_name']],
      ['updated', ['email']],
    ]);
  });

  it('a dry run reports the action and changes and writes nothing', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'dry@example.com', user_metadata: { full_name: 'Dry Run' } });
    const auditBefore = await count(ctx.db.sql, 'SELECT 1 FROM user_sync.audit_log');

    const created = await request(ctx.url).post(`/sync/${id}?dryRun=true`).set(auth).expect(200);
    expect(created.body).toMatchObject({ action: 'created', dryRun: true });
    expect(created.body.changes).toEqual([
      { field: 'email', from: null, to: 'dry@example.com' },
      { field: 'full_name', from: null, to: 'Dry Run' },
    ]);
    expect(await profileOf(ctx.db.sql, id)).toBeNull();

    await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    await updateAuthUser(ctx.db.sql, id, { user_metadata: { full_name: 'Renamed' } });
    const rowBefore = await profileOf(ctx.db.sql, id);
    const updated = await request(ctx.url).post(`/sync/${id}?dryRun=true`).set(auth).expect(200);
    expect(updated.body).toMatchObject({ action: 'updated', dryRun: true });
    expect(updated.body.changes).toEqual([{ field: 'full_name', from: 'Dry Run', to: 'Renamed' }]);
    expect(await profileOf(ctx.db.sql, id)).toEqual(rowBefore);

    await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    const unchanged = await request(ctx.url).post(`/sync/${id}?dryRun=true`).set(auth).expect(200);
    expect(unchanged.body).toMatchObject({ action: 'unchanged', changes: [], dryRun: true });

    // Exactly the two real syncs were audited; the three dry runs wrote nothing.
    expect(await count(ctx.db.sql, 'SELECT 1 FROM user_sync.audit_log')).toBe(auditBefore + 2);
  });

  it('a user in neither table is 404 user_not_found', async () => {
    const res = await request(ctx.url).post(`/sync/${randomUUID()}`).set(auth).expect(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 404, code: 'user_not_found' });
  });

  it('a value the column cannot hold is 422 profile_rejected, and nothing is written', async () => {
    const id = await insertAuthUser(ctx.db.sql, { user_metadata: { organization_id: 'not-a-uuid' } });
    const res = await request(ctx.url).post(`/sync/${id}`).set(auth).expect(422);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'profile_rejected', status: 422 });
    expect(res.body.detail).toMatch(/not a valid uuid/);
    expect(JSON.stringify(res.body)).not.toMatch(/invalid input syntax|not-a-uuid|22P02/);
    expect(await profileOf(ctx.db.sql, id)).toBeNull();
    expect(await auditRows(ctx.db.sql, id)).toEqual([]);
  });
});

const deletePolicies = [
  {
    policy: 'delete',
    expectProfile: (row: Record<string, unknown> | null) => expect(row).toBeNull(),
  },
  {
    policy: 'soft',
    expectProfile: (row: Record<string, unknown> | null) => {
      expect(row).not.toBeNull();
      expect(row!.deleted_at).toEqual(expect.any(String));
    },
  },
  {
    policy: 'keep',
    expectProfile: (row: Record<string, unknown> | null) => {
      expect(row).not.toBeNull();
      expect(row!.deleted_at).toBeNull();
    },
  },
] as const;

describe.each(deletePolicies)('DELETE_POLICY=$policy', ({ policy, expectProfile }) => {
  const ctx = useTestApp({ env: { DELETE_POLICY: policy } });

  async function userWithProfile(): Promise<string> {
    const id = await insertAuthUser(ctx.db.sql, { user_metadata: { full_name: 'Leaving Soon' } });
    await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    return id;
  }

  it('a user hard-deleted from auth.users has its profile handled by the policy: deleted', async () => {
    const id = await userWithProfile();
    await ctx.db.sql.query('DELETE FROM auth.users WHERE id = $1', [id]);

    const res = await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(res.body.action).toBe('deleted');
    expectProfile(await profileOf(ctx.db.sql, id));
    expect(res.body.profile).toEqual(await profileOf(ctx.db.sql, id));

    const audit = await auditRows(ctx.db.sql, id);
    expect(audit.map((row) => row.action)).toEqual(policy === 'keep' ? ['created'] : ['created', 'deleted']);
  });

  it('a soft-deleted user (deleted_at set) counts as deleted', async () => {
    const id = await userWithProfile();
    await ctx.db.sql.query(`UPDATE auth.users SET deleted_at = now(), email = NULL WHERE id = $1`, [id]);

    const dry = await request(ctx.url).post(`/sync/${id}?dryRun=true`).set(auth).expect(200);
    expect(dry.body).toMatchObject({ action: 'deleted', dryRun: true });
    expect(await profileOf(ctx.db.sql, id)).toMatchObject({ deleted_at: null });

    const res = await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(res.body.action).toBe('deleted');
    expectProfile(await profileOf(ctx.db.sql, id));

    // Again: the same answer and no further write.
    const auditCount = (await auditRows(ctx.db.sql, id)).length;
    const again = await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(again.body.action).toBe('deleted');
    expect(again.body.changes).toEqual([]);
    expect((await auditRows(ctx.db.sql, id)).length).toBe(auditCount);
  });

  if (policy === 'soft') {
    it('a profile soft-deleted by us is restored if its user is live again', async () => {
      const id = await userWithProfile();
      await ctx.db.sql.query(`UPDATE public.users SET deleted_at = now() WHERE id = $1`, [id]);
      const res = await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
      expect(res.body.action).toBe('updated');
      expect(res.body.changes).toEqual([{ field: 'deleted_at', from: expect.any(String), to: null }]);
    });
  }
});
