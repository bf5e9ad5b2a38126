/**
 * `buildApp(config, deps)`: the whole service as a Fastify instance, used by `server.ts` and by
 * every test. It opens the data side first (a wrong table or field map fails here, before any
 * route exists), then registers the error handler, OpenAPI, and the routes in scopes by caller.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
// Imported, not read from disk, so the build copies it into dist/ beside the code that needs it.
import packageJson from '../package.json' with { type: 'json' };
import healthRoutes from '../routes/health.ts';
import metricsRoutes from '../routes/metrics.ts';
import reconcileRoutes from '../routes/reconcile.ts';
import syncMeRoutes from '../routes/sync-me.ts';
import syncRoutes from '../routes/sync.ts';
import userRoutes from '../routes/users.ts';
import webhookRoutes from '../routes/webhooks.ts';
import { requireServiceToken } from './auth/require-service-token.ts';
import { UserTokenVerifier } from './auth/user-tokens.ts';
import type { Config, BackendMode } from './config/config.ts';
import type { SqlClient } from './db/sql-client.ts';
import { errorHandler, notFoundHandler } from './http/error-handler.ts';
import { registerClosing } from './http/closing.ts';
import { acceptEmptyJsonBodies, registerEdge } from './http/edge.ts';
import { registerOpenApi } from './http/openapi.ts';
import { loggerOptions, RequestLogs, requestId } from './logging.ts';
import { Metrics } from './metrics/metrics.ts';
import { openSyncRuntime } from './open-engine.ts';
import { JobRunner } from './reconcile/jobs.ts';
import { Reconciler } from './reconcile/reconciler.ts';
import { startSchedule, type Schedule } from './reconcile/schedule.ts';
import type { SyncBackend } from './sync/backend.ts';
import type { SyncEngine } from './sync/engine.ts';
import { WebhookDeliveries } from './webhooks/deliveries.ts';
import { SignatureVerifier } from './webhooks/signature.ts';

export interface AppDeps {
  /** A pino logger to use instead of one built from LOG_LEVEL (tests capture logs with it). */
  logger?: FastifyBaseLogger;
  /** An open database to use instead of the one the configuration names. Not closed by the app. */
  sql?: SqlClient;
}

declare module 'fastify' {
  interface FastifyInstance {
    sync: {
      engine: SyncEngine;
      backend: SyncBackend;
      mode: BackendMode;
      /** Where the data lives, never with a password: for the start-up banner. */
      description: string;
      reconciler: Reconciler;
      jobs: JobRunner;
    };
  }
}


export async function buildApp(config: Config, deps: AppDeps = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.logger
      ? { loggerInstance: deps.logger }
      : { logger: loggerOptions(config.logLevel, process.stdout.isTTY === true) }),
    genReqId: requestId,
    logController: new RequestLogs(),
    // No route takes a large body; this bounds what a caller can make us buffer and parse.
    bodyLimit: 1024 * 1024,
    // Closing is handled by http/closing.ts: in-flight requests finish (with Connection: close),
    // new ones get a problem+json 503 rather than Fastify's plain one.
    return503OnClosing: false,
    // Errors the router raises before any route is found (a path with a broken %-escape such as
    // `/users/%`) go through the same handler, as problem+json, not as Fastify's own JSON body.
    frameworkErrors: (error, request, reply) => void errorHandler(error, request, reply),
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  acceptEmptyJsonBodies(app);
  registerClosing(app, config.http.shutdownDrainMs);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  const metrics = new Metrics();
  metrics.timeRequests(app);

  const runtime = await openSyncRuntime(config, {
    sql: deps.sql,
    logger: app.log,
    observe: (action, source, count) => metrics.countSyncs(action, source, count),
  });
  const reconciler = new Reconciler(
    runtime.backend,
    runtime.engine,
    {
      batchSize: config.reconcile.batchSize,
      retentionHours: config.webhooks.retentionHours,
      onRun: (outcome, report) => {
        metrics.reconcileRuns.inc({ outcome });
        if (report) metrics.missingUsers.set(report.actions.created + report.failed);
      },
    },
    app.log,
  );
  const jobs = new JobRunner(
    runtime.backend,
    runtime.engine,
    runtime.jobs,
    // Only the holder of the jobs lock runs jobs, one at a time: a job it finds `running` that it
    // did not start was left by a process that died, and is taken up at once.
    { batchSize: config.reconcile.batchSize, staleSeconds: 0 },
    app.log,
  );
  app.decorate('sync', {
    engine: runtime.engine,
    backend: runtime.backend,
    mode: config.mode,
    description: runtime.description,
    reconciler,
    jobs,
  });
  app.decorateRequest('caller', null);
  app.decorateRequest('rawBody', undefined);

  // Background work starts once the app is ready and stops, finishing a run in progress, before
  // the database closes.
  let schedule: Schedule | undefined;
  app.addHook('onReady', async () => {
    schedule = startSchedule(reconciler, jobs, config.reconcile, app.log);
  });
  app.addHook('onClose', async () => {
    await schedule?.stop();
    await runtime.close();
  });

  await registerEdge(app, config.http);
  await registerOpenApi(app, packageJson.version);
  await app.register(healthRoutes);
  const userTokens = new UserTokenVerifier(config.userTokens);
  await app.register(syncMeRoutes, { verifier: userTokens, syncAnonymous: config.userTokens.syncAnonymous });
  await app.register(async (serviceScope) => {
    serviceScope.addHook('onRequest', requireServiceToken(config.serviceTokens ?? [], userTokens));
    await serviceScope.register(syncRoutes);
    await serviceScope.register(userRoutes);
    await serviceScope.register(metricsRoutes, { metrics });
    await serviceScope.register(reconcileRoutes, { jobs });
  });
  await app.register(webhookRoutes, {
    tokens: config.serviceTokens ?? [],
    verifier: new SignatureVerifier(config.webhooks.secrets),
    deliveries: new WebhookDeliveries(runtime.backend, runtime.engine, (kind, outcome) =>
      metrics.webhookDeliveries.inc({ kind, outcome }),
    ),
    bodyLimit: config.webhooks.bodyLimit,
  });

  return app;
}
