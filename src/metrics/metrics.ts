/**
 * Prometheus metrics, one registry per app (so tests and several apps in a process never mix
 * their counts): syncs by action and path, webhook deliveries by outcome, request durations,
 * reconcile runs, the missing users the last reconcile found, and, with capture on, the changes
 * drained and the queue's depth and lag. Served on GET /metrics.
 */
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DrainOutcome, DrainReport } from '../capture/drain.ts';
import type { CaptureStatus } from '../capture/install.ts';
import type { SyncSource } from '../sync/profile-store.ts';

const DRAIN_OUTCOMES: readonly DrainOutcome[] = ['created', 'updated', 'unchanged', 'deleted', 'refused'];

/** The queue as a scrape reads it; null depth: the queue table is gone (capture uninstalled). */
type CaptureQueue = Pick<CaptureStatus, 'queueDepth' | 'oldestChangeAgeSeconds'>;

/** Where a failed look at the queue is said: at debug, since the scrape itself still succeeds. */
interface DebugLog {
  debug(object: Record<string, unknown>, message: string): void;
}

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

  readonly syncBatchSize = new Histogram({
    name: 'user_sync_sync_batch_size',
    help: 'One-user syncs (POST /sync, webhook deliveries) written together by one statement: users per statement.',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
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

  readonly captureChanges = new Counter({
    name: 'user_sync_capture_changes_total',
    help: 'Users the capture drain took off the queue, each counted once per batch, by outcome (created, updated, unchanged, deleted, refused).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'user_sync_' });
  }

  /** Counts a drained batch's users by outcome (the runtime's `observers.capture`). */
  countCaptureChanges(report: DrainReport): void {
    for (const outcome of DRAIN_OUTCOMES) {
      if (report.outcomes[outcome] > 0) this.captureChanges.inc({ outcome }, report.outcomes[outcome]);
    }
  }

  /**
   * With capture on: the queue's depth and the age of its oldest change, read at each scrape
   * through `queue` (one query for both gauges). A failed read fails no scrape: both gauges are
   * left without a sample (not a stale or made-up value) and the failure is logged at debug.
   */
  watchCaptureQueue(queue: () => Promise<CaptureQueue>, log: DebugLog): void {
    // Both gauges are collected in the same scrape (prom-client collects all metrics at once):
    // the first starts the read, the second shares it.
    let reading: Promise<CaptureQueue | undefined> | undefined;
    const read = () => {
      reading ??= queue()
        .catch((error: unknown) => {
          log.debug({ err: error }, 'capture queue metrics: the queue could not be read; its gauges are left out of this scrape');
          return undefined;
        })
        .finally(() => {
          reading = undefined;
        });
      return reading;
    };
    /** A gauge read from the queue at scrape time, left out of the scrape when the queue cannot be read. */
    const queueGauge = (name: string, help: string, value: (found: CaptureQueue) => number) => {
      const gauge: Gauge = new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          const found = await read();
          if (found === undefined || found.queueDepth === null) gauge.remove({});
          else gauge.set(value(found));
        },
      });
    };
    queueGauge('user_sync_capture_queue_depth', 'Changes of auth.users recorded by the capture triggers and not yet drained.', (found) => found.queueDepth!);
    queueGauge(
      'user_sync_capture_lag_seconds',
      'Age of the oldest change waiting in the capture queue, in seconds; 0 when the queue is empty.',
      (found) => found.oldestChangeAgeSeconds ?? 0,
    );
    // Every outcome shows from the start, at 0, so rate() has a series before the first change.
    for (const outcome of DRAIN_OUTCOMES) this.captureChanges.inc({ outcome }, 0);
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
