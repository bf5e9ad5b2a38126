/** GET /metrics: Prometheus text with the service's counts, behind a service token. */
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, auth, useTestApp } from './helpers/app.ts';
import { insertAuthUser } from './helpers/users.ts';

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
});
