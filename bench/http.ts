/**
 * HTTP benchmarks: the service's sync paths under load against a bare Fastify server doing the
 * same single-row upsert (bench/servers/bare-upsert.ts). Both run in child processes on one fresh
 * database, are loaded alternately (ABBA) by autocannon on loopback, and each figure is the
 * median over the rounds.
 *
 * The headline baseline is the bare upsert as a named prepared statement: the service prepares
 * its sync statement too, so only then does the ratio measure what the service adds per request.
 *
 * - `sync`: POST /sync/:userId, service token, a random existing user per request, 50 connections.
 * - `sync-1conn`: the same with one connection, one request in flight: latency at low load, where
 *   the service has no concurrent sync to join a request with.
 * - `sync-200conn`: the same with 200 connections, for information.
 * - `sync-replanned`: `sync` against the bare upsert planned on every request, the first
 *   baseline.
 * - `webhook`: POST /webhooks/supabase, a Database Webhook INSERT for a random existing user.
 * - `sync-me`: POST /sync/me, a random user's own HS256 access token.
 */
import { alternate, median } from './lib/alternate.ts';
import { openHttpFixture, type HttpFixture } from './lib/http-fixture.ts';
import { syncMeRequests, syncRequests, webhookRequests } from './lib/http-requests.ts';
import { runLoad, type LoadOptions, type LoadResult } from './lib/load.ts';
import type { ServerProcess } from './lib/process.ts';
import { compare, type Comparison, type Target } from './lib/report.ts';
import type { BenchContext, Section } from './lib/section.ts';

type BaselineKind = 'prepared' | 'replanned';

const BASELINES: Record<BaselineKind, { name: string; note: string }> = {
  prepared: {
    name: 'bare Fastify, one prepared upsert',
    note: "Baseline: the bare upsert as a named prepared statement, planned once per connection like the service's sync statement.",
  },
  replanned: {
    name: 'bare Fastify, one upsert planned per request',
    note: "Baseline as the issue first set it: a plain pool.query, planned on every request (the service's sync statement is prepared).",
  },
};

/** Which baseline a section measures against, and how many connections load each side. */
interface Setup {
  baseline: BaselineKind;
  connections: number;
}

/** Seeded profiles already match their users, so every sync on either side answers `unchanged`. */
const unchanged = (body: string) => body.includes('"action":"unchanged"');

interface Load extends Pick<LoadOptions, 'next' | 'accept'> {
  server: ServerProcess;
}

/** A run's figures, with the server's CPU time per response (NaN where /proc is not there). */
interface Measured extends LoadResult {
  cpuMsPerRequest: number;
}

interface Plan {
  rounds: number;
  seconds: number;
  warmupSeconds: number;
}

const planFor = (context: BenchContext): Plan =>
  context.quick ? { rounds: 2, seconds: 2, warmupSeconds: 1 } : { rounds: 5, seconds: 10, warmupSeconds: 3 };

/**
 * Warms both servers (JIT, pool connections, PostgreSQL's cache), then alternates measured rounds.
 * The baseline is loaded the same way in every section: POST /sync/:userId, random users.
 */
async function measure(context: BenchContext, fixture: HttpFixture, setup: Setup, service: Load) {
  const plan = planFor(context);
  const baseline: Load = { server: fixture.baseline, next: syncRequests(fixture.userIds), accept: unchanged };
  const run = async ({ server, ...load }: Load, seconds: number): Promise<Measured> => {
    const cpuBefore = server.cpuMs() ?? Number.NaN;
    const result = await runLoad({ ...load, url: server.url, seconds, connections: setup.connections });
    return { ...result, cpuMsPerRequest: ((server.cpuMs() ?? Number.NaN) - cpuBefore) / result.responses };
  };
  await run(service, plan.warmupSeconds);
  await run(baseline, plan.warmupSeconds);
  const results = await alternate(
    plan.rounds,
    () => run(service, plan.seconds),
    () => run(baseline, plan.seconds),
  );
  context.log(
    `rounds: service ${results.service.map((r) => r.throughput.toFixed(0)).join(', ')} req/s; ` +
      `baseline ${results.baseline.map((r) => r.throughput.toFixed(0)).join(', ')} req/s`,
  );
  return { plan, setup, ...results };
}

type Metric = 'throughput' | 'p50' | 'p99';

