/**
 * Another profile table and a custom FIELD_MAP with a fallback chain: the same behaviour as the
 * default `public.users`, on PGlite and on PostgreSQL (done-when 2 of the service core).
 */
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { auth, useTestApp } from './helpers/app.ts';
import { insertAuthUser, profileOf, updateAuthUser } from './helpers/users.ts';

describe('PROFILE_TABLE=public.profiles with a custom FIELD_MAP', () => {
  const ctx = useTestApp({ db: {
      profileSql: `
        CREATE TABLE public.profiles (
          id            uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
          contact_email text,
          display_name  text,
          tier          text,
          preferences   jsonb,
          signed_up_at  timestamptz,
          is_guest      boolean,
          inserted_at   timestamptz NOT NULL DEFAULT now()
        );`,
    }, env: {
      PROFILE_TABLE: 'public.profiles',
      FIELD_MAP: JSON.stringify({
        contact_email: 'email',
        display_name: ['user_metadata.display_name', 'user_metadata.full_name', 'user_metadata.name', 'email'],
        tier: ['app_metadata.plan.tier', 'app_metadata.provider'],
        preferences: 'user_metadata.preferences',
        signed_up_at: 'created_at',
        is_guest: 'is_anonymous',
      }),
    } });

  it('walks the fallback chain, casts to each column type, and lists the user until synced', async () => {
    const id = await insertAuthUser(ctx.db.sql, {
      email: 'nameless@example.com',
      user_metadata: { preferences: { theme: 'dark', digest: false } },
      app_metadata: { provider: 'email', plan: { tier: 'pro' } },
    });

    const listed = async () => {
      const res = await request(ctx.url).get('/users/missing').query({ limit: 1000 }).set(auth).expect(200);
      return res.body.users.map((user: { id: string }) => user.id) as string[];
    };
    expect(await listed()).toContain(id);

    const res = await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(res.body.action).toBe('created');
    const row = await profileOf(ctx.db.sql, id, 'public.profiles');
    expect(row).toMatchObject({
      contact_email: 'nameless@example.com',
      display_name: 'nameless@example.com', // no name in metadata: the chain ends at email
      tier: 'pro', // a nested app_metadata path
      preferences: { theme: 'dark', digest: false },
      is_guest: false,
    });
    expect(row!.signed_up_at).toEqual(expect.any(String));
    expect(res.body.profile).toEqual(row);
    expect(await listed()).not.toContain(id);

    await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200, /"action":"unchanged"/);

    await updateAuthUser(ctx.db.sql, id, { user_metadata: { name: 'Named Later', preferences: { theme: 'light' } } });
    const updated = await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(updated.body.action).toBe('updated');
    expect(updated.body.changes).toEqual([
      { field: 'display_name', from: 'nameless@example.com', to: 'Named Later' },
      { field: 'preferences', from: { theme: 'dark', digest: false }, to: { theme: 'light' } },
    ]);
    expect(await request(ctx.url).get(`/users/${id}`).set(auth).expect(200)).toMatchObject({
      body: { state: 'in_sync' },
    });
  });

  it('with the usual ON DELETE CASCADE, a deleted user is reported deleted and then not found', async () => {
    const id = await insertAuthUser(ctx.db.sql, { user_metadata: { name: 'Cascade' } });
    await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    await ctx.db.sql.query('DELETE FROM auth.users WHERE id = $1', [id]);
    // The cascade already removed the profile: nothing of the user is left anywhere.
    await request(ctx.url).post(`/sync/${id}`).set(auth).expect(404, /user_not_found/);
    expect((await request(ctx.url).get(`/users/${id}`).set(auth).expect(200)).body.state).toBe('not_found');
  });
});
