/** GET /metrics: Prometheus text with the service's counts, behind a service token. */
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../src/metrics/metrics.ts';
import { ADMIN_TOKEN, auth, startApp, useTestApp } from './helpers/app.ts';
import { signUp } from './helpers/auth-writes.ts';
import { createTestDatabase } from './helpers/database.ts';
import { asOnSupabase } from './helpers/supabase-roles.ts';
import { insertAuthUser, profileOf } from './helpers/users.ts';
import { waitFor } from './helpers/wait-for.ts';

/** The value of one sample line, e.g. user_sync_syncs_total{action="created",path="api"}. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  const line = text
    .split('\n')
    .find((candidate) => candidate.startsWith(`${name}{`) && wanted.every((label) => candidate.includes(label)));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('GET /metrics', () => {
  const ctx = useTestApp();
  const scrape = async () => (await request(ctx.url).get('/metrics').set(auth).expect(200)).text;

  it('counts syncs by action and path, webhook deliveries, reconcile runs, missing users and request durations', async () => {
    const id = await insertAuthUser(ctx.db.sql);
    await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    const hook = JSON.stringify({ type: 'INSERT', table: 'orders', schema: 'public', record: { id: 1 }, old_record: null });
    await request(ctx.url).post('/webhooks/supabase').set('Authorization', `Bearer ${ADMIN_TOKEN}`).set('content-type', 'application/json').send(hook).expect(200);
    for (let i = 0; i < 3; i++) await insertAuthUser(ctx.db.sql);
    await ctx.t.app.sync.reconciler.runOnce();

    const res = await request(ctx.url).get('/metrics').set(auth).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.text;
    expect(sample(text, 'user_sync_syncs_total', { action: 'created', path: 'api' })).toBe(1);
    expect(sample(text, 'user_sync_syncs_total', { action: 'unchanged', path: 'api' })).toBe(1);
    expect(sample(text, 'user_sync_syncs_total', { action: 'created', path: 'reconcile' })).toBe(3);
    expect(sample(text, 'user_sync_webhook_deliveries_total', { kind: 'database', outcome: 'ignored' })).toBe(1);
    expect(sample(text, 'user_sync_reconcile_runs_total', { outcome: 'finished' })).toBe(1);
    expect(text).toMatch(/^user_sync_missing_users 3$/m);
    expect(sample(text, 'user_sync_http_request_duration_seconds_count', { route: '/sync/:userId', status: '200' })).toBe(2);
    expect(text).toContain('user_sync_process_resident_memory_bytes');
    expect(await scrape()).toContain('user_sync_syncs_total');
  });

  it('needs a service token', async () => {
    expect((await request(ctx.url).get('/metrics')).status).toBe(401);
  });

  it('has no capture queue gauges while capture is off', async () => {
    const text = await scrape();
    expect(ctx.t.app.sync.capture.state).toBe('off');
    expect(text).not.toContain('user_sync_capture_queue_depth');
    expect(text).not.toContain('user_sync_capture_lag_seconds');
  });
});

/** One sample's value, or undefined when the metric has no sample (a gauge left unset). */
const gauge = (text: string, name: string) => {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
};

describe('capture metrics', () => {
  it('count each drained user by outcome, and read the queue depth and lag at each scrape', async () => {
    const db = await createTestDatabase();
    const connection = await asOnSupabase(db);
    // The poll a minute away: past its first run, the drain wakes only when notified.
    const env = { CAPTURE: 'on', CAPTURE_POLL_MS: '60000', ...connection };
    try {
      // A first start installs capture; the sign-up then waits in the queue, with no service running.
      await (await startApp(db, env)).close();
      const id = await signUp(db, { email: 'counted@example.com', user_metadata: { full_name: 'Counted' } });
      const t = await startApp(db, env);
      try {
        const scrape = async () => (await request(t.url).get('/metrics').set(auth).expect(200)).text;
        // The drain runs once its listening connection is up, and takes the sign-up.
        let text = await waitFor(
          async () => {
            const scraped = await scrape();
            return sample(scraped, 'user_sync_capture_changes_total', { outcome: 'created' }) === 1 && scraped;
          },
          { timeoutMs: 10_000, what: 'the drained sign-up to be counted' },
        );
        expect(await profileOf(db.sql, id)).toMatchObject({ id, email: 'counted@example.com' });
        for (const outcome of ['updated', 'unchanged', 'deleted', 'refused']) {
          expect(text).toContain(`user_sync_capture_changes_total{outcome="${outcome}"} 0`);
        }
        expect(gauge(text, 'user_sync_capture_queue_depth')).toBe(0);
        expect(gauge(text, 'user_sync_capture_lag_seconds')).toBe(0);

        // Put straight in the queue, the change sends no notification: it waits for the poll.
        await db.sql.query(`INSERT INTO user_sync.changes (user_id, op, created_at) VALUES ($1, 'UPDATE', now() - interval '90 seconds')`, [id]);
        text = await scrape();
        expect(gauge(text, 'user_sync_capture_queue_depth')).toBeGreaterThanOrEqual(1);
        expect(gauge(text, 'user_sync_capture_lag_seconds')).toBeGreaterThanOrEqual(90);
      } finally {
        await t.close();
      }
    } finally {
      await db.close();
    }
  });

  it('a queue that cannot be read fails no scrape: both gauges are left without a sample, and it is logged at debug', async () => {
    const metrics = new Metrics();
    const logged: string[] = [];
    let queue: () => Promise<{ queueDepth: number | null; oldestChangeAgeSeconds: number | null }> = async () => ({
      queueDepth: 3,
      oldestChangeAgeSeconds: 12.5,
    });
    metrics.watchCaptureQueue(() => queue(), { debug: (_object, message) => logged.push(message) });

    let text = await metrics.registry.metrics();
    expect(gauge(text, 'user_sync_capture_queue_depth')).toBe(3);
    expect(gauge(text, 'user_sync_capture_lag_seconds')).toBe(12.5);

    queue = () => Promise.reject(new Error('permission denied for table changes'));
    text = await metrics.registry.metrics();
    expect(gauge(text, 'user_sync_capture_queue_depth')).toBeUndefined();
    expect(gauge(text, 'user_sync_capture_lag_seconds')).toBeUndefined();
    expect(text).toContain('# TYPE user_sync_capture_queue_depth gauge');
    expect(text).not.toMatch(/NaN/);
    // One read serves both gauges.
    expect(logged).toEqual([expect.stringContaining('the queue could not be read')]);

    // An empty queue lags by 0; a queue table that is gone (capture uninstalled) leaves them unset.
    queue = async () => ({ queueDepth: 0, oldestChangeAgeSeconds: null });
    text = await metrics.registry.metrics();
    expect([gauge(text, 'user_sync_capture_queue_depth'), gauge(text, 'user_sync_capture_lag_seconds')]).toEqual([0, 0]);
    queue = async () => ({ queueDepth: null, oldestChangeAgeSeconds: null });
    text = await metrics.registry.metrics();
    expect([gauge(text, 'user_sync_capture_queue_depth'), gauge(text, 'user_sync_capture_lag_seconds')]).toEqual([undefined, undefined]);
  });
});
