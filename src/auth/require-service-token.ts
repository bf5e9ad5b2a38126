/**
 * The service-token guard: `Authorization: Bearer <token>` must match one of SERVICE_TOKENS
 * (else 401) and the token must hold the route's scope (else 403). The caller's name (never the
 * token) goes on the request, into every log line of the request, and into audit rows.
 */
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { ProblemError } from '../errors/problems.ts';
import { bindCaller } from '../logging.ts';
import { matchServiceToken, type Scope, type ServiceToken } from './service-tokens.ts';
import type { UserTokenVerifier } from './user-tokens.ts';

export interface Caller {
  kind: 'service' | 'webhook-signature' | 'user';
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

/**
 * Checks a bearer token against SERVICE_TOKENS and the scope `needed`; names the caller. A valid
 * user access token here is a 403, not a 401: it is a real credential, for `POST /sync/me` only.
 */
export async function authenticateServiceToken(
  tokens: readonly ServiceToken[],
  request: FastifyRequest,
  needed: Scope,
  userTokens?: UserTokenVerifier,
): Promise<void> {
  const presented = bearerToken(request);
  const token = matchServiceToken(tokens, presented);
  if (token === undefined) {
    if (userTokens?.configured && presented.split('.').length === 3) {
      const isUserToken = await userTokens.verify(presented).then(
        () => true,
        () => false,
      );
      if (isUserToken) {
        throw new ProblemError('forbidden', 'A user access token may call POST /sync/me only; this route needs a service token.');
      }
    }
    throw new ProblemError('unauthorized', 'The token is not a valid service token.');
  }
  if (!token.scopes.includes(needed)) {
    throw new ProblemError('forbidden', `The token "${token.name}" lacks the "${needed}" scope this route needs.`, {
      extensions: { requiredScope: needed },
    });
  }
  request.caller = { kind: 'service', name: token.name };
  bindCaller(request, token.name);
}

/** The guard of the service-token routes: each declares its scope in `config.scope`. */
export function requireServiceToken(tokens: readonly ServiceToken[], userTokens?: UserTokenVerifier): onRequestAsyncHookHandler {
  return async (request) => {
    const scope = request.routeOptions.config.scope;
    if (scope === undefined) throw new Error(`route ${request.routeOptions.url} declares no scope`);
    await authenticateServiceToken(tokens, request, scope, userTokens);
  };
}
