/**
 * The periodic reconcile: what one pass repairs, how it copes with a row the table refuses, and
 * that two loops (two replicas) never run at the same time.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { advisoryLockKey } from '../src/db/sql-service-state.ts';
import { startApp, useTestApp, type TestApp } from './helpers/app.ts';
import { createTestDatabase, onPostgres, type TestDatabase } from './helpers/database.ts';
import { count, insertAuthUser, profileOf } from './helpers/users.ts';

const bulkUsers = (db: TestDatabase, n: number) =>
  db.sql.query(
    `INSERT INTO auth.users (id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
     SELECT gen_random_uuid(), 'authenticated', 'authenticated', 'r-' || n || '-' || md5(random()::text) || '@example.com',
            jsonb_build_object('full_name', 'User ' || n), '{}', now(), now()
       FROM generate_series(1, $1::int) AS n`,
    [n],
  );

describe('one reconcile pass', () => {
  const ctx = useTestApp({ env: { RECONCILE_BATCH_SIZE: '100' } });

  it('syncs missing users, completes deferred syncs, applies the delete policy to orphans, and logs its counts', async () => {
    await bulkUsers(ctx.db, 250);
    const refused = await insertAuthUser(ctx.db.sql, { user_metadata: { organization_id: 'not-a-uuid' } });
    const deferred = await insertAuthUser(ctx.db.sql, { email: 'deferred@example.com' });
    await ctx.db.sql.query('INSERT INTO user_sync.deferred_syncs (user_id) VALUES ($1)', [deferred]);
    const orphan = randomUUID();
    await ctx.db.sql.query(`INSERT INTO public.users (id, email) VALUES ($1, 'orphan@example.com')`, [orphan]);
    const softDeleted = await insertAuthUser(ctx.db.sql);
    await ctx.db.sql.query(`INSERT INTO public.users (id) VALUES ($1)`, [softDeleted]);
    await ctx.db.sql.query(`UPDATE auth.users SET deleted_at = now() WHERE id = $1`, [softDeleted]);
    await ctx.db.sql.query(
      `INSERT INTO user_sync.webhook_deliveries (id, kind, received_at) VALUES ('db:old', 'database', now() - interval '100 days')`,
    );

    const report = await ctx.t.app.sync.reconciler.runOnce();

    expect(report).toMatchObject({
      deferred: 1,
      actions: { created: 250, updated: 0, unchanged: 0, deleted: 2 },
      failed: 1,
      pruned: { deliveries: 1, deferred: 0 },
    });
    expect(await profileOf(ctx.db.sql, deferred)).toMatchObject({ email: 'deferred@example.com' });
    expect(await profileOf(ctx.db.sql, refused)).toBeNull();
    expect(await profileOf(ctx.db.sql, orphan)).toBeNull();
    expect(await profileOf(ctx.db.sql, softDeleted)).toBeNull();
    expect(await count(ctx.db.sql, `SELECT 1 FROM user_sync.audit_log WHERE source = 'reconcile' AND actor = 'reconciler'`)).toBe(253);

    // Only the refused user is still missing; a second pass has nothing else to do.
    expect(await ctx.t.app.sync.reconciler.runOnce()).toMatchObject({
      deferred: 0,
      actions: { created: 0, updated: 0, unchanged: 0, deleted: 0 },
      failed: 1,
    });

    const logged = ctx.t
      .logs()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; reconcile?: unknown; userId?: string });
    expect(logged.filter((line) => line.msg === 'reconcile finished')[0]?.reconcile).toEqual(report);
    expect(logged.some((line) => line.msg === 'reconcile could not sync a user' && line.userId === refused)).toBe(true);
  });
});

describe('reconcile batches', () => {
  const ctx = useTestApp({ env: { RECONCILE_BATCH_SIZE: '100' } });

  it('are one statement a page that reads, maps, writes and audits it: no user is read into the process', async () => {
    await bulkUsers(ctx.db, 249);
    const mapped = await insertAuthUser(ctx.db.sql, {
      email: 'mapped@example.com',
      user_metadata: { name: 'Ada Lovelace', avatar_url: 'https://example.com/ada.png', organization_id: randomUUID() },
      app_metadata: { role: 'admin' },
    });
    // The one-user sync of an identical user: the batch must write and audit what it writes.
    const single = await insertAuthUser(ctx.db.sql, {
      email: 'single@example.com',
      user_metadata: { name: 'Ada Lovelace', avatar_url: 'https://example.com/ada.png', organization_id: randomUUID() },
      app_metadata: { role: 'admin' },
    });
    const { engine, reconciler, profiles } = ctx.t.app.sync;
    await engine.sync(single, { actor: 'test', source: 'api' });

    const pages = vi.spyOn(profiles, 'syncPage');
    const reads = vi.spyOn(profiles, 'missingAuthUsers');
    try {
      expect(await reconciler.runOnce()).toMatchObject({ actions: { created: 250, updated: 0, unchanged: 0 }, failed: 0 });
      // 100, 100, 50: the last page knows it is the last, so no empty page follows.
      expect(pages).toHaveBeenCalledTimes(3);
      expect(reads).not.toHaveBeenCalled();
    } finally {
      pages.mockRestore();
      reads.mockRestore();
    }

    const [batchProfile, singleProfile] = [await profileOf(ctx.db.sql, mapped), await profileOf(ctx.db.sql, single)];
    const differing = ['id', 'email', 'organization_id', 'created_at', 'updated_at'];
    const strip = (row: Record<string, unknown> | null) => Object.fromEntries(Object.entries(row!).filter(([key]) => !differing.includes(key)));
    expect(batchProfile).toMatchObject({ email: 'mapped@example.com', full_name: 'Ada Lovelace', role: 'admin' });
    expect(strip(batchProfile)).toEqual(strip(singleProfile));
    const audit = (id: string) =>
      ctx.db.sql.query<{ action: string; changed_fields: string[] }>('SELECT action, changed_fields FROM user_sync.audit_log WHERE user_id = $1', [id]);
    expect(await audit(mapped)).toEqual(await audit(single));
    expect(await count(ctx.db.sql, `SELECT 1 FROM user_sync.audit_log WHERE actor = 'reconciler'`)).toBe(250);
  });
});

describe('two reconcile loops', () => {
  let db: TestDatabase;
  let replicas: TestApp[];

  beforeAll(async () => {
    db = await createTestDatabase();
    replicas = [
      await startApp(db, { RECONCILE_BATCH_SIZE: '100' }),
      await startApp(db, { RECONCILE_BATCH_SIZE: '100' }),
    ];
  });
  afterAll(async () => {
    for (const replica of replicas ?? []) await replica.close();
    await db?.close();
  });

  it('never run at the same time: while one holds the lock, the other skips', async () => {
    const [a, b] = replicas.map((replica) => replica.app.sync);
    const held = await a!.state.exclusively('reconcile', async () => {
      expect(await b!.reconciler.runOnce()).toBeNull();
      expect(await a!.reconciler.runOnce()).toBeNull();
      return 'held';
    });
    expect(held).toEqual({ acquired: true, value: 'held' });
    expect(await b!.reconciler.runOnce()).not.toBeNull();
  });

  it('started together on both replicas, the passes do not overlap: every missing user is created once, none re-checked', async () => {
    await bulkUsers(db, 3_000);
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => replicas[i % 2]!.app.sync.reconciler.runOnce()),
    );
    const done = runs.filter((run) => run !== null);
    expect(done.length).toBeGreaterThanOrEqual(1);
    expect(runs.filter((run) => run === null).length).toBeGreaterThanOrEqual(1);
    // Overlapping passes would read the same missing pages, and the later writes would come back
    // `unchanged`; runs one after another find nothing left to do instead.
    expect(done.reduce((sum, run) => sum + run.actions.created, 0)).toBe(3_000);
    expect(done.reduce((sum, run) => sum + run.actions.unchanged, 0)).toBe(0);
    // And no two finished passes overlapped in time.
    const spans = done
      .map((run) => [Date.parse(run.startedAt), Date.parse(run.startedAt) + run.durationMs] as const)
      .sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
  });

  it.runIf(onPostgres)('skips while any other session holds the advisory lock on the server (PostgreSQL only: PGlite is one session, inside the app)', async () => {
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock($1)', [advisoryLockKey('reconcile')]);
      for (const replica of replicas) expect(await replica.app.sync.reconciler.runOnce()).toBeNull();
      await other.query('SELECT pg_advisory_unlock($1)', [advisoryLockKey('reconcile')]);
      expect(await replicas[0]!.app.sync.reconciler.runOnce()).not.toBeNull();
    } finally {
      await other.end();
    }
  });
});
