/** A reconcile job as an admin runs one: POST /reconcile, then GET /reconcile/:jobId until it ends. */
import request from 'supertest';
import { auth } from './app.ts';
import { waitFor } from './wait-for.ts';

/** Queues a job of the steps given and polls it, with a deadline, until it succeeds or fails; its last view. */
export async function runReconcileJob(url: string, include: string[]): Promise<Record<string, unknown> & { status: string }> {
  const queued = await request(url).post('/reconcile').set(auth).send({ include }).expect(202);
  return waitFor(
    async () => {
      const job = await request(url).get(`/reconcile/${queued.body.jobId}`).set(auth).expect(200);
      return job.body.status === 'succeeded' || job.body.status === 'failed' ? job.body : undefined;
    },
    { timeoutMs: 20_000, what: 'the reconcile job to finish' },
  );
}
