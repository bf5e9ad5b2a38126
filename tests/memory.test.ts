/**
 * No leak: the real server's resident memory after 100,000 requests is about what it was after
 * the warm-up. The server runs as a child process (embedded PGlite, or PostgreSQL with
 * TEST_DATABASE=postgres) with request logging on, as in production; RSS is read from /proc.
 *
 * The mix goes through every layer a request can: syncs of existing users and a page of missing
 * users (auth, validation, the database, serialisation, request logs), a rejected id and a missing
 * token (the error handler, problem+json, logs), and the liveness probe. It is weighted toward the
 * cheap requests, above all on PGlite, whose queries run one at a time on the server's own
 * thread, so that the warm-up and 100,000 requests fit in a minute or two on a 2-core machine.
 */
import http from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { demoUserId, DEMO } from '../src/embedded/demo-seed.ts';
import { auth } from './helpers/app.ts';
import { onPostgres } from './helpers/database.ts';
import { send } from './helpers/http-client.ts';
import { rssOf, startServerProcess, type ServerProcess } from './helpers/server-process.ts';

/**
 * How long the heap takes to size itself depends on the machine and the database: on a quiet
 * machine RSS rose in spurts, with quiet stretches between, for up to ~120,000 requests on PGlite
 * and ~200,000 on PostgreSQL, then stayed within 1 MB for 100,000-200,000 more. A warm-up that
 * stopped at the first quiet stretch measured a spurt; 200,000 requests is past the last one seen.
 */
const WARM_UP = 200_000;
const MEASURED = 100_000;
const SAMPLES = 10;
const CONCURRENCY = 8;
const MB = 1024 * 1024;
/**
 * A leak grows RSS in step with the requests, all through the run; a healthy process grows at
 * first and then stays flat (see WARM_UP). After the warm-up, two bounds:
 * - the whole run under 64 MB: a leak of 640 bytes a request (any retained request, reply,
 *   listener, log child or closure over a body is larger) breaks it;
 * - the second half under 16 MB, once the heap has settled: a leak of 320 bytes a request breaks it.
 */
const MAX_GROWTH_BYTES = 64 * MB;
const MAX_SECOND_HALF_GROWTH_BYTES = 16 * MB;

interface MixEntry {
  method: 'GET' | 'POST';
  path: (n: number) => string;
  headers?: Record<string, string>;
  expected: number;
}

const syncOne: MixEntry = {
  method: 'POST',
  path: (n) => `/sync/${demoUserId((n % DEMO.users) + 1)}`,
  headers: auth,
  expected: 200,
};
const missingPage: MixEntry = { method: 'GET', path: () => '/users/missing?limit=10', headers: auth, expected: 200 };
const badId: MixEntry = { method: 'POST', path: () => '/sync/not-a-uuid', headers: auth, expected: 400 };
const noToken: MixEntry = { method: 'GET', path: () => '/users/missing', expected: 401 };
const health: MixEntry = { method: 'GET', path: () => '/health', expected: 200 };

/**
 * Twenty requests, in the order they repeat: a tenth touch the database on PGlite, a fifth on
 * PostgreSQL (whose queries run off the server's thread, so cost it less).
 */
const MIX: MixEntry[] = onPostgres
  ? [syncOne, health, badId, health, noToken, health, syncOne, badId, health, health,
     missingPage, health, badId, health, noToken, health, syncOne, badId, health, health]
  : [syncOne, health, badId, health, noToken, health, health, badId, health, health,
     missingPage, health, badId, health, noToken, health, health, badId, health, health];

/** Sends `total` requests of the mix over `CONCURRENCY` keep-alive connections; returns what went wrong. */
async function run(url: string, total: number): Promise<string[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const problems: string[] = [];
  let next = 0;
  const worker = async () => {
    for (let n = next++; n < total; n = next++) {
      const entry = MIX[n % MIX.length]!;
      const path = entry.path(n);
      const outcome = await send(agent, url, { method: entry.method, path, headers: entry.headers ?? {}, requestId: `mem-${n}` });
      if (outcome.status !== entry.expected && problems.length < 20) {
        problems.push(`${entry.method} ${path}: ${outcome.status ?? outcome.error} ${outcome.body?.slice(0, 200) ?? ''}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
  agent.destroy();
  return problems;
}

describe('memory under sustained load', () => {
  let server: ServerProcess | undefined;
  /** RSS after the warm-up, then after each tenth of the measured requests; set by the first test. */
  let measured: { warm: number; samples: number[] } | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it(`stays flat over ${MEASURED.toLocaleString('en')} requests after a warm-up: grows under ${MAX_GROWTH_BYTES / MB} MB`, async () => {
    server = await startServerProcess(
      // Shedding would turn some answers into 503s on a busy machine: this test is about memory.
      { LOG_LEVEL: 'info', OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0' },
      { outputLimitBytes: 64 * 1024 },
    );
    const pid = server.child.pid!;

    expect(await run(server.url, WARM_UP)).toEqual([]);
    const warm = await rssOf(pid);
    const started = Date.now();
    const samples: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      expect(await run(server.url, MEASURED / SAMPLES)).toEqual([]);
      samples.push(await rssOf(pid));
    }

    const mb = (bytes: number) => (bytes / MB).toFixed(0);
    console.info(
      `memory.test: RSS ${mb(warm)} MB after a warm-up of ${WARM_UP} requests, then every ${MEASURED / SAMPLES}: ` +
        `${samples.map(mb).join(' ')} MB (${((Date.now() - started) / 1000).toFixed(0)} s)`,
    );
    measured = { warm, samples };
    const final = samples[SAMPLES - 1]!;
    expect(final - warm).toBeLessThan(MAX_GROWTH_BYTES);
  }, 420_000);

  // On PGlite the database's WASM heap lives in the server's process and its RSS saw-tooths by
  // 20-30 MB (one run rose 23 MB over the second half, another fell 170 MB): there the whole-run
  // bound above is all that can be checked. On PostgreSQL the process holds only the service.
  it.skipIf(!onPostgres)(
    `grows under ${MAX_SECOND_HALF_GROWTH_BYTES / MB} MB over the second half of the run ` +
      '(PostgreSQL only: on PGlite the database\'s WASM heap shares the process and its RSS saw-tooths by 20-30 MB)',
    () => {
      if (measured === undefined) throw new Error('no measurements: the run in the test above did not finish');
      const final = measured.samples[SAMPLES - 1]!;
      const halfway = measured.samples[SAMPLES / 2 - 1]!;
      expect(final - halfway).toBeLessThan(MAX_SECOND_HALF_GROWTH_BYTES);
    },
  );
});
