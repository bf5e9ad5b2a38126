/** `GET /metrics`: Prometheus text, for a scraper holding a service token with the `read` scope. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { SERVICE_TOKEN_SCHEME } from '../src/http/openapi.ts';
import { commonProblems } from '../src/http/schemas.ts';
import type { Metrics } from '../src/metrics/metrics.ts';

const metricsRoutes: FastifyPluginAsyncZod<{ metrics: Metrics }> = async (app, { metrics }) => {
  app.get('/metrics', {
    config: { scope: 'read', rateLimit: false },
    logLevel: 'warn',
    schema: {
      tags: ['health'],
      summary: 'Prometheus metrics',
      description:
        'Syncs by action and path (`user_sync_syncs_total`), webhook deliveries by outcome, request durations, ' +
        'reconcile runs, the missing users the last reconcile found, and process metrics.',
      security: [{ [SERVICE_TOKEN_SCHEME]: [] }],
      response: {
        200: { description: 'Prometheus text exposition format.', content: { 'text/plain': { schema: z.string() } } },
        ...commonProblems,
      },
    },
    handler: async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  });
};

export default metricsRoutes;
