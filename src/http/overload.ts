/**
 * Load shedding: when the event loop falls behind (mean delay over the last second above
 * OVERLOAD_MAX_EVENT_LOOP_DELAY_MS), new requests get a quick 503 `overloaded` with Retry-After
 * instead of queueing behind work the process cannot keep up with until their callers time out.
 * Measured by @fastify/under-pressure; answered through our error handler, as problem+json.
 *
 * Which requests are shed, and why:
 * - `GET /health` never is. It is the liveness probe: an orchestrator kills a pod whose liveness
 *   fails, and killing a replica for being busy moves its load onto the others, which then fail
 *   too. A busy process is alive.
 * - `GET /ready` is. Readiness takes the replica out of the load balancer until it catches up,
 *   which is what a saturated replica needs; it comes back on its own once the delay falls.
 * - Webhooks are shed too. Supabase Auth retries an Auth Hook answered 429/503 with Retry-After
 *   (at once, up to three attempts within its 5 s budget: docs/supabase-webhooks-and-hooks.md),
 *   so a quick 503 gets another chance where a slow answer past the hook's timeout fails the
 *   signup outright. A Database Webhook (pg_net) is never retried, but on a
 *   saturated loop it would time out all the same; the periodic reconcile repairs what it missed.
 *   Exempting them would keep the loop saturated for everyone, webhooks included.
 */
import fastifyUnderPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import { ProblemError } from '../errors/problems.ts';

/** Routes answered whatever the load (by their route pattern). */
const NEVER_SHED = new Set(['/health']);

/**
 * Pressure is re-measured every second; two seconds lets the load clear before the retry without
 * keeping callers away longer than needed.
 */
const RETRY_AFTER_SECONDS = 2;

export async function registerOverloadProtection(app: FastifyInstance, maxEventLoopDelayMs: number): Promise<void> {
  if (maxEventLoopDelayMs === 0) return;
  await app.register(fastifyUnderPressure, {
    maxEventLoopDelay: maxEventLoopDelayMs,
    // Thrown, not sent: the error handler renders it like every other problem (and logs it).
    pressureHandler: async (request, _reply, type, value) => {
      if (NEVER_SHED.has(request.routeOptions.url ?? '')) return;
      const measured = typeof value === 'number' ? ` (${type} ${Math.round(value)})` : '';
      throw new ProblemError('overloaded', `The service is overloaded${measured}; retry shortly.`, {
        retryAfter: RETRY_AFTER_SECONDS,
      });
    },
  });
}
