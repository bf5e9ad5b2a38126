/**
 * The drain's throughput: a backlog of changes, one per new user (a sign-up queues one with the
 * default field map), emptied by the service's own drain (CaptureDrain.drainBatch through
 * `runtime.captureControl`, called again while a batch comes back full, as its loop does), against
 * the one INSERT … SELECT of the same users a DBA would write (no audit, no queue to empty).
 *
 * The database is a project with a user base: `users` seeded users with their profiles, and as
 * many new users without one, each named by one queued change (the backlog a burst of sign-ups, or
 * a service down for a while, leaves). Each CAPTURE_BATCH_SIZE tried has a runtime of its own,
 * opened in this process as the service opens it (as the service's role); the baseline and every
 * batch size run in each round, in mirrored order.
 *
 * Before every run (untimed): the new users' profiles deleted, audit log and queue emptied, the
 * queue refilled with one INSERT change per new user in the order they were written, VACUUM
 * (ANALYZE).
 */
import type pg from 'pg';
import type { Runtime } from '../../src/runtime.ts';
import { median } from './alternate.ts';
import { adminClient, createCaptureDatabase, loadAverage, openCaptureRuntime } from './capture-database.ts';
import { rawProfileInsertSql } from './raw-profile-insert.ts';
import { compare, type Comparison } from './report.ts';
import type { BenchContext } from './section.ts';

export const BATCH_SIZES = [500, 1000, 2000, 5000] as const;
/** src/config/config.ts's default CAPTURE_BATCH_SIZE. */
const DEFAULT_BATCH_SIZE = 1000;

const QUEUED_PREFIX = 'queued-';

/** The new users: as seed-users.ts writes users (metadata the default field map reads), without profiles. */
const INSERT_NEW_USERS_SQL = `
  INSERT INTO auth.users (id, aud, role, email, email_confirmed_at, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
  SELECT gen_random_uuid(), 'authenticated', 'authenticated', '${QUEUED_PREFIX}' || i || '@bench.example', now(),
         jsonb_build_object('full_name', 'Queued User ' || i, 'avatar_url', 'https://img.example/q' || i || '.png',
                            'organization_id', md5((i % 100)::text)::uuid),
         jsonb_build_object('provider', 'email', 'role', 'member'),
         now(), now()
    FROM generate_series(1, $1::int) AS i`;

/** What the service writes with the default field map, for the users the queue names. */
const INSERT_QUEUED_SQL = rawProfileInsertSql('a.deleted_at IS NULL AND a.id IN (SELECT user_id FROM user_sync.changes)');

async function restore(admin: pg.Client, queue: number): Promise<void> {
  await admin.query(`DELETE FROM public.users WHERE email LIKE '${QUEUED_PREFIX}%'`);
  await admin.query('TRUNCATE user_sync.audit_log, user_sync.changes');
  // Physical order: the order they were written (random ids, as sign-ups have).
  await admin.query(`INSERT INTO user_sync.changes (user_id, op) SELECT id, 'INSERT' FROM auth.users WHERE email LIKE '${QUEUED_PREFIX}%' LIMIT $1`, [
    queue,
  ]);
  await admin.query('VACUUM (ANALYZE) public.users, user_sync.audit_log, user_sync.changes');
}

/** Drains until a batch comes back short; the milliseconds it took, checked against the queue. */
async function drainAll(runtime: Runtime, batchSize: number, queued: number): Promise<{ ms: number; batches: number }> {
  let claimed = 0;
  let created = 0;
  let batches = 0;
  const started = performance.now();
  for (;;) {
    const report = await runtime.captureControl!.drainBatch();
    batches += 1;
    claimed += report.claimed;
    created += report.outcomes.created;
    if (report.claimed < batchSize) break;
  }
  const ms = performance.now() - started;
  if (claimed !== queued || created !== queued) throw new Error(`the drain claimed ${claimed} and created ${created}, expected ${queued} each`);
  return { ms, batches };
}

