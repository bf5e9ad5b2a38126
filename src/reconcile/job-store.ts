/**
 * Where reconcile jobs live: the `user_sync.reconcile_jobs` table in SQL mode, this process in
 * Supabase API mode (memory-job-store.ts).
 */
export type JobPhase = 'missing' | 'stale' | 'orphaned';
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface JobCounts {
  created: number;
  updated: number;
  unchanged: number;
  deleted: number;
  failed: number;
}

export interface JobError {
  userId: string;
  code: string;
  detail: string;
}

export interface JobProgress {
  done: number;
  total: number | null;
  counts: JobCounts;
  errors: JobError[];
  /** Where to go on: the phase under way and the cursor within it. */
  phase: JobPhase | null;
  cursor: string | null;
}

export interface JobRecord extends JobProgress {
  id: string;
  status: JobStatus;
  dryRun: boolean;
  include: JobPhase[];
  requestedBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  failure: string | null;
}

export interface JobStore {
  create(job: { id: string; dryRun: boolean; include: JobPhase[]; requestedBy: string }): Promise<void>;
  get(id: string): Promise<JobRecord | null>;
  /**
   * Takes the oldest job that is queued or left `running`. Called only under the jobs lock
   * (jobs.ts), whose holder runs one job at a time, so a `running` job it finds was left by a
   * process that died (or stopped between batches) and is resumed.
   */
  claimNext(): Promise<JobRecord | null>;
  /** Saves progress. */
  save(id: string, progress: JobProgress): Promise<void>;
  finish(id: string, status: 'succeeded' | 'failed', failure?: string): Promise<void>;
}

export const emptyCounts = (): JobCounts => ({ created: 0, updated: 0, unchanged: 0, deleted: 0, failed: 0 });
