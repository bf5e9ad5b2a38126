/**
 * What capture costs a sign-up: throughput of sign-ups written as Supabase Auth writes them
 * (capture-signups.ts), from several connections at once, on three databases alike in every other
 * way: no trigger on auth.users (the baseline), capture's triggers (installed by the service's own
 * start-up code), and the usual synchronous `handle_new_user` trigger. The service is not running:
 * what is measured is the triggers' cost inside Auth's transactions (the queue row, its
 * subtransaction, the notification), not the drain's work, which would compete for the same cores.
 *
 * Every round writes the same number of sign-ups on each database, in mirrored order (A B C, then
 * C B A), and each database is put back as it was after each round (the round's users, profiles
 * and queued changes deleted, then VACUUM and a CHECKPOINT), so every round of every variant
 * starts on the same data and with no checkpoint pending.
 */
import type pg from 'pg';
import { median } from './alternate.ts';
import { adminClient, loadAverage, type CaptureDatabase } from './capture-database.ts';
import { closeAll, openAuthConnections, SIGN_UP_EMAIL_PREFIX, writeSignUpsFlatOut } from './capture-signups.ts';
import { compare, type Comparison } from './report.ts';
import type { BenchContext } from './section.ts';

export interface SignUpVariants {
  /** No trigger on auth.users. */
  none: CaptureDatabase;
  /** Capture installed. */
  captured: CaptureDatabase;
  /** handle_new_user installed. */
  synchronous: CaptureDatabase;
}

type Variant = keyof SignUpVariants;

const LABELS: Record<Variant, string> = {
  none: 'no trigger',
  captured: 'capture triggers',
  synchronous: 'handle_new_user (synchronous AFTER INSERT trigger)',
};

/** Concurrent Auth connections: GoTrue's pool on a small project is about this size. */
const CONNECTIONS = 8;

/** Deletes a round's sign-ups (with triggers off, so capture queues nothing for it), their profiles and queued changes. */
async function restore(admin: pg.Client): Promise<void> {
  await admin.query(`SET session_replication_role = replica`);
  await admin.query(`DELETE FROM auth.users WHERE email LIKE '${SIGN_UP_EMAIL_PREFIX}%'`);
  await admin.query(`DELETE FROM public.users WHERE email LIKE '${SIGN_UP_EMAIL_PREFIX}%'`);
  await admin.query(`SET session_replication_role = DEFAULT`);
  const { rows } = await admin.query<{ queue: boolean }>(`SELECT to_regclass('user_sync.changes') IS NOT NULL AS queue`);
  if (rows[0]!.queue) await admin.query('TRUNCATE user_sync.changes');
  await admin.query(`VACUUM (ANALYZE) auth.users, public.users`);
  await admin.query('CHECKPOINT');
}

