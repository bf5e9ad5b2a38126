/**
 * The service-token scope's guard: `Authorization: Bearer <token>` must match one of
 * SERVICE_TOKENS. The caller's name (never the token) goes on the request, into every log line
 * of the request, and into the audit rows of its writes.
 */
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { ProblemError } from '../errors/problems.ts';
import { matchServiceToken, type ServiceToken } from './service-tokens.ts';

export interface Caller {
  kind: 'service';
  name: string;
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

export function requireServiceToken(tokens: readonly ServiceToken[]): onRequestAsyncHookHandler {
  return async (request, reply) => {
    const name = matchServiceToken(tokens, bearerToken(request));
    if (name === undefined) throw new ProblemError('unauthorized', 'The token is not a valid service token.');
    request.caller = { kind: 'service', name };
    // Every later line of this request, "request completed" included, names the caller.
    request.log = request.log.child({ caller: name });
    reply.log = request.log;
  };
}
