/**
 * `buildApp(config, deps)`: the whole service as a Fastify instance, used by `server.ts` and by
 * every test. It opens the runtime first (runtime.ts: a wrong table or field map fails there,
 * before any route exists), then adds HTTP: the error handler, OpenAPI, and the routes in scopes
 * by caller. Background work starts once the app is ready.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
// Imported, not read from disk, so the build copies it into dist/ beside the code that needs it.
import packageJson from '../package.json' with { type: 'json' };
import captureRoutes from '../routes/capture.ts';
import demoRoutes from '../routes/demo.ts';
import healthRoutes from '../routes/health.ts';
import metricsRoutes from '../routes/metrics.ts';
import reconcileRoutes from '../routes/reconcile.ts';
import syncMeRoutes from '../routes/sync-me.ts';
import syncRoutes from '../routes/sync.ts';
import userRoutes from '../routes/users.ts';
import webhookRoutes from '../routes/webhooks.ts';
import { requireServiceToken } from './auth/require-service-token.ts';
import { UserTokenVerifier } from './auth/user-tokens.ts';
import type { Config } from './config/config.ts';
import type { SqlClient } from './db/sql-client.ts';
import { DemoSignUps } from './embedded/demo-sign-ups.ts';
import { errorHandler, notFoundHandler } from './http/error-handler.ts';
import { registerClosing } from './http/closing.ts';
import { acceptEmptyJsonBodies, registerEdge } from './http/edge.ts';
import { registerOpenApi } from './http/openapi.ts';
import { loggerOptions, RequestLogs, requestId } from './logging.ts';
import { Metrics } from './metrics/metrics.ts';
import { openRuntime, type Runtime } from './runtime.ts';
import { SignatureVerifier } from './webhooks/signature.ts';

export interface AppDeps {
  /** A pino logger to use instead of one built from LOG_LEVEL (tests capture logs with it). */
  logger?: FastifyBaseLogger;
  /** An open database to use instead of the one the configuration names. Not closed by the app. */
  sql?: SqlClient;
  /**
   * Register the embedded-only demo route (POST /demo/signups); default: in embedded mode. The
   * OpenAPI generator (scripts/openapi.ts) turns it off: the committed contract is the one every
   * mode serves.
   */
  demoRoutes?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The service behind the routes (runtime.ts). */
    sync: Runtime;
  }
}


/** TRUST_PROXY as Fastify takes it: a hop count is the function "the first n hops". */
const trustProxyOption = (trust: boolean | number | string) =>
  typeof trust === 'number' ? (_address: string, hop: number) => hop < trust : trust;

export async function buildApp(config: Config, deps: AppDeps = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.logger
      ? { loggerInstance: deps.logger }
      : { logger: loggerOptions(config.logLevel, process.stdout.isTTY === true, config.secrets) }),
    genReqId: requestId,
    // request.ip, which the auth-failure limit and the rate limit count by, is X-Forwarded-For's
    // client only from the proxies TRUST_PROXY names.
    trustProxy: trustProxyOption(config.http.trustProxy),
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

  const runtime = await openRuntime(config, {
    sql: deps.sql,
    logger: app.log,
    observers: {
      sync: (action, source, count) => metrics.countSyncs(action, source, count),
      reconcile: (outcome, report) => {
        metrics.reconcileRuns.inc({ outcome });
        if (report) metrics.missingUsers.set(report.actions.created + report.failed);
      },
      delivery: (kind, outcome) => metrics.webhookDeliveries.inc({ kind, outcome }),
      capture: (report) => metrics.countCaptureChanges(report),
      syncBatch: (size) => metrics.syncBatchSize.observe(size),
    },
  });
  const { captureControl } = runtime;
  if (runtime.capture.state === 'on' && captureControl) {
    metrics.watchCaptureQueue(() => captureControl.queue(), app.log);
  }
  app.decorate('sync', runtime);
  app.decorateRequest('caller', null);
  app.decorateRequest('rawBody', undefined);

  // Background work starts once the app is ready and stops, finishing a run in progress, before
  // the database closes.
  app.addHook('onReady', async () => runtime.startBackground());
  app.addHook('onClose', () => runtime.close());

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
    await serviceScope.register(reconcileRoutes, { jobs: runtime.jobs });
    await serviceScope.register(captureRoutes);
    // Embedded mode only: a way to watch capture work without a SQL client.
    if ((deps.demoRoutes ?? true) && runtime.mode === 'embedded' && runtime.sql !== undefined) {
      await serviceScope.register(demoRoutes, { signUps: new DemoSignUps(runtime.sql) });
    }
  });
  await app.register(webhookRoutes, {
    tokens: config.serviceTokens ?? [],
    verifier: new SignatureVerifier(config.webhooks.secrets),
    deliveries: runtime.deliveries,
    bodyLimit: config.webhooks.bodyLimit,
  });

  return app;
}
