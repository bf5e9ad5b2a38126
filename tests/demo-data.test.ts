/**
 * The first-run experience (done-when 1 of the service core): the demo data shows missing users
 * at once, a sync creates one profile, a second sync changes nothing, and the list shrinks by one.
 * On PGlite this goes through embedded mode itself; on PostgreSQL, through the same seed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config/config.ts';
import { DEMO, demoUserId } from '../src/embedded/demo-seed.ts';
import { ADMIN_TOKEN, auth, startApp, type TestApp } from './helpers/app.ts';
import { createTestDatabase, onPostgres, type TestDatabase } from './helpers/database.ts';

const listMissing = async (url: string) => {
  const res = await request(url).get('/users/missing').query({ limit: 1000 }).set(auth).expect(200);
  expect(res.body.nextCursor).toBeNull();
  return res.body.users as { id: string; email: string | null }[];
};

describe('the demo data', () => {
  let db: TestDatabase | undefined;
  let t: TestApp;

  beforeAll(async () => {
    if (onPostgres) {
      db = await createTestDatabase({ seed: true });
      t = await startApp(db);
    } else {
      // Embedded mode exactly as `npm start` runs it, but in memory.
      t = await startApp(null, { EMBEDDED_DATA_DIR: 'memory://' });
    }
  });
  afterAll(async () => {
    await t?.close();
    await db?.close();
  });

  it('lists the seeded users that lack a profile; a sync creates one, then nothing; the list shrinks by one', async () => {
    const missing = await listMissing(t.url);
    expect(missing).toHaveLength(DEMO.missing);
    expect(missing.every((user) => user.email?.endsWith('@example.com'))).toBe(true);

    const target = missing[0]!;
    const created = await request(t.url).post(`/sync/${target.id}`).set(auth).expect(200);
    expect(created.body).toMatchObject({ action: 'created', profile: { id: target.id, email: target.email } });
    expect(created.body.profile.full_name).toEqual(expect.any(String));
    await request(t.url).post(`/sync/${target.id}`).set(auth).expect(200, /"action":"unchanged"/);

    const after = await listMissing(t.url);
    expect(after).toHaveLength(DEMO.missing - 1);
    expect(after.map((user) => user.id)).not.toContain(target.id);
  });

  it('shows one stale profile and two orphans to repair', async () => {
    const profileIds = [...Array.from({ length: DEMO.staleUser }, (_, i) => demoUserId(i + 1)), demoUserId(37), demoUserId(38)];
    const states = new Map<string, string[]>();
    for (const id of profileIds) {
      const { body } = await request(t.url).get(`/users/${id}`).set(auth).expect(200);
      states.set(body.state, [...(states.get(body.state) ?? []), id]);
    }
    expect(states.get('stale')).toEqual([demoUserId(DEMO.staleUser)]);
    expect(states.get('orphaned')).toEqual([demoUserId(37), demoUserId(38)]);
    expect(states.get('in_sync')).toHaveLength(DEMO.inSync);
  });
});

describe('the embedded data folder', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'usersync-embedded-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps data across restarts and seeds only the first time', async () => {
    const config = loadConfig({ EMBEDDED_DATA_DIR: dir, SERVICE_TOKENS: `admin:${ADMIN_TOKEN}`, LOG_LEVEL: 'silent' });
    const first = await buildApp(config);
    const before = (await first.inject({ method: 'GET', url: '/users/missing?limit=1000', headers: auth })).json<{
      users: { id: string }[];
    }>();
    const synced = before.users[0]!.id;
    expect((await first.inject({ method: 'POST', url: `/sync/${synced}`, headers: auth })).json()).toMatchObject({
      action: 'created',
    });
    await first.close();

    const second = await buildApp(config);
    const after = (await second.inject({ method: 'GET', url: '/users/missing?limit=1000', headers: auth })).json<{
      users: { id: string }[];
    }>();
    await second.close();
    expect(after.users).toHaveLength(before.users.length - 1);
    expect(after.users.map((user) => user.id)).not.toContain(synced);
  });
});
