/**
 * The capture benchmarks' databases: Supabase-shaped (database.ts) with seeded users and
 * profiles (seed-users.ts), and the roles as on hosted Supabase (as tests/helpers/supabase-roles.ts
 * lays them out): `supabase_auth_admin` owns the auth schema and writes auth.users with search_path
 * `auth`; the service connects as a non-superuser holding ALL on the auth tables (so TRIGGER)
 * and owning public.users. Its triggers' SECURITY DEFINER function therefore runs as that role,
 * as it does on Supabase.
 *
 * The service's role is cluster-wide, like every role: created where missing, never dropped (a
 * dropped bench database takes its grants with it).
 */
import os from 'node:os';
import pg from 'pg';
import { loadConfig } from '../../src/config/config.ts';
import type { Log } from '../../src/logging.ts';
import { openRuntime, type Runtime } from '../../src/runtime.ts';
import { loginRoleSql, supabaseOwnershipSql } from '../../src/embedded/supabase-schema.ts';
import { createBenchDatabase, runOn, type BenchDatabase } from './database.ts';
import type { BenchContext } from './section.ts';
import { seedUsers } from './seed-users.ts';
import { BENCH_TOKEN } from './service-child.ts';

/** The non-superuser the service connects as in the capture benches. */
export const BENCH_SERVICE_ROLE = 'usersync_bench_service';

export interface CaptureDatabase extends BenchDatabase {
  /** The service's URL: the same database as the service's role. */
  serviceUrl: string;
  /** Seeded users, each with a matching profile. */
  users: number;
}

/**
 * A fresh database of `users` seeded users with matching profiles, and Supabase's ownership. The
 * service's migrations come with its first runtime (openCaptureRuntime), as the service's role, so
 * user_sync belongs to it as in production.
 */
export async function createCaptureDatabase(context: BenchContext, users: number): Promise<CaptureDatabase> {
  const database = await createBenchDatabase(context.adminUrl);
  try {
    const seeding = Date.now();
    await seedUsers(database.url, users);
    await runOn(database.url, loginRoleSql(BENCH_SERVICE_ROLE));
    await runOn(database.url, supabaseOwnershipSql(BENCH_SERVICE_ROLE, database.name));
    const serviceUrl = new URL(database.url);
    serviceUrl.username = BENCH_SERVICE_ROLE;
    context.log(`${database.name}: ${users} users with profiles in ${((Date.now() - seeding) / 1000).toFixed(1)} s`);
    return { ...database, serviceUrl: serviceUrl.toString(), users };
  } catch (error) {
    await database.drop();
    throw error;
  }
}

/** Warnings and errors of an in-process runtime, to the bench's log; its info lines are dropped. */
export const benchLog = (context: BenchContext): Log =>
  ({
    info: () => undefined,
    warn: (...args: unknown[]) => context.log(`service warning: ${JSON.stringify(args)}`),
    error: (...args: unknown[]) => context.log(`service error: ${JSON.stringify(args)}`),
  });

/**
 * The service's runtime in this process, on `database` as the service's role, as `npm start` opens
 * it with CAPTURE on: migrations applied, capture installed (or found current). Nothing runs in the
 * background: the caller drives the drain, or closes it at once.
 */
export async function openCaptureRuntime(
  context: BenchContext,
  database: CaptureDatabase,
  env: Record<string, string> = {},
): Promise<Runtime> {
  const config = loadConfig({
    DATABASE_URL: database.serviceUrl,
    SERVICE_TOKENS: `bench:${BENCH_TOKEN}`,
    CAPTURE: 'on',
    RECONCILE_INTERVAL_SECONDS: '0',
    DEFERRED_SYNC_INTERVAL_SECONDS: '0',
    ...env,
  });
  const runtime = await openRuntime(config, { logger: benchLog(context) });
  if (runtime.capture.state !== 'on') {
    await runtime.close();
    throw new Error(`capture is not on in ${database.name}: ${JSON.stringify(runtime.capture)}`);
  }
  return runtime;
}

/** A client of the bench database as postgres (the superuser), for set-up and clean-up. */
export async function adminClient(database: BenchDatabase): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  return client;
}

/** The 1-minute load average now, for the notes: other work on the machine shows in the figures. */
export const loadAverage = (): string => os.loadavg()[0]!.toFixed(1);
