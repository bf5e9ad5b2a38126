/**
 * Prometheus metrics, one registry per app (so tests and several apps in a process never mix
 * their counts): syncs by action and path, webhook deliveries by outcome, request durations,
 * reconcile runs, and the missing users the last reconcile found. Served on GET /metrics.
 */
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SyncSource } from '../sync/profile-store.ts';

export class Metrics {
  readonly registry = new Registry();

  readonly syncs = new Counter({
    name: 'user_sync_syncs_total',
    help: 'Profiles synced, by what happened to them and by the path that asked.',
    labelNames: ['action', 'path'] as const,
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: 'user_sync_webhook_deliveries_total',
    help: 'Webhook deliveries, by kind and outcome (synced, duplicate, ignored, deferred, user_not_found, failed).',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly requestDuration = new Histogram({
    name: 'user_sync_http_request_duration_seconds',
    help: 'HTTP request durations, by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly reconcileRuns = new Counter({
    name: 'user_sync_reconcile_runs_total',
    help: 'Reconcile passes, by outcome (finished, skipped: another replica ran one, failed).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly missingUsers = new Gauge({
    name: 'user_sync_missing_users',
    help: 'Auth users without a profile, as the last reconcile pass found them (before repairing them).',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'user_sync_' });
  }

  /** Times every request, labelled by its route pattern (never the raw URL, which holds ids). */
  timeRequests(app: FastifyInstance): void {
    app.addHook('onResponse', async (request, reply) => {
      this.requestDuration.observe(
        { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    });
  }

  countSyncs(action: string, path: SyncSource, count = 1): void {
    if (count > 0) this.syncs.inc({ action, path }, count);
  }
}
