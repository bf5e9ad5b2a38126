/**
 * Concurrent syncs of one user: one row, every request a 200, one `created` in the audit log.
 *
 * PostgreSQL only. A sync is one statement, and PGlite runs one statement at a time, in the app's
 * own process: there two syncs of one user never overlap inside the database, so the race these
 * tests are about (two statements both finding no row, or both updating it) cannot happen. On
 * PostgreSQL the app's pool runs them on separate connections, and they really do overlap.
 */
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { auth, useTestApp } from './helpers/app.ts';
import { onPostgres } from './helpers/database.ts';
import { auditRows, count, insertAuthUser } from './helpers/users.ts';

describe.skipIf(!onPostgres)('concurrent syncs of one user (PostgreSQL only: PGlite runs one statement at a time, so syncs cannot race there)', () => {
  const ctx = useTestApp();

  it('200 at once, over real HTTP, leave one row and give two hundred 200s', async () => {
    const id = await insertAuthUser(ctx.db.sql, { user_metadata: { full_name: 'Many Clicks' } });
    // Each on its own connection (supertest opens one per request), all sent before any answer.
    const responses = await Promise.all(
      Array.from({ length: 200 }, () => request(ctx.url).post(`/sync/${id}`).set(auth)),
    );

    expect(responses.map((res) => res.status)).toEqual(Array(200).fill(200));
    const actions = responses.map((res) => res.body.action as string);
    expect(actions.filter((action) => action === 'created')).toHaveLength(1);
    expect(actions.filter((action) => action === 'unchanged')).toHaveLength(199);
    for (const res of responses) expect(res.body.profile).toMatchObject({ id, full_name: 'Many Clicks' });

    expect(await count(ctx.db.sql, 'SELECT 1 FROM public.users WHERE id = $1', [id])).toBe(1);
    expect((await auditRows(ctx.db.sql, id)).map((row) => row.action)).toEqual(['created']);
  });

  it('concurrent syncs racing a change end on the latest state', async () => {
    const id = await insertAuthUser(ctx.db.sql, { email: 'v0@example.com' });
    const syncs = Array.from({ length: 20 }, (_, i) =>
      (async () => {
        if (i === 10) await ctx.db.sql.query(`UPDATE auth.users SET email = 'v1@example.com' WHERE id = $1`, [id]);
        return request(ctx.url).post(`/sync/${id}`).set(auth);
      })(),
    );
    const responses = await Promise.all(syncs);
    expect(responses.every((res) => res.status === 200)).toBe(true);
    // Whatever order they ran in, one more sync after the change settles on the truth.
    const final = await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    expect(final.body.profile.email).toBe('v1@example.com');
    expect(await count(ctx.db.sql, 'SELECT 1 FROM public.users WHERE id = $1', [id])).toBe(1);
  });
});
