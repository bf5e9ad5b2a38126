/**
 * A reconcile of the users without a profile through the service's own job (the code path of
 * the periodic reconcile, in batches with progress saved after each), against the one
 * INSERT … SELECT a DBA would run by hand. Between rounds the missing profiles are deleted again
 * and the audit log emptied, so every round starts from the same state.
 */
import pg from 'pg';
import { bigUserIdSql } from '../../scripts/seed-big.ts';
import { alternate, median } from './alternate.ts';
import { createBigDatabase } from './big-database.ts';
import { runReconcileJob } from './reconcile-job.ts';
import { rawProfileInsertSql } from './raw-profile-insert.ts';
import { compare, type Comparison } from './report.ts';
import type { BenchContext } from './section.ts';
import { startPostgresService } from './service-child.ts';

/** What the service writes with the default field map, for every live user without a profile. */
const INSERT_MISSING_SQL = rawProfileInsertSql(
  'a.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM public.users p WHERE p.id = a.id)',
  'ON CONFLICT DO NOTHING',
);

/** Seeded users 1..$1 are the ones without a profile. */
const DELETE_SYNCED_SQL = `DELETE FROM public.users WHERE id IN (SELECT ${bigUserIdSql('n')} FROM generate_series(1, $1::int) AS n)`;

export async function reconcileTime(context: BenchContext): Promise<Comparison[]> {
  const users = context.quick ? 100_000 : 1_000_000;
  const missing = users / 10;
  const rounds = context.quick ? 1 : 3;
  const database = await createBigDatabase(context, { users, missing, stale: users / 100 });
  const service = await startPostgresService(database.url);
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const restore = async () => {
      await client.query(DELETE_SYNCED_SQL, [missing]);
      // The service writes an audit row per profile; the baseline none. Kept out of the next round.
      await client.query('TRUNCATE user_sync.audit_log');
      // As autovacuum would between reconciles: dead rows left by the delete would slow the next round.
      await client.query('VACUUM (ANALYZE) public.users, user_sync.audit_log');
    };
    const viaService = async () => {
      const { ms, counts } = await runReconcileJob(service, ['missing']);
      if (counts.created !== missing) throw new Error(`the reconcile job created ${counts.created} profiles, expected ${missing}`);
      await restore();
      return ms;
    };
    const viaInsert = async () => {
      const started = performance.now();
      const { rowCount } = await client.query(INSERT_MISSING_SQL);
      const ms = performance.now() - started;
      if (rowCount !== missing) throw new Error(`the INSERT … SELECT created ${rowCount} profiles, expected ${missing}`);
      await restore();
      return ms;
    };
    const times = await alternate(rounds, viaService, viaInsert);
    context.log(`reconcile: service ${times.service.map(Math.round).join(', ')} ms; INSERT … SELECT ${times.baseline.map(Math.round).join(', ')} ms`);
    return [
      compare({
        section: 'reconcile',
        metric: `${missing} missing users (median)`,
        unit: 's',
        service: median(times.service) / 1000,
        baseline: median(times.baseline) / 1000,
        baselineName: 'one INSERT … SELECT … WHERE NOT EXISTS',
        target: { of: 'ratio', op: '<=', value: 1.3 },
        notes: `POST /reconcile {include:["missing"]} until succeeded (batches of RECONCILE_BATCH_SIZE, default 2000, audited), ${users} users; ${rounds} rounds each, alternating, state restored between runs`,
      }),
    ];
  } finally {
    await client.end();
    await service.stop();
    await database.drop();
  }
}
