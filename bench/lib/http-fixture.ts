/**
 * What every HTTP section stands on: a fresh bench database of seeded users, the real service
 * (src/server.ts, postgres mode, production log level) and the bare baseline, both on that
 * database with the same pool size, each in its own process. `close` stops both and drops the
 * database, whether or not the section succeeded.
 */
import { randomBytes } from 'node:crypto';
import { createBenchDatabase } from './database.ts';
import { startServer, type ServerProcess } from './process.ts';
import type { BenchContext } from './section.ts';
import { seedUsers } from './seed-users.ts';

/** The service's default; the baseline gets the same. */
const POOL_SIZE = '10';

export interface HttpFixture {
  userIds: string[];
  service: ServerProcess;
  baseline: ServerProcess;
  /** A service token with the `sync` scope, and one with only `webhook`, as a Database Webhook has. */
  syncToken: string;
  webhookToken: string;
  /** HS256 secret and issuer user access tokens must carry for POST /sync/me. */
  jwtSecret: string;
  issuer: string;
  close(): Promise<void>;
}

const token = () => randomBytes(32).toString('base64url');

/**
 * `preparedBaseline`: the bare server names its statement, so PostgreSQL plans it once per
 * connection (as the service does its sync); without it, it plans it on every request, as the
 * issue's reference baseline (about 3,100 req/s on these machines) did.
 */
export async function openHttpFixture(context: BenchContext, options: { preparedBaseline?: boolean } = {}): Promise<HttpFixture> {
  const users = context.quick ? 10_000 : 100_000;
  const database = await createBenchDatabase(context.adminUrl);
  const started: ServerProcess[] = [];
  const close = async () => {
    await Promise.all(started.map((server) => server.stop()));
    await database.drop();
  };
  try {
    const seeding = Date.now();
    const userIds = await seedUsers(database.url, users);
    context.log(`${database.name}: ${users} users with profiles in ${((Date.now() - seeding) / 1000).toFixed(1)} s`);

    const syncToken = token();
    const webhookToken = token();
    const jwtSecret = token();
    const project = 'https://benchbenchbenchbench.supabase.co';
    const service = await startServer({
      name: 'service',
      script: 'src/server.ts',
      readyPath: '/ready',
      cpuProfileDir: process.env.BENCH_CPU_PROF,
      env: {
        NODE_ENV: 'production',
        LOG_LEVEL: 'info',
        DATABASE_URL: database.url,
        DATABASE_POOL_MAX: POOL_SIZE,
        SERVICE_TOKENS: `bench[sync]:${syncToken},supabase-db[webhook]:${webhookToken}`,
        SUPABASE_URL: project,
        SUPABASE_JWT_SECRET: jwtSecret,
        // The limiter runs on every request it would in production (user tokens; service tokens
        // are unlimited by default), but its ceiling is out of reach.
        RATE_LIMIT_MAX: '1000000',
        RATE_LIMIT_USER_MAX: '1000000',
        RATE_LIMIT_WINDOW_SECONDS: '1',
        // No background work competing with the requests measured.
        RECONCILE_INTERVAL_SECONDS: '0',
        DEFERRED_SYNC_INTERVAL_SECONDS: '0',
        CAPTURE: 'off',
      },
    });
    started.push(service);
    const baseline = await startServer({
      name: 'baseline',
      script: 'bench/servers/bare-upsert.ts',
      readyPath: '/ready',
      env: {
        NODE_ENV: 'production',
        DATABASE_URL: database.url,
        DATABASE_POOL_MAX: POOL_SIZE,
        ...(options.preparedBaseline ? { BARE_PREPARED: '1' } : {}),
      },
    });
    started.push(baseline);
    return { userIds, service, baseline, syncToken, webhookToken, jwtSecret, issuer: `${project}/auth/v1`, close };
  } catch (error) {
    await close();
    throw error;
  }
}
