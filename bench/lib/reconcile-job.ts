/** A reconcile job run through the service's HTTP API, as an admin would: queue it, watch it end. */
import type { ServiceChild } from './service-child.ts';

export type JobStep = 'missing' | 'stale' | 'orphaned';

interface JobView {
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  counts: { created: number; updated: number; unchanged: number; deleted: number; failed: number };
  progress: { done: number };
  failure: string | null;
}

/** Often enough that the wait adds little to a run of seconds, seldom enough to cost the service little. */
const POLL_MS = 25;

/** Milliseconds from `POST /reconcile` to the first poll that finds the job succeeded. */
export async function runReconcileJob(
  service: ServiceChild,
  include: readonly JobStep[],
): Promise<{ ms: number; counts: JobView['counts']; done: number }> {
  const started = performance.now();
  const { jobId } = await service.request<{ jobId: string }>('POST', '/reconcile', { include });
  for (;;) {
    const job = await service.request<JobView>('GET', `/reconcile/${jobId}`);
    if (job.status === 'failed') throw new Error(`reconcile job ${jobId} failed: ${job.failure}`);
    if (job.status === 'succeeded') return { ms: performance.now() - started, counts: job.counts, done: job.progress.done };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
