/**
 * How soon a sign-up's profile is there with capture: the real service (src/server.ts, a child
 * process, CAPTURE on, default poll and batch size) drains while sign-ups are written as Supabase
 * Auth writes them (capture-signups.ts), at a steady rate and in a burst.
 *
 * The latency of a sign-up is (the moment a watcher hears its profile row committed) − (the moment
 * its own COMMIT was acknowledged to the writer), both read with performance.now() in this process.
 * The watcher: a statement-level AFTER INSERT trigger the bench puts on public.users, which
 * pg_notify()s the inserted ids (in chunks under the payload limit) to a connection LISTENing in
 * this process. PostgreSQL hands a notification to a listener only once the notifying transaction
 * is committed and visible to it, so the moment it is heard is an upper bound of the moment the
 * profile became visible, late by the delivery (well under a millisecond here); it covers any
 * number of outstanding users at no polling cost. The trigger costs the drain one plpgsql call per
 * batch, included in the figures. No database clock is read.
 *
 * The baseline is the same measurement on a database whose handle_new_user trigger writes the
 * profile inside the sign-up's own transaction: the floor of the method (the profile is visible at
 * the commit), measured alternately with the service.
 */
import type pg from 'pg';
import { adminClient, loadAverage, type CaptureDatabase } from './capture-database.ts';
import { closeAll, openAuthConnections, writeSignUpsFlatOut, writeSignUpsPaced } from './capture-signups.ts';
import { compare, type Comparison } from './report.ts';
import type { BenchContext } from './section.ts';
import { startService, type ServiceChild } from './service-child.ts';

const CHANNEL = 'bench_profile_inserted';

/** Ids per notification: 36 characters and a comma each, under the 8000-byte payload limit. */
const IDS_PER_NOTIFICATION = 200;

const watcherSql = `
CREATE FUNCTION public.bench_profile_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  chunk text;
BEGIN
  FOR chunk IN
    SELECT string_agg(id::text, ',') FROM (SELECT id, (row_number() OVER () - 1) / ${IDS_PER_NOTIFICATION} AS part FROM inserted) s GROUP BY part
  LOOP
    PERFORM pg_notify('${CHANNEL}', chunk);
  END LOOP;
  RETURN NULL;
END
$$;
CREATE TRIGGER bench_profile_inserted
  AFTER INSERT ON public.users REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION public.bench_profile_inserted();`;

/** Hears profile inserts; records when each id was first heard. */
class ProfileWatcher {
  readonly seenAt = new Map<string, number>();
  readonly #client: pg.Client;

  private constructor(client: pg.Client) {
    this.#client = client;
  }

  static async open(database: CaptureDatabase): Promise<ProfileWatcher> {
    const client = await adminClient(database);
    const watcher = new ProfileWatcher(client);
    client.on('notification', (message) => {
      const now = performance.now();
      for (const id of (message.payload ?? '').split(',')) if (!watcher.seenAt.has(id)) watcher.seenAt.set(id, now);
    });
    await client.query(`LISTEN ${CHANNEL}`);
    return watcher;
  }

