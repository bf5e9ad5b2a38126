/**
 * What the CLI's commands do, in two places: in this process, on the runtime the server would
 * open (the CLI's first form, for a machine with the database), or over HTTP, on a running
 * service's API with a service token (`--url`, `--token`). Over HTTP each call is authenticated,
 * scoped and audited like any other caller's, reaches a deployed service, and works beside an
 * embedded server, whose data folder only the server may open.
 */
import type { CaptureStatus } from '../capture/install.ts';
import type { MissingUser } from '../sync/profile-store.ts';
import type { JobPhase } from '../reconcile/job-store.ts';
import type { Runtime } from '../runtime.ts';

export interface JobProgress {
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  done: number;
  total: number | null;
  counts: { created: number; updated: number; unchanged: number; deleted: number; failed: number };
  errors: { userId: string; code: string; detail: string }[];
  failure: string | null;
}

export interface Operations {
  listMissing(cursor: string | null, limit: number): Promise<{ items: MissingUser[]; nextCursor: string | null }>;
  sync(userId: string, dryRun: boolean): Promise<unknown>;
  /** The user and its profile as GET /users/{userId} shows them. */
  status(userId: string): Promise<unknown>;
  startReconcile(request: { dryRun: boolean; include: string[] }): Promise<string>;
  job(jobId: string): Promise<JobProgress>;
}

/** `GET /capture`: capture as the database has it, and what the service does with the queue. */
export interface ServiceCaptureStatus extends CaptureStatus {
  service: { state: 'on' | 'off'; reason: string | null };
}

/**
 * Over HTTP, the CLI can also read capture's status from the service. Installing and removing
 * capture change the database's schema and stay where DATABASE_URL reaches it.
 */
export interface RemoteOperations extends Operations {
  captureStatus(): Promise<ServiceCaptureStatus>;
}

const ACTOR = { actor: 'cli', source: 'api' } as const;

export function inProcess(runtime: Runtime): Operations {
  return {
    listMissing: (cursor, limit) => runtime.engine.listMissing(cursor, limit),
    sync: (userId, dryRun) => runtime.engine.sync(userId, ACTOR, { dryRun }),
    status: (userId) => runtime.engine.inspect(userId),
    startReconcile: (request) => runtime.jobs.enqueue(request as { dryRun: boolean; include: JobPhase[] }, 'cli'),
    job: async (jobId) => {
      const job = await runtime.jobs.get(jobId);
      if (job === null) throw new Error(`the job ${jobId} vanished`);
      return job;
    },
  };
}

/** A problem+json answer of the service, as the CLI reports it. */
export class RemoteProblem extends Error {
  override name = 'RemoteProblem';
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, detail: string) {
    super(`${status} ${code}: ${detail}`);
    this.status = status;
    this.code = code;
  }
}

export function overHttp(baseUrl: string, token: string | undefined): RemoteOperations {
  const base = baseUrl.replace(/\/+$/, '');
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: {
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (error) {
      const reason = (error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message;
      throw new Error(`cannot reach ${base} (${reason})`, { cause: error });
    }
    const text = await response.text();
    const parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
    if (!response.ok) {
      const problem = (parsed ?? {}) as { code?: string; detail?: string };
      throw new RemoteProblem(response.status, problem.code ?? 'error', problem.detail ?? response.statusText);
    }
    return parsed as T;
  };
  const id = (userId: string) => encodeURIComponent(userId);
  return {
    listMissing: async (cursor, limit) => {
      const query = new URLSearchParams({ limit: String(limit), ...(cursor === null ? {} : { cursor }) });
      const page = await call<{ users: MissingUser[]; nextCursor: string | null }>('GET', `/users/missing?${query.toString()}`);
      return { items: page.users, nextCursor: page.nextCursor };
    },
    sync: (userId, dryRun) => call('POST', `/sync/${id(userId)}${dryRun ? '?dryRun=true' : ''}`),
    status: (userId) => call('GET', `/users/${id(userId)}`),
    startReconcile: async (request) => (await call<{ jobId: string }>('POST', '/reconcile', request)).jobId,
    job: async (jobId) => {
      const view = await call<JobProgress & { progress: { done: number; total: number | null } }>('GET', `/reconcile/${id(jobId)}`);
      return { ...view, done: view.progress.done, total: view.progress.total };
    },
    captureStatus: () => call('GET', '/capture'),
  };
}