export async function drainThroughput(context: BenchContext): Promise<Comparison[]> {
  const users = context.quick ? 20_000 : 100_000;
  const rounds = context.quick ? 2 : 4;
  const database = await createCaptureDatabase(context, users);
  const runtimes = new Map<number, Runtime>();
  const admin = await adminClient(database);
  // The baseline runs as the service's role, as the drain does.
  const owner = await adminClient({ ...database, url: database.serviceUrl });
  try {
    await admin.query(INSERT_NEW_USERS_SQL, [users]);
    await admin.query('VACUUM (ANALYZE) auth.users');
    for (const size of BATCH_SIZES) runtimes.set(size, await openCaptureRuntime(context, database, { CAPTURE_BATCH_SIZE: String(size) }));

    type Variant = 'baseline' | (typeof BATCH_SIZES)[number];
    const order: Variant[] = ['baseline', ...BATCH_SIZES];
    const times = new Map<Variant, number[]>(order.map((variant) => [variant, []]));
    const batchesOf = new Map<number, number>();
    const run = async (variant: Variant, queue: number): Promise<number> => {
      await restore(admin, queue);
      if (variant === 'baseline') {
        const started = performance.now();
        const { rowCount } = await owner.query(INSERT_QUEUED_SQL);
        const ms = performance.now() - started;
        if (rowCount !== users) throw new Error(`the INSERT … SELECT wrote ${rowCount} profiles, expected ${users}`);
        return ms;
      }
      const { ms, batches } = await drainAll(runtimes.get(variant)!, variant, queue);
      batchesOf.set(variant, batches);
      return ms;
    };

    // Warm-up (prepared statements, generic plans, the cache): each variant once on a small queue, not measured.
    for (const variant of order) if (variant !== 'baseline') await run(variant, Math.min(users, 5 * variant + 1));
    await run('baseline', users);
    const loadBefore = loadAverage();
    for (let round = 0; round < rounds; round++) {
      for (const variant of round % 2 === 0 ? order : [...order].reverse()) times.get(variant)!.push(await run(variant, users));
    }
    const loadAfter = loadAverage();
    await restore(admin, 0);
    context.log(`drain of ${users} changes, ms by round: ${order.map((variant) => `${variant} ${times.get(variant)!.map(Math.round).join(', ')}`).join('; ')}`);

    const baseline = median(times.get('baseline')!);
    const best = BATCH_SIZES.reduce((a, b) => (median(times.get(a)!) <= median(times.get(b)!) ? a : b));
    context.log(`fastest CAPTURE_BATCH_SIZE: ${best}`);
    return BATCH_SIZES.map((size) =>
      compare({
        section: 'capture: drain',
        metric: `${users} queued changes, CAPTURE_BATCH_SIZE=${size}${size === DEFAULT_BATCH_SIZE ? ' (default)' : ''}${size === best ? ' (fastest)' : ''} (median)`,
        unit: 'ms',
        service: median(times.get(size)!),
        baseline,
        baselineName: 'one INSERT … SELECT of the queued users',
        target: { of: 'ratio', op: '<=', value: 1.5 },
        notes:
          `CaptureDrain.drainBatch in a loop while batches come back full (${batchesOf.get(size)} batches: claim + delete, sync with audit rows, commit), ` +
          `in process, as the service's role; ${users} users with profiles and ${users} new users without, one queued INSERT change each. ` +
          `Baseline: INSERT INTO public.users (default map's columns) SELECT … FROM auth.users WHERE id IN (SELECT user_id FROM user_sync.changes), as the service's role. ` +
          `Median of ${rounds} rounds; baseline and batch sizes ${BATCH_SIZES.join(', ')} in mirrored order each round, state restored before every run. 1-min load average ${loadBefore} → ${loadAfter}.`,
      }),
    );
  } finally {
    for (const runtime of runtimes.values()) await runtime.close();
    await owner.end();
    await admin.end();
    await database.drop();
  }
}
