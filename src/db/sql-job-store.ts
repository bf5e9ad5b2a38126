/**
 * Reconcile jobs in `user_sync.reconcile_jobs`, shared by every replica. Its `heartbeat_at`
 * column is no longer written: the jobs lock, not a heartbeat, tells an abandoned job (jobs.ts).
 */
import type { JobPhase, JobProgress, JobRecord, JobStore } from '../reconcile/job-store.ts';
import type { Queryable } from './sql-client.ts';

interface JobRow {
  job: {
    id: string;
    status: JobRecord['status'];
    dry_run: boolean;
    include: JobPhase[];
    requested_by: string;
    created_at: string;
    started_at: string | null;
    finished_at: string | null;
    done: number;
    total: number | null;
    counts: JobRecord['counts'];
    errors: JobRecord['errors'];
    phase: JobPhase | null;
    cursor: string | null;
    failure: string | null;
  };
}

const toRecord = ({ job }: JobRow): JobRecord => ({
  id: job.id,
  status: job.status,
  dryRun: job.dry_run,
  include: job.include,
  requestedBy: job.requested_by,
  createdAt: job.created_at,
  startedAt: job.started_at,
  finishedAt: job.finished_at,
  done: job.done,
  total: job.total,
  counts: job.counts,
  errors: job.errors,
  phase: job.phase,
  cursor: job.cursor,
  failure: job.failure,
});

export class SqlJobStore implements JobStore {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async create({ id, dryRun, include, requestedBy }: { id: string; dryRun: boolean; include: JobPhase[]; requestedBy: string }) {
    await this.#db.query(
      `INSERT INTO user_sync.reconcile_jobs (id, status, dry_run, include, requested_by, counts)
       VALUES ($1, 'queued', $2, $3, $4, '{"created":0,"updated":0,"unchanged":0,"deleted":0,"failed":0}')`,
      [id, dryRun, include, requestedBy],
    );
  }

  async get(id: string): Promise<JobRecord | null> {
    const [row] = await this.#db.query<JobRow>('SELECT to_jsonb(j) AS job FROM user_sync.reconcile_jobs j WHERE id = $1', [id]);
    return row ? toRecord(row) : null;
  }

  async claimNext(): Promise<JobRecord | null> {
    const [row] = await this.#db.query<JobRow>(
      `UPDATE user_sync.reconcile_jobs j
          SET status = 'running', started_at = COALESCE(j.started_at, now())
        WHERE j.id = (
          SELECT id FROM user_sync.reconcile_jobs
           WHERE status IN ('queued', 'running')
           ORDER BY created_at
           LIMIT 1
             FOR UPDATE SKIP LOCKED)
       RETURNING to_jsonb(j) AS job`,
    );
    return row ? toRecord(row) : null;
  }

  async save(id: string, progress: JobProgress): Promise<void> {
    await this.#db.query(
      `UPDATE user_sync.reconcile_jobs
          SET done = $2, total = $3, counts = $4, errors = $5, phase = $6, cursor = $7
        WHERE id = $1`,
      [id, progress.done, progress.total, JSON.stringify(progress.counts), JSON.stringify(progress.errors), progress.phase, progress.cursor],
    );
  }

  async finish(id: string, status: 'succeeded' | 'failed', failure?: string): Promise<void> {
    await this.#db.query(
      `UPDATE user_sync.reconcile_jobs SET status = $2, finished_at = now(), failure = $3 WHERE id = $1`,
      [id, status, failure ?? null],
    );
  }
}