  /** Resolves once every id has been heard; throws after `timeoutMs`. */
  async waitForAll(ids: Iterable<string>, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    const pending = [...ids];
    for (;;) {
      const missing = pending.filter((id) => !this.seenAt.has(id));
      if (missing.length === 0) return;
      if (performance.now() > deadline) throw new Error(`${missing.length} profile(s) not seen within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  close = () => this.#client.end();
}

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface Side {
  name: string;
  database: CaptureDatabase;
  watcher: ProfileWatcher;
}

/** Latencies (ms) of the sign-ups one run wrote, once every profile has been heard. */
async function measureRun(
  side: Side,
  write: (clients: pg.Client[], onCommit: (id: string, at: number) => void) => Promise<unknown>,
  connections: number,
): Promise<number[]> {
  const committedAt = new Map<string, number>();
  const clients = await openAuthConnections(side.database.url, connections);
  try {
    await write(clients, (id, at) => committedAt.set(id, at));
  } finally {
    await closeAll(clients);
  }
  await side.watcher.waitForAll(committedAt.keys(), 60_000);
  return [...committedAt].map(([id, at]) => side.watcher.seenAt.get(id)! - at);
}

export async function captureLatency(
  context: BenchContext,
  databases: { captured: CaptureDatabase; synchronous: CaptureDatabase },
  /** Extra environment for the service (e.g. CAPTURE_POLL_MS), for experiments. */
  serviceEnv: Record<string, string> = {},
): Promise<Comparison[]> {
  const rate = 200;
  const seconds = context.quick ? 3 : 10;
  const rounds = context.quick ? 1 : 2;
  const burst = context.quick ? 5_000 : 10_000;
  const steadyConnections = 4;
  const burstConnections = 8;

  for (const database of [databases.captured, databases.synchronous]) {
    const admin = await adminClient(database);
    try {
      await admin.query(watcherSql);
    } finally {
      await admin.end();
    }
  }
  const service: ServiceChild = await startService({
    DATABASE_URL: databases.captured.serviceUrl,
    CAPTURE: 'on',
    RECONCILE_INTERVAL_SECONDS: '0',
    DEFERRED_SYNC_INTERVAL_SECONDS: '0',
    RATE_LIMIT_MAX: '1000000',
    ...serviceEnv,
  });
  const captured: Side = { name: 'capture', database: databases.captured, watcher: await ProfileWatcher.open(databases.captured) };
  const floor: Side = { name: 'handle_new_user', database: databases.synchronous, watcher: await ProfileWatcher.open(databases.synchronous) };
  try {
    const lags: number[] = [];
    const paced = (side: Side) =>
      measureRun(
        side,
        async (clients, onCommit) => {
          const run = await writeSignUpsPaced(clients, rate, seconds, onCommit);
          lags.push(run.maxStartLagMs);
          context.log(`${side.name}: ${run.count} sign-ups at ${run.achievedPerSecond.toFixed(1)}/s, latest start ${run.maxStartLagMs.toFixed(1)} ms behind schedule`);
        },
        steadyConnections,
      );
    const flatOut = (side: Side) =>
      measureRun(
        side,
        async (clients, onCommit) => {
          const ms = await writeSignUpsFlatOut(clients, burst, onCommit);
          context.log(`${side.name}: burst of ${burst} sign-ups written in ${(ms / 1000).toFixed(1)} s (${(burst / (ms / 1000)).toFixed(0)}/s)`);
        },
        burstConnections,
      );

    // Warm-up: connections, prepared statements, the service's drain statement; not measured.
    for (const side of [captured, floor]) await measureRun(side, (clients, onCommit) => writeSignUpsPaced(clients, rate, 1, onCommit), steadyConnections);

    const loadBefore = loadAverage();
    const steady = { service: [] as number[], baseline: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      // ABBA: the service first in even rounds, the floor first in odd ones.
      const pair: [Side, number[]][] = [
        [captured, steady.service],
        [floor, steady.baseline],
      ];
      for (const [side, into] of round % 2 === 0 ? pair : pair.reverse()) into.push(...(await paced(side)));
    }
    const bursts = { service: await flatOut(captured), baseline: await flatOut(floor) };
    const admin = await adminClient(databases.captured);
    try {
      const { rows } = await admin.query<{ queued: number }>('SELECT count(*)::int AS queued FROM user_sync.changes');
      if (rows[0]!.queued !== 0) throw new Error(`the service left ${rows[0]!.queued} change(s) queued`);
    } finally {
      await admin.end();
    }

    const summary = (values: number[]) =>
      `p50 ${percentile(values, 50).toFixed(1)}, p99 ${percentile(values, 99).toFixed(1)}, max ${Math.max(...values).toFixed(1)} ms`;
    context.log(`steady: capture ${summary(steady.service)}; floor ${summary(steady.baseline)}`);
    context.log(`burst: capture ${summary(bursts.service)}; floor ${summary(bursts.baseline)}`);

    const method =
      'Latency = (a LISTENing bench connection hears the profile row committed: a statement-level AFTER INSERT trigger on public.users ' +
      'notifies the ids) − (the writer got its COMMIT acknowledged), both performance.now() in the bench process; an upper bound, ' +
      'no database clock. Service: src/server.ts in a child process, CAPTURE=on, default CAPTURE_POLL_MS and CAPTURE_BATCH_SIZE, drained on its LISTEN' +
      `${Object.keys(serviceEnv).length > 0 ? ` (overridden: ${JSON.stringify(serviceEnv)})` : ''}. ` +
      "Baseline: the method's floor, the same measurement where handle_new_user writes the profile in the sign-up's own transaction. " +
      `Sign-ups as Supabase Auth writes them (INSERT + 3 UPDATEs, supabase_auth_admin); ${databases.captured.users}+ users. ` +
      `1-min load average ${loadBefore} → ${loadAverage()}.`;
    const steadyNotes = `${rate} sign-ups/s for ${seconds} s on ${steadyConnections} connections, ${rounds} round(s) per side alternated, ${steady.service.length} sign-ups per side pooled; latest start behind schedule ${Math.max(...lags).toFixed(1)} ms. ${method}`;
    const burstNotes = `${burst} sign-ups flat out on ${burstConnections} connections, once per side (service first). No target was set for a burst: the steady one is shown for scale. ${method}`;
    const section = 'capture: commit → profile visible';
    const baselineName = "handle_new_user (the method's floor)";
    const row = (metric: string, service: number[], baseline: number[], p: number, target: number, notes: string) =>
      compare({
        section,
        metric,
        unit: 'ms',
        service: percentile(service, p),
        baseline: percentile(baseline, p),
        baselineName,
        target: { of: 'value', op: '<=', value: target },
        notes,
      });
    return [
      row(`steady ${rate}/s, p50`, steady.service, steady.baseline, 50, 100, steadyNotes),
      row(`steady ${rate}/s, p99`, steady.service, steady.baseline, 99, 100, steadyNotes),
      row(`burst of ${burst}, p50`, bursts.service, bursts.baseline, 50, 100, burstNotes),
      row(`burst of ${burst}, p99`, bursts.service, bursts.baseline, 99, 100, burstNotes),
    ];
  } finally {
    await captured.watcher.close();
    await floor.watcher.close();
    await service.stop();
  }
}