/** What a round left behind: the sign-ups, and the profiles or queued changes its triggers wrote. */
async function written(admin: pg.Client): Promise<{ users: number; profiles: number; queued: number }> {
  const { rows } = await admin.query<{ users: number; profiles: number; queue: boolean }>(
    `SELECT (SELECT count(*) FROM auth.users WHERE email LIKE '${SIGN_UP_EMAIL_PREFIX}%')::int AS users,
            (SELECT count(*) FROM public.users WHERE email LIKE '${SIGN_UP_EMAIL_PREFIX}%')::int AS profiles,
            to_regclass('user_sync.changes') IS NOT NULL AS queue`,
  );
  const { users, profiles, queue } = rows[0]!;
  const queued = queue ? (await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM user_sync.changes')).rows[0]!.n : 0;
  return { users, profiles, queued };
}

export async function signUpCost(context: BenchContext, databases: SignUpVariants): Promise<Comparison[]> {
  const perRound = context.quick ? 2_000 : 6_000;
  const rounds = context.quick ? 2 : 6;
  const warmup = context.quick ? 300 : 1_000;
  const order: Variant[] = ['none', 'captured', 'synchronous'];
  const admins = Object.fromEntries(
    await Promise.all(order.map(async (variant) => [variant, await adminClient(databases[variant])] as const)),
  ) as Record<Variant, pg.Client>;
  const rates: Record<Variant, number[]> = { none: [], captured: [], synchronous: [] };

  /** One round on one database: fresh Auth connections (statements prepared on the first sign-up of each). */
  const round = async (variant: Variant, count: number): Promise<number> => {
    const clients = await openAuthConnections(databases[variant].url, CONNECTIONS);
    try {
      const ms = await writeSignUpsFlatOut(clients, count);
      const left = await written(admins[variant]);
      const expected = { users: count, profiles: variant === 'synchronous' ? count : 0, queued: variant === 'captured' ? count : 0 };
      if (JSON.stringify(left) !== JSON.stringify(expected)) {
        throw new Error(`${LABELS[variant]}: a round of ${count} sign-ups left ${JSON.stringify(left)}, expected ${JSON.stringify(expected)}`);
      }
      await restore(admins[variant]);
      return count / (ms / 1000);
    } finally {
      await closeAll(clients);
    }
  };

  const loadBefore = loadAverage();
  try {
    for (const variant of order) await restore(admins[variant]);
    // Warm each database's cache and PostgreSQL's backend code paths; not measured.
    for (const variant of order) await round(variant, warmup);
    for (let r = 0; r < rounds; r++) {
      // Mirrored order (A B C, C B A, …): a drift in the machine's speed lands on every variant alike.
      for (const variant of r % 2 === 0 ? order : [...order].reverse()) rates[variant].push(await round(variant, perRound));
    }
  } finally {
    await Promise.all(order.map((variant) => admins[variant].end()));
  }
  context.log(
    `sign-ups/s by round: ${order.map((variant) => `${LABELS[variant]} ${rates[variant].map((rate) => rate.toFixed(0)).join(', ')}`).join('; ')}`,
  );

  const range = (values: number[]) => `${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)}`;
  const notes =
    `Triggers' cost only: the service is not running (nothing drains the queue during the rounds). ` +
    `Each sign-up one transaction as Supabase Auth writes it: INSERT (role '') + 3 UPDATEs of the row, as supabase_auth_admin ` +
    `(search_path auth), named prepared statements; ${CONNECTIONS} connections flat out; ${perRound} sign-ups per round, ` +
    `median of ${rounds} rounds in mirrored order (${order.map((variant) => LABELS[variant]).join(', ')}, then reversed), ` +
    `each on its own database of ${databases.none.users} seeded users with profiles, restored after every round (sign-ups deleted, VACUUM, CHECKPOINT). ` +
    `Per-round range: no trigger ${range(rates.none)}, capture ${range(rates.captured)}, handle_new_user ${range(rates.synchronous)} sign-ups/s. ` +
    `synchronous_commit as the server has it. 1-min load average ${loadBefore} → ${loadAverage()}.`;
  const section = 'capture: sign-up cost';
  return [
    compare({
      section,
      metric: 'sign-ups/s, capture triggers installed, drain off (median)',
      unit: 'sign-ups/s',
      service: median(rates.captured),
      baseline: median(rates.none),
      baselineName: LABELS.none,
      target: { of: 'ratio', op: '>=', value: 0.85 },
      notes,
    }),
    compare({
      section,
      metric: 'sign-ups/s, capture vs handle_new_user, drain off (median)',
      unit: 'sign-ups/s',
      service: median(rates.captured),
      baseline: median(rates.synchronous),
      baselineName: LABELS.synchronous,
      // Faster than the synchronous trigger (which writes the profile in the sign-up itself).
      target: { of: 'ratio', op: '>=', value: 1 },
      notes: `handle_new_user: AFTER INSERT, SECURITY DEFINER, search_path '', inserts the profile of the default field map's columns; nothing on UPDATE, as the recipe has. ${notes}`,
    }),
  ];
}
