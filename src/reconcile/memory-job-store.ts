/** Reconcile jobs kept in this process, for Supabase API mode (no `user_sync` schema there). */
import { emptyCounts, type JobPhase, type JobProgress, type JobRecord, type JobStore } from './job-store.ts';

export class MemoryJobStore implements JobStore {
  readonly #jobs = new Map<string, JobRecord>();

  async create({ id, dryRun, include, requestedBy }: { id: string; dryRun: boolean; include: JobPhase[]; requestedBy: string }) {
    this.#jobs.set(id, {
      id,
      status: 'queued',
      dryRun,
      include,
      requestedBy,
      createdAt: new Date().toISOString(),
      startedAt: null,
      finishedAt: null,
      done: 0,
      total: null,
      counts: emptyCounts(),
      errors: [],
      phase: null,
      cursor: null,
      failure: null,
    });
  }

  async get(id: string): Promise<JobRecord | null> {
    const job = this.#jobs.get(id);
    return job ? structuredClone(job) : null;
  }

  async claimNext(): Promise<JobRecord | null> {
    const job = [...this.#jobs.values()]
      .filter((candidate) => candidate.status === 'queued' || candidate.status === 'running')
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))[0];
    if (!job) return null;
    job.status = 'running';
    job.startedAt ??= new Date().toISOString();
    return structuredClone(job);
  }

  async save(id: string, progress: JobProgress): Promise<void> {
    const job = this.#jobs.get(id);
    if (job) Object.assign(job, structuredClone(progress));
  }

  async finish(id: string, status: 'succeeded' | 'failed', failure?: string): Promise<void> {
    const job = this.#jobs.get(id);
    if (job) Object.assign(job, { status, failure: failure ?? null, finishedAt: new Date().toISOString() });
  }
}
