/**
 * Reconcile jobs (POST /reconcile, GET /reconcile/:jobId): progress while they run, correct
 * counts, dry runs that write nothing, one at a time, and a job whose process died resumed on
 * the next start with nothing half-written.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { auth, READER_TOKEN, startApp, useTestApp } from './helpers/app.ts';
import { count, insertAuthUser, updateAuthUser } from './helpers/users.ts';
import { waitFor } from './helpers/wait-for.ts';

const USERS = 20_000;

const seed = (sql: { query: (text: string, params?: unknown[]) => Promise<unknown> }) =>
  sql.query(
    `INSERT INTO auth.users (instance_id, id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
     SELECT '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
            'job-' || n || '@example.com', jsonb_build_object('full_name', 'Job ' || n), '{}', now(), now()
       FROM generate_series(1, $1::int) AS n`,
    [USERS],
  );

interface JobView {
  status: string;
  progress: { done: number; total: number | null; phase: string | null };
  counts: Record<string, number>;
  errors: { userId: string; code: string }[];
}

/** Polls the job until it has finished, keeping every view of it on the way. */
async function watch(url: string, jobId: string): Promise<{ final: JobView; seen: JobView[] }> {
  const seen: JobView[] = [];
  const final = await waitFor(
    async () => {
      const { body } = await request(url).get(`/reconcile/${jobId}`).set(auth).expect(200);
      seen.push(body as JobView);
      return body.status === 'succeeded' || body.status === 'failed' ? (body as JobView) : undefined;
    },
    // Under the test's 60 s, so that a job that never ends fails with this message.
    { timeoutMs: 50_000, what: `reconcile job ${jobId} to finish` },
  );
  return { final, seen };
}

describe('reconcile jobs', () => {
  const ctx = useTestApp({ env: { RECONCILE_BATCH_SIZE: '500' }, prepare: async (db) => void (await seed(db.sql)) });

  it('a dry run over 20,000 missing users reports what it would do and writes nothing', async () => {
    const auditBefore = await count(ctx.db.sql, 'SELECT 1 FROM user_sync.audit_log');
    const { body } = await request(ctx.url).post('/reconcile').set(auth).send({ dryRun: true }).expect(202);
    const { final } = await watch(ctx.url, body.jobId);
    expect(final).toMatchObject({ status: 'succeeded', counts: { created: USERS, updated: 0, deleted: 0, failed: 0 } });
    expect(await count(ctx.db.sql, 'SELECT 1 FROM public.users')).toBe(0);
    expect(await count(ctx.db.sql, 'SELECT 1 FROM user_sync.audit_log')).toBe(auditBefore);
  });

  it('a job over 20,000 missing users reports progress while it runs and finishes with correct counts', async () => {
    const refused = await insertAuthUser(ctx.db.sql, { user_metadata: { organization_id: 'not-a-uuid' } });
    const { body } = await request(ctx.url).post('/reconcile').set(auth).send({ include: ['missing'] }).expect(202);
    const { final, seen } = await watch(ctx.url, body.jobId);
    expect(final).toMatchObject({
      status: 'succeeded',
      progress: { done: USERS + 1, total: USERS + 1 },
      counts: { created: USERS, failed: 1 },
      errors: [{ userId: refused, code: 'profile_rejected' }],
    });
    // Seen mid-way at least once: running, with some but not all done.
    expect(seen.some((view) => view.status === 'running' && view.progress.done > 0 && view.progress.done < USERS)).toBe(true);
    expect(await count(ctx.db.sql, 'SELECT 1 FROM public.users')).toBe(USERS);
  });

  it('stale and orphaned steps update and delete', async () => {
    const [profile] = await ctx.db.sql.query<{ id: string }>('SELECT id::text AS id FROM public.users LIMIT 1');
    await updateAuthUser(ctx.db.sql, profile!.id, { user_metadata: { full_name: 'Renamed by the job' } });
    await ctx.db.sql.query(`INSERT INTO public.users (id, email) VALUES ($1, 'orphan-job@example.com')`, [randomUUID()]);
    const { body } = await request(ctx.url).post('/reconcile').set(auth).send({ include: ['orphaned', 'stale'] }).expect(202);
    const { final } = await watch(ctx.url, body.jobId);
    expect(final).toMatchObject({ status: 'succeeded', counts: { updated: 1, unchanged: USERS - 1, deleted: 1 } });
  });

  it('needs the admin scope, a valid body, and a known job id', async () => {
    expect((await request(ctx.url).post('/reconcile').set('Authorization', `Bearer ${READER_TOKEN}`).send({})).status).toBe(403);
    expect((await request(ctx.url).post('/reconcile').set(auth).send({ include: ['everything'] })).status).toBe(400);
    expect((await request(ctx.url).get(`/reconcile/${randomUUID()}`).set(auth)).body.code).toBe('job_not_found');
  });
});

describe('a reconcile job whose process died', () => {
  const ctx = useTestApp({ env: { RECONCILE_BATCH_SIZE: '500' }, prepare: async (db) => void (await seed(db.sql)) });

  it('is resumed on the next start, where it stopped, with nothing half-written', async () => {
    // A job another process took and worked on halfway, then died: running, its cursor saved.
    const [half] = await ctx.db.sql.query<{ id: string }>(`SELECT id::text AS id FROM auth.users ORDER BY id OFFSET $1 LIMIT 1`, [
      USERS / 2 - 1,
    ]);
    const midway = half!.id;
    await ctx.db.sql.query(`INSERT INTO public.users (id, email) SELECT id, email FROM auth.users WHERE id <= $1`, [midway]);
    const jobId = randomUUID();
    await ctx.db.sql.query(
      `INSERT INTO user_sync.reconcile_jobs (id, status, dry_run, include, requested_by, started_at, heartbeat_at, done, total, counts, phase, cursor)
       VALUES ($1, 'running', false, '{missing}', 'admin', now() - interval '1 minute', now() - interval '1 minute', $2, $3,
               $4, 'missing', $5)`,
      [jobId, USERS / 2, USERS, JSON.stringify({ created: USERS / 2, updated: 0, unchanged: 0, deleted: 0, failed: 0 }), midway],
    );

    // The next start (another app on the same database) takes it up without being asked.
    const restarted = await startApp(ctx.db, { RECONCILE_BATCH_SIZE: '500' });
    try {
      const { final } = await watch(restarted.url, jobId);
      expect(final).toMatchObject({ status: 'succeeded', progress: { done: USERS, total: USERS }, counts: { created: USERS, failed: 0 } });
      expect(await count(ctx.db.sql, 'SELECT 1 FROM public.users')).toBe(USERS);
      // Resumed from its cursor: the first half was not written again.
      expect(await count(ctx.db.sql, `SELECT 1 FROM user_sync.audit_log WHERE actor = 'job:admin'`)).toBe(USERS / 2);

      // Two replicas, a job queued on each at once: the jobs run one after the other.
      const [first, second] = await Promise.all(
        [ctx.url, restarted.url].map(async (url) => (await request(url).post('/reconcile').set(auth).send({ dryRun: true })).body.jobId as string),
      );
      const spans = await Promise.all(
        [first!, second!].map(async (jobId) => {
          await watch(ctx.url, jobId);
          const { body } = await request(ctx.url).get(`/reconcile/${jobId}`).set(auth).expect(200);
          return [Date.parse(body.startedAt as string), Date.parse(body.finishedAt as string)] as const;
        }),
      );
      spans.sort((a, b) => a[0] - b[0]);
      expect(spans[1]![0]).toBeGreaterThanOrEqual(spans[0]![1]);
    } finally {
      await restarted.close();
    }
  });
});
