/**
 * The service's peak memory over a whole reconcile job at growing sizes: it must stay flat,
 * because the job holds one batch at a time, never a list of every user. Each size runs in a
 * fresh service process, whose peak resident set (VmHWM) is read when the job has ended.
 *
 * 10% of the users lack a profile and 1% are stale, and the job runs every step, so every user
 * passes through the process (the stale step reads them all) while a tenth are written.
 */
import { createBigDatabase } from './big-database.ts';
import { runReconcileJob } from './reconcile-job.ts';
import { compare, type Comparison } from './report.ts';
import type { BenchContext } from './section.ts';
import { startPostgresService } from './service-child.ts';

/** The growth allowed from the smallest size to the largest. */
const ALLOWED_GROWTH_MIB = 50;

async function peakDuringReconcile(context: BenchContext, users: number): Promise<number> {
  const database = await createBigDatabase(context, { users, missing: users / 10, stale: users / 100 });
  try {
    const service = await startPostgresService(database.url);
    try {
      const { ms, done } = await runReconcileJob(service, ['missing', 'stale', 'orphaned']);
      const peak = await service.peakRssMiB();
      context.log(`reconcile of ${users} users: ${done} handled in ${(ms / 1000).toFixed(1)} s, peak RSS ${peak.toFixed(1)} MiB`);
      return peak;
    } finally {
      await service.stop();
    }
  } finally {
    await database.drop();
  }
}

export async function reconcileMemory(context: BenchContext): Promise<Comparison[]> {
  const [smallest, ...larger] = context.quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000];
  const baseline = await peakDuringReconcile(context, smallest);
  const rows: Comparison[] = [];
  for (const users of larger) {
    rows.push(
      compare({
        section: 'reconcile memory',
        metric: `peak RSS, ${users} users`,
        unit: 'MiB',
        service: await peakDuringReconcile(context, users),
        baseline,
        baselineName: `peak RSS, ${smallest} users`,
        // Absolute: at most ALLOWED_GROWTH_MIB above the smallest run's peak.
        target: { of: 'value', op: '<=', value: Math.round(baseline + ALLOWED_GROWTH_MIB) },
        notes: `whole reconcile job (missing, stale, orphaned), 10% missing, 1% stale; VmHWM of a fresh service process; target: the ${smallest}-user peak + ${ALLOWED_GROWTH_MIB} MiB`,
      }),
    );
  }
  return rows;
}