const range = (values: number[], digits: number) =>
  `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;

/** One row: the medians of one metric over the rounds, with their spread in the notes. */
function row(
  section: string,
  measured: Awaited<ReturnType<typeof measure>>,
  metric: Metric,
  target: Target | null,
  extra: string,
): Comparison {
  const service = measured.service.map((result) => result[metric]);
  const baseline = measured.baseline.map((result) => result[metric]);
  const cpu = (results: Measured[]) => median(results.map((result) => result.cpuMsPerRequest)).toFixed(2);
  const digits = metric === 'throughput' ? 0 : 2;
  const { rounds, seconds } = measured.plan;
  const { connections, baseline: kind } = measured.setup;
  return compare({
    section,
    metric,
    unit: metric === 'throughput' ? 'req/s' : 'ms',
    service: median(service),
    baseline: median(baseline),
    baselineName: BASELINES[kind].name,
    target,
    notes:
      (target === null ? 'For information: the issue sets no target for this figure. ' : '') +
      `median of ${rounds} alternated rounds × ${seconds} s, ${connections} connection${connections === 1 ? '' : 's'} on each side, pipelining 1` +
      `${metric === 'throughput' ? '' : ", each round's percentile over every 2xx response's own duration"}; ` +
      `per-round range service ${range(service, digits)}, baseline ${range(baseline, digits)}; ` +
      `server CPU per request (median) service ${cpu(measured.service)} ms, baseline ${cpu(measured.baseline)} ms. ` +
      `${BASELINES[kind].note} ${extra}`,
  });
}

const COMMON =
  'A random existing user per request, profiles already in sync (both sides answer unchanged and write no row). ' +
  'Service: postgres mode, pool 10 like the baseline, concurrent syncs joined into one statement as by default ' +
  '(SYNC_BATCH_MAX 100, SYNC_BATCH_CONCURRENCY 2), info logs to /dev/null, rate limiter on with RATE_LIMIT_MAX=1000000 per 1 s so it never refuses.';

const atMost = (value: number): Target => ({ of: 'ratio', op: '<=', value });
const atLeast = (value: number): Target => ({ of: 'ratio', op: '>=', value });
const INFORMATION = null;

/** What the service side is loaded with, and what the notes say about it. */
interface Workload {
  load: Omit<Load, 'server'>;
  notes: string;
}

/**
 * A section on a fixture of its own (always torn down): the service loaded with `workload`, the
 * chosen baseline with its POST /sync/:userId, one row per metric `targets` names, in its order.
 */
const httpSection =
  (
    name: string,
    setup: Setup,
    workload: (context: BenchContext, fixture: HttpFixture) => Promise<Workload> | Workload,
    targets: Partial<Record<Metric, Target | null>>,
  ): Section =>
  async (context) => {
    const fixture = await openHttpFixture(context, { preparedBaseline: setup.baseline === 'prepared' });
    try {
      const { load, notes } = await workload(context, fixture);
      const measured = await measure(context, fixture, setup, { server: fixture.service, ...load });
      return (Object.entries(targets) as [Metric, Target | null][]).map(([metric, target]) =>
        row(name, measured, metric, target, notes),
      );
    } finally {
      await fixture.close();
    }
  };

/** POST /sync/:userId with the service token, on both sides. */
const syncWorkload =
  (notes = '') =>
  (_context: BenchContext, fixture: HttpFixture): Workload => ({
    load: { next: syncRequests(fixture.userIds, fixture.syncToken), accept: unchanged },
    notes: `${notes}${COMMON}`,
  });

const prepared = (connections: number): Setup => ({ baseline: 'prepared', connections });

export const sections: Record<string, Section> = {
  sync: httpSection('POST /sync/:userId', prepared(50), syncWorkload(), {
    throughput: atLeast(1),
    p50: INFORMATION,
    p99: atMost(1.5),
  }),

  'sync-1conn': httpSection(
    'POST /sync/:userId, 1 connection',
    prepared(1),
    syncWorkload(
      'One request in flight at a time on each side, so the service never has a concurrent sync to join a request with: ' +
        'the latency of a lone request at low load. ',
    ),
    { p50: atMost(1.2), p99: INFORMATION },
  ),

  'sync-200conn': httpSection('POST /sync/:userId, 200 connections', prepared(200), syncWorkload(), {
    throughput: INFORMATION,
    p99: INFORMATION,
  }),

  'sync-replanned': httpSection(
    'POST /sync/:userId vs re-planned upsert',
    { baseline: 'replanned', connections: 50 },
    syncWorkload(),
    { throughput: atLeast(0.85), p50: INFORMATION, p99: atMost(2) },
  ),

  webhook: httpSection(
    'POST /webhooks/supabase',
    prepared(50),
    (_context, fixture) => ({
      // A new delivery each time: synced (and unchanged), never a duplicate.
      load: { next: webhookRequests(fixture), accept: (body) => body.includes('"outcome":"synced"') && unchanged(body) },
      notes:
        'Service side: Database Webhook INSERT bodies (~600 B, a distinct body each, so each is a new delivery recorded in its transaction) ' +
        `with a webhook-scoped token; baseline side: its POST /sync/:userId. ${COMMON}`,
    }),
    { throughput: atLeast(0.9), p99: INFORMATION },
  ),

  'sync-me': httpSection(
    'POST /sync/me',
    prepared(50),
    async (context, fixture) => {
      const signed = context.quick ? 1_000 : 5_000;
      return {
        load: { next: await syncMeRequests(fixture, signed), accept: unchanged },
        notes:
          `Service side: HS256 access tokens (aud and iss checked) of ${signed} users, signed before the run; ` +
          `baseline side: its POST /sync/:userId. ${COMMON}`,
      };
    },
    { throughput: atLeast(0.9), p99: INFORMATION },
  ),
};
