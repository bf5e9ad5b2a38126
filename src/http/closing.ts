/**
 * Closing without dropping anything on the floor. Once `app.close()` begins:
 * 1. every response carries `Connection: close`, so a keep-alive connection ends after the
 *    request it is serving instead of idling into the listener's close;
 * 2. a request arriving meanwhile gets 503 `shutting_down` (problem+json, Retry-After): its
 *    client retries, on another replica behind a load balancer;
 * 3. for `drainMs` the listener stays open, so a request a client had already written on an idle
 *    keep-alive connection is read and answered (the 503 above) rather than reset with the
 *    connection; only then does Fastify stop listening and close the connections left idle,
 *    while requests in flight run to their end (the database closes after them, in onClose).
 * Fastify's own `return503OnClosing` is turned off in app.ts: its 503 is not problem+json.
 */
import type { FastifyInstance } from 'fastify';
import { ProblemError } from '../errors/problems.ts';
import { sendProblem } from './error-handler.ts';

export function registerClosing(app: FastifyInstance, drainMs: number): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    app.log.info({ drainMs }, 'closing: requests in flight finish, new ones get 503 shutting_down');
    if (drainMs > 0) await new Promise((resolve) => setTimeout(resolve, drainMs));
  });
  // Answered here rather than thrown: the error handler logs every 5xx as an error, and a
  // deployment's routine shutdown is not one (Fastify's request log still records each 503).
  app.addHook('onRequest', async (request, reply) => {
    if (!closing) return;
    const problem = new ProblemError('shutting_down', 'The service is shutting down; retry, another instance will answer.', {
      retryAfter: 1,
    });
    return sendProblem(reply, problem, request.id);
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
}
