/**
 * What every request passes on its way in: JSON bodies (an empty one is none), CORS for the
 * configured frontends, security headers, a block on addresses that keep failing authentication,
 * load shedding when the process falls behind, and a rate limit per caller.
 */
import fastifyCors from '@fastify/cors';
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config/config.ts';
import { ProblemError } from '../errors/problems.ts';
import { registerAuthFailureLimit } from './auth-failures.ts';
import { registerOverloadProtection } from './overload.ts';

/**
 * POST routes take no body, yet many HTTP clients send `Content-Type: application/json` with an
 * empty one: take that as "no body" instead of Fastify's 400. Anything else parses as usual.
 */
export function acceptEmptyJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    if (text === '') {
      done(null, undefined);
      return;
    }
    // Fastify's default parser answers through `done`, synchronously; it returns nothing to await.
    void parseJson(request, text, done);
  });
}

/**
 * The security headers of every response that gets past CORS: helmet 8's defaults, with a
 * Content-Security-Policy for Swagger UI, which loads its own script and styles from /docs:
 * nothing inline but styles, nothing remote. tests/edge.test.ts holds them to what
 * @fastify/helmet sends with those directives.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': [
    "default-src 'self'",
    "base-uri 'self'",
    "font-src 'self' https: data:",
    "form-action 'self'",
    "frame-ancestors 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "script-src 'self'",
    "script-src-attr 'none'",
    "style-src 'self' 'unsafe-inline'",
    'upgrade-insecure-requests',
    "connect-src 'self'",
  ].join(';'),
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
};

/** Whether `origin` is the service's own (Swagger UI at /docs sends its Origin on POSTs). */
function isSameOrigin(origin: string, request: FastifyRequest): boolean {
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

export async function registerEdge(app: FastifyInstance, http: Config['http']): Promise<void> {
  const allowed = new Set(http.corsOrigins);
  // A browser request from an origin not in CORS_ORIGINS is refused outright (403 problem), not
  // just left without CORS headers: the caller sees why, and nothing runs on its behalf.
  await app.register(fastifyCors, () => (request: FastifyRequest, callback: (error: Error | null, options?: object) => void) => {
    const origin = request.headers.origin;
    // @fastify/cors answers an OPTIONS from an allowed origin that lacks
    // Access-Control-Request-Method with a text/plain 400; say it as a problem instead.
    if (request.method === 'OPTIONS' && origin !== undefined && allowed.has(origin) && !request.headers['access-control-request-method']) {
      callback(new ProblemError('invalid_request', 'A CORS preflight needs an Access-Control-Request-Method header.'));
      return;
    }
    if (origin === undefined || allowed.has(origin) || isSameOrigin(origin, request)) {
      callback(null, {
        origin: origin !== undefined && allowed.has(origin) ? origin : false,
        methods: ['GET', 'POST'],
        allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
        exposedHeaders: ['X-Request-Id', 'Retry-After'],
        maxAge: 600,
      });
      return;
    }
    callback(new ProblemError('forbidden', `The origin ${origin} is not allowed (CORS_ORIGINS).`));
  });

  // In place of @fastify/helmet, which rebuilt its middleware and re-parsed the CSP on every
  // request (~55 µs each); the headers never vary, so they are set as they stand.
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(SECURITY_HEADERS);
    done();
  });

  // Before anything that looks at credentials or does real work, after the headers a browser
  // needs to read the answer.
  registerAuthFailureLimit(app, http.authFailureLimit, http.authFailureWindowSeconds);

  // After CORS and the security headers, so a shed request's 503 still carries them (a browser
  // could not read a 503 without its CORS headers), and before anything that does real work.
  await registerOverloadProtection(app, http.maxEventLoopDelayMs);

  // By kind of caller: a backend's service token is trusted and unlimited unless told otherwise
  // (one token may sync every sign-in of a school at 9:00) unless RATE_LIMIT_BY_TOKEN names it, a
  // user's token is limited per user, and what names no caller per address. A limit of 0 is none.
  const limitOf = (request: FastifyRequest): number => {
    switch (request.caller?.kind) {
      case 'service':
        return http.rateLimitByToken.get(request.caller.name) ?? http.rateLimitServiceMax;
      case 'user':
        return http.rateLimitUserMax;
      case 'webhook-signature':
        return 0;
      default:
        return http.rateLimitMax;
    }
  };
  const limits = [http.rateLimitMax, http.rateLimitServiceMax, http.rateLimitUserMax, ...http.rateLimitByToken.values()];
  if (limits.some((max) => max > 0)) {
    await app.register(fastifyRateLimit, {
      max: (request) => limitOf(request),
      allowList: (request) => limitOf(request) === 0,
      timeWindow: http.rateLimitWindowSeconds * 1000,
      // After authentication, so a caller is counted by who it is (a token's name, a user id)
      // rather than by an address a load balancer may share among many.
      hook: 'preHandler',
      keyGenerator: (request) => (request.caller ? `${request.caller.kind}:${request.caller.name}` : `ip:${request.ip}`),
      errorResponseBuilder: (_request, context) =>
        new ProblemError('rate_limited', `More than ${context.max} requests in ${http.rateLimitWindowSeconds} s; retry in ${context.after}.`, {
          retryAfter: Math.max(1, Math.ceil(context.ttl / 1000)),
        }),
    });
  }
}
