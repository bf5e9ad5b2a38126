/** `POST /reconcile` and `GET /reconcile/:jobId`: bulk repairs for admins, with progress. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ProblemError } from '../src/errors/problems.ts';
import { SERVICE_TOKEN_SCHEME } from '../src/http/openapi.ts';
import { commonProblems, okResponse, problemResponse } from '../src/http/schemas.ts';
import { JOB_PHASES, type JobRunner } from '../src/reconcile/jobs.ts';

const JobRequest = z
  .object({
    dryRun: z.boolean().default(false).meta({ description: 'Report what would be done; write nothing.' }),
    include: z
      .array(z.enum(JOB_PHASES as ['missing', 'stale', 'orphaned']))
      .min(1)
      .default([...JOB_PHASES])
      .meta({ description: 'Steps to run: users without a profile, stale profiles, orphaned profiles. Default: all.' }),
  })
  .strict()
  .meta({ id: 'ReconcileRequest', example: { dryRun: true, include: ['missing', 'orphaned'] } });

const Counts = z.object({ created: z.number(), updated: z.number(), unchanged: z.number(), deleted: z.number(), failed: z.number() });

const JobView = z
  .object({
    jobId: z.uuid(),
    status: z.enum(['queued', 'running', 'succeeded', 'failed']),
    dryRun: z.boolean(),
    include: z.array(z.enum(JOB_PHASES as ['missing', 'stale', 'orphaned'])),
    progress: z.object({
      done: z.number().meta({ description: 'Users (or profiles) handled so far.' }),
      total: z.number().nullable().meta({ description: 'All there are to handle, counted at the start; null where counting costs a full scan (Supabase API mode).' }),
      phase: z.enum(JOB_PHASES as ['missing', 'stale', 'orphaned']).nullable(),
    }),
    counts: Counts,
    errors: z.array(z.object({ userId: z.string(), code: z.string(), detail: z.string() })).meta({ description: 'The first 20 users that could not be synced.' }),
    requestedBy: z.string(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    failure: z.string().nullable(),
  })
  .meta({ id: 'ReconcileJob' });

const reconcileRoutes: FastifyPluginAsyncZod<{ jobs: JobRunner }> = async (app, { jobs }) => {
  app.post('/reconcile', {
    config: { scope: 'admin' },
    schema: {
      tags: ['reconcile'],
      summary: 'Start a reconcile job',
      description:
        'Queues a job that repairs, in batches: users without a profile (`missing`), profiles that differ from auth.users ' +
        '(`stale`), and profiles whose user is gone (`orphaned`, by DELETE_POLICY). One job runs at a time across replicas; ' +
        'a job whose process died is resumed. With `dryRun` it counts what it would do and writes nothing.',
      security: [{ [SERVICE_TOKEN_SCHEME]: [] }],
      body: JobRequest,
      response: {
        202: okResponse('Queued; poll GET /reconcile/{jobId}.', z.object({ jobId: z.uuid() })),
        400: problemResponse('The body is not valid (`invalid_request`).'),
        ...commonProblems,
      },
    },
    handler: async (request, reply) => {
      const jobId = await jobs.enqueue(request.body, request.caller!.name);
      return reply.code(202).send({ jobId });
    },
  });

  app.get('/reconcile/:jobId', {
    config: { scope: 'admin' },
    schema: {
      tags: ['reconcile'],
      summary: 'A reconcile job\'s status and progress',
      security: [{ [SERVICE_TOKEN_SCHEME]: [] }],
      params: z.object({ jobId: z.uuid({ error: 'expected a job id (UUID)' }) }),
      response: {
        200: okResponse('The job as it stands.', JobView),
        400: problemResponse('The job id is not a UUID (`invalid_request`).'),
        404: problemResponse('No such job (`job_not_found`).'),
        ...commonProblems,
      },
    },
    handler: async (request) => {
      const job = await jobs.get(request.params.jobId);
      if (job === null) throw new ProblemError('job_not_found', `No reconcile job ${request.params.jobId}.`);
      return {
        jobId: job.id,
        status: job.status,
        dryRun: job.dryRun,
        include: job.include,
        progress: { done: job.done, total: job.total, phase: job.phase },
        counts: job.counts,
        errors: job.errors,
        requestedBy: job.requestedBy,
        createdAt: job.createdAt,
        startedAt: job.startedAt,
        finishedAt: job.finishedAt,
        failure: job.failure,
      };
    },
  });
};

export default reconcileRoutes;
