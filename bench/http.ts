/**
 * HTTP benchmarks: the service's sync paths under load against a bare Fastify server doing the
 * same single-row upsert (bench/servers/bare-upsert.ts). Both run in child processes on one fresh
 * database, are loaded alternately (ABBA) by autocannon on loopback, and each figure is the
 * median over the rounds.
 *
 * - `sync`: POST /sync/:userId, service token, a random existing user per request.
 * - `webhook`: POST /webhooks/supabase, a Database Webhook INSERT for a random existing user.
 * - `sync-me`: POST /sync/me, a random user's own HS256 access token.
 */
import { alternate, median } from './lib/alternate.ts';
import { openHttpFixture, type HttpFixture } from './lib/http-fixture.ts';
import { syncMeRequests, syncRequests, webhookRequests } from './lib/http-requests.ts';
import { runLoad, type LoadOptions, type LoadResult } from './lib/load.ts';
import type { ServerProcess } from './lib/process.ts';
import { compare, type Comparison } from './lib/report.ts';
import type { BenchContext, Section } from './lib/section.ts';

const CONNECTIONS = 50;
const BASELINE = 'bare Fastify, one upsert';

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
async function measure(context: BenchContext, fixture: HttpFixture, service: Load) {
  const plan = planFor(context);
  const baseline: Load = { server: fixture.baseline, next: syncRequests(fixture.userIds), accept: unchanged };
  const run = async ({ server, ...load }: Load, seconds: number): Promise<Measured> => {
    const cpuBefore = server.cpuMs() ?? Number.NaN;
    const result = await runLoad({ ...load, url: server.url, seconds, connections: CONNECTIONS });
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
  return { plan, ...results };
}

type Metric = 'throughput' | 'p50' | 'p99';

const range = (values: number[], digits: number) =>
  `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;

/** One row: the medians of one metric over the rounds, with their spread in the notes. */
function row(
  section: string,
  measured: Awaited<ReturnType<typeof measure>>,
  metric: Metric,
  target: Comparison['target'],
  extra: string,
): Comparison {
  const service = measured.service.map((result) => result[metric]);
  const baseline = measured.baseline.map((result) => result[metric]);
  const cpu = (results: Measured[]) => median(results.map((result) => result.cpuMsPerRequest)).toFixed(2);
  const digits = metric === 'throughput' ? 0 : 1;
  const { rounds, seconds } = measured.plan;
  return compare({
    section,
    metric,
    unit: metric === 'throughput' ? 'req/s' : 'ms',
    service: median(service),
    baseline: median(baseline),
    baselineName: BASELINE,
    target,
    notes:
      `median of ${rounds} alternated rounds × ${seconds} s, ${CONNECTIONS} connections, pipelining 1; ` +
      `per-round range service ${range(service, digits)}, baseline ${range(baseline, digits)}; ` +
      `server CPU per request (median) service ${cpu(measured.service)} ms, baseline ${cpu(measured.baseline)} ms. ${extra}`,
  });
}

const COMMON =
  'A random existing user per request, profiles already in sync (both sides answer unchanged and write no row). ' +
  'Service: postgres mode, pool 10 like the baseline, info logs to /dev/null, rate limiter on with RATE_LIMIT_MAX=1000000 per 1 s so it never refuses.';

const atMost = (value: number) => ({ of: 'ratio' as const, op: '<=' as const, value });
const atLeast = (value: number) => ({ of: 'ratio' as const, op: '>=' as const, value });

/** A section on a fixture of its own, always torn down. */
const onFixture =
  (work: (context: BenchContext, fixture: HttpFixture) => Promise<Comparison[]>, options: { preparedBaseline?: boolean } = {}): Section =>
  async (context) => {
    const fixture = await openHttpFixture(context, options);
    try {
      return await work(context, fixture);
    } finally {
      await fixture.close();
    }
  };

const syncSection = (name: string, baselineNote: string, preparedBaseline: boolean): Section =>
  onFixture(
    async (context, fixture) => {
      const measured = await measure(context, fixture, {
        server: fixture.service,
        next: syncRequests(fixture.userIds, fixture.syncToken),
        accept: unchanged,
      });
      const notes = `${baselineNote} ${COMMON}`;
      return [
        row(name, measured, 'throughput', atLeast(0.85), notes),
        row(name, measured, 'p50', atMost(2), `The issue sets no p50 target; ≤ 2× mirrors its p99 one. ${notes}`),
        row(name, measured, 'p99', atMost(2), notes),
      ];
    },
    { preparedBaseline },
  );

export const sections: Record<string, Section> = {
  sync: syncSection(
    'POST /sync/:userId',
    "Baseline as the issue set it: a plain pool.query, planned on every request (the service's sync statement is prepared).",
    false,
  ),
  'sync-prepared': syncSection(
    'POST /sync/:userId vs prepared',
    'Stricter baseline: the bare upsert as a named prepared statement, planned once per connection like the service\'s.',
    true,
  ),

  webhook: onFixture(async (context, fixture) => {
    const name = 'POST /webhooks/supabase';
    const measured = await measure(context, fixture, {
      server: fixture.service,
      next: webhookRequests(fixture),
      // A new delivery each time: synced (and unchanged), never a duplicate.
      accept: (body) => body.includes('"outcome":"synced"') && unchanged(body),
    });
    const extra =
      'Service side: Database Webhook INSERT bodies (~600 B, a distinct body each, so each is a new delivery recorded in its transaction) ' +
      `with a webhook-scoped token; baseline side: its POST /sync/:userId. ${COMMON}`;
    return [
      row(name, measured, 'throughput', atLeast(0.8), extra),
      row(name, measured, 'p99', atMost(2), `For information: the issue sets no latency target here. ${extra}`),
    ];
  }),

  'sync-me': onFixture(async (context, fixture) => {
    const name = 'POST /sync/me';
    const signed = context.quick ? 1_000 : 5_000;
    const measured = await measure(context, fixture, {
      server: fixture.service,
      next: await syncMeRequests(fixture, signed),
      accept: unchanged,
    });
    const extra =
      `Service side: HS256 access tokens (aud and iss checked) of ${signed} users, signed before the run; ` +
      `baseline side: its POST /sync/:userId. ${COMMON}`;
    return [
      row(name, measured, 'throughput', atLeast(0.8), extra),
      row(name, measured, 'p99', atMost(2), `For information: the issue sets no latency target here. ${extra}`),
    ];
  }),
};
