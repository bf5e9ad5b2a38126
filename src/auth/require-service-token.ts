/**
 * The service-token guard: `Authorization: Bearer <token>` must match one of SERVICE_TOKENS
 * (else 401) and the token must hold the route's scope (else 403). The caller's name (never the
 * token) goes on the request, into every log line of the request, and into audit rows.
 */
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { ProblemError } from '../errors/problems.ts';
import { matchServiceToken, type Scope, type ServiceToken } from './service-tokens.ts';

export interface Caller {
  kind: 'service' | 'webhook-signature';
  name: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The service-token scope a route needs; routes without one need no token. */
    scope?: Scope;
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling; set by the scope's auth hook, null before it runs. */
    caller: Caller | null;
  }
}

const BEARER = /^Bearer[ ]+([^\s]+)[ ]*$/i;

/** The bearer token of a request, or a 401 problem saying what is wrong with the header. */
export function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (header === undefined || header === '') {
    throw new ProblemError('unauthorized', 'Send "Authorization: Bearer <token>".');
  }
  const match = BEARER.exec(header);
  if (!match) throw new ProblemError('unauthorized', 'The Authorization header must be "Bearer <token>".');
  return match[1]!;
}

/** Checks a bearer token against SERVICE_TOKENS and the scope `needed`; names the caller. */
export function authenticateServiceToken(
  tokens: readonly ServiceToken[],
  request: FastifyRequest,
  reply: FastifyReply,
  needed: Scope,
): void {
  const token = matchServiceToken(tokens, bearerToken(request));
  if (token === undefined) throw new ProblemError('unauthorized', 'The token is not a valid service token.');
  if (!token.scopes.includes(needed)) {
    throw new ProblemError('forbidden', `The token "${token.name}" lacks the "${needed}" scope this route needs.`, {
      extensions: { requiredScope: needed },
    });
  }
  const name = token.name;
  request.caller = { kind: 'service', name };
  // Every later line of this request, "request completed" included, names the caller.
  request.log = request.log.child({ caller: name });
  reply.log = request.log;
}

/** The guard of the service-token routes: each declares its scope in `config.scope`. */
export function requireServiceToken(tokens: readonly ServiceToken[]): onRequestAsyncHookHandler {
  return async (request, reply) => {
    const scope = request.routeOptions.config.scope;
    if (scope === undefined) throw new Error(`route ${request.routeOptions.url} declares no scope`);
    authenticateServiceToken(tokens, request, reply, scope);
  };
}
