/**
 * `npm run seed:big -- --users N [--missing M] [--stale S] [--database-url URL]`: fills a
 * Supabase-shaped database with N auth users for load tests and benchmarks, in set-based SQL (one
 * INSERT … SELECT over generate_series for both tables, no round trip per row).
 *
 * User n (1-based) has the id `bigUserId(n)`, the same on every machine. Users 1..M have no
 * profile, users M+1..M+S a stale one (an old email and name, so a sync updates them), the rest a
 * profile exactly as the default field map writes it. Ids are md5 hashes, so the missing and stale
 * users are spread evenly over the id order that keyset pages follow.
 *
 * The bench imports `seedBig`; run as a script it seeds the database named by --database-url or
 * DATABASE_URL, laying out the Supabase schema where it is missing (it never drops anything).
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { authSchemaSql, demoProfileTableSql, supabaseRolesSql } from '../src/embedded/supabase-schema.ts';

export interface BigSeedOptions {
  users: number;
  /** Users 1..missing have no profile. */
  missing: number;
  /** The next `stale` users have a profile with an old email and full_name. */
  stale: number;
}

const ID_SEED = 'supabase-user-sync big seed user ';

/** The id of seeded user `n` (1-based), in SQL, for an integer expression `n`. */
export const bigUserIdSql = (n: string) => `md5('${ID_SEED}' || ${n})::uuid`;

/** The same id computed here, so benches can name known users without asking the database. */
export function bigUserId(n: number): string {
  const hex = createHash('md5').update(ID_SEED + n).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Both tables in one statement: the generated rows are computed once and feed auth.users and the
 * profiles. $1 users, $2 missing, $3 stale; $4..$5 the range of users this statement inserts. Sign-ups are spread over five years; every third user
 * came through OAuth (name/picture instead of full_name/avatar_url), every fourth has a phone,
 * every fiftieth is an admin.
 */
const SEED_SQL = `
WITH generated AS MATERIALIZED (
  SELECT n,
         ${bigUserIdSql('n')} AS id,
         'user' || n || '@example.com' AS email,
         CASE WHEN n % 4 = 0 THEN '1555' || lpad(n::text, 8, '0') END AS phone,
         'Bench User ' || n AS full_name,
         'https://avatars.example.com/' || n || '.png' AS avatar_url,
         CASE WHEN n % 50 = 0 THEN 'admin' END AS role,
         timestamptz '2021-01-01 00:00:00+00' + make_interval(secs => n * (5 * 365 * 86400.0 / $1)) AS created_at
    FROM generate_series($4::int, $5::int) AS n
), auth_rows AS (
  INSERT INTO auth.users (
    instance_id, id, aud, role, email, encrypted_password, email_confirmed_at, last_sign_in_at,
    raw_app_meta_data, raw_user_meta_data, created_at, updated_at, phone, phone_confirmed_at
  )
  SELECT '00000000-0000-0000-0000-000000000000', id, 'authenticated', 'authenticated', email,
         -- bcrypt-shaped, never a real password: Database Webhooks would carry it.
         '$2a$10$bench.bench.bench.bench.bench.bench.bench.bench.bench.b',
         created_at + interval '5 minutes', created_at + make_interval(days => n % 300),
         jsonb_build_object('provider', 'email', 'providers', jsonb_build_array('email'))
           || CASE WHEN role IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('role', role) END,
         CASE WHEN n % 3 = 0
           THEN jsonb_build_object('name', full_name, 'picture', avatar_url, 'email_verified', true)
           ELSE jsonb_build_object('full_name', full_name, 'avatar_url', avatar_url)
         END,
         created_at, created_at + make_interval(days => n % 300),
         phone, CASE WHEN phone IS NOT NULL THEN created_at END
    FROM generated
)
INSERT INTO public.users (id, email, full_name, avatar_url, phone, role, created_at, updated_at)
SELECT id,
       CASE WHEN n <= $2::int + $3::int THEN 'old.' || email ELSE email END,
       CASE WHEN n <= $2::int + $3::int THEN 'Old Name ' || n ELSE full_name END,
       avatar_url, phone, role, created_at, created_at
  FROM generated
 WHERE n > $2::int`;

/**
 * Most of the time goes to maintaining auth.users' five indexes and the profiles' key, one CPU
 * per statement: contiguous ranges of users on one connection per CPU share the work.
 */
async function insertInParallel(databaseUrl: string, { users, missing, stale }: BigSeedOptions): Promise<void> {
  const workers = Math.max(1, Math.min(os.availableParallelism(), 4, Math.ceil(users / 10_000)));
  const share = Math.ceil(users / workers);
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      try {
        // The materialized rows are ~300 bytes each: with the default 4 MB they would spill to disk.
        await client.query(`SET work_mem = '256MB'`);
        const first = worker * share + 1;
        await client.query(SEED_SQL, [users, missing, stale, first, Math.min(users, first + share - 1)]);
      } finally {
        await client.end();
      }
    }),
  );
}

/** Seeds an empty Supabase-shaped database; returns the seconds spent inserting and analysing. */
export async function seedBig(
  databaseUrl: string,
  options: BigSeedOptions,
  log: (line: string) => void = () => undefined,
): Promise<{ insertSeconds: number; vacuumSeconds: number }> {
  const { users, missing, stale } = options;
  if (![users, missing, stale].every((value) => Number.isInteger(value) && value >= 0) || missing + stale > users) {
    throw new Error(`expected whole numbers with missing + stale ≤ users (got ${users}, ${missing}, ${stale})`);
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(supabaseRolesSql + authSchemaSql + demoProfileTableSql);
    const { rows } = await client.query<{ present: boolean }>('SELECT EXISTS (SELECT 1 FROM auth.users) AS present');
    if (rows[0]!.present) throw new Error('auth.users already holds users; seed an empty database (the ids would collide)');

    const insertStarted = performance.now();
    await insertInParallel(databaseUrl, options);
    const insertSeconds = (performance.now() - insertStarted) / 1000;
    log(`inserted ${users} users (${missing} without a profile, ${stale} stale) in ${insertSeconds.toFixed(1)} s`);

    // A database that has lived a while has its statistics and visibility map kept by autovacuum;
    // a fresh load has neither, and the anti-joins would be planned blind and read the heap.
    const vacuumStarted = performance.now();
    await client.query('VACUUM (ANALYZE) auth.users, public.users');
    const vacuumSeconds = (performance.now() - vacuumStarted) / 1000;
    log(`vacuumed and analysed in ${vacuumSeconds.toFixed(1)} s`);
    return { insertSeconds, vacuumSeconds };
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      users: { type: 'string' },
      missing: { type: 'string', default: '0' },
      stale: { type: 'string', default: '0' },
      'database-url': { type: 'string' },
    },
  });
  const databaseUrl = values['database-url'] ?? process.env.DATABASE_URL;
  if (databaseUrl === undefined || databaseUrl === '') {
    throw new Error('name the database to fill with --database-url postgres://… or DATABASE_URL (nothing is assumed)');
  }
  if (values.users === undefined) throw new Error('--users N is required');
  await seedBig(
    databaseUrl,
    { users: Number(values.users), missing: Number(values.missing), stale: Number(values.stale) },
    (line) => process.stdout.write(`${line}\n`),
  );
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    process.stderr.write(`seed:big: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
