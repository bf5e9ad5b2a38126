/** `GET /health` (the process is up) and `GET /ready` (and can reach its database). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { databaseUnavailable } from '../src/errors/problems.ts';
import { Health, okResponse, problemResponse, Readiness } from '../src/http/schemas.ts';

/** A readiness probe must answer quickly even when the database hangs rather than refuses. */
const READY_TIMEOUT_MS = 2_000;

const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/health', {
    schema: {
      tags: ['health'],
      summary: 'Liveness',
      description: 'Answers while the process runs; it does not touch the database.',
      response: { 200: okResponse('The process is up.', Health) },
    },
    logLevel: 'warn',
    config: { rateLimit: false },
    handler: () => ({ status: 'ok' as const }),
  });

  app.get('/ready', {
    schema: {
      tags: ['health'],
      summary: 'Readiness',
      description:
        'Answers 200 when the database answers, else 503 (`database_unavailable`). The body names the back end and ' +
        'whether capture is on, off or unavailable.',
      response: {
        200: okResponse('The database answers.', Readiness),
        503: problemResponse('The database does not answer.') },
    },
    logLevel: 'warn',
    config: { rateLimit: false },
    handler: async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      });
      try {
        await Promise.race([app.sync.profiles.ping(), timeout]);
      } catch (error) {
        throw databaseUnavailable(error);
      } finally {
        clearTimeout(timer);
      }
      return { status: 'ready' as const, backend: app.sync.mode, capture: app.sync.capture.state };
    },
  });
};

export default healthRoutes;
