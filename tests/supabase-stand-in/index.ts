/**
 * A local stand-in for the two Supabase HTTP APIs supabase-js talks to from a server, backed by a
 * real PostgreSQL database (PGlite or a server): GoTrue's admin user routes under /auth/v1 and
 * PostgREST under /rest/v1, behind a gateway that checks the apikey. It reproduces the real
 * headers, statuses and error bodies closely enough that an unchanged `createClient(url, key)`
 * works against it, quirks included (see README.md next to this file for what it covers).
 */
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { SqlClient } from '../../src/db/sql-client.ts';
import { createAuthAdmin } from './auth-admin.ts';
import type { StandInRequest, StandInResponse } from './exchange.ts';
import { checkApiKey, gatewayFailure, noRoute } from './gateway.ts';
import { createPostgrest } from './postgrest.ts';

export interface StandInCall {
  method: string;
  /** Without the query string, e.g. /auth/v1/admin/users. */
  path: string;
  status: number;
}

export interface SupabaseStandIn {
  /** http://127.0.0.1:<port>, to hand to createClient(). */
  url: string;
  /** Every request received, in order of arrival; `status` is filled in when it is answered. */
  calls: StandInCall[];
  /** The next `count` requests, whatever their route, answer `status` (default 503) as a gateway would. */
  failNext(count: number, status?: number): void;
  close(): Promise<void>;
}

export interface StandInOptions {
  sql: SqlClient;
  /** The key expected both as `apikey` and as the bearer token: the project's service-role key. */
  serviceKey: string;
  /** Schemas PostgREST exposes, the first being the default. Supabase's: public, graphql_public. */
  schemas?: string[];
  /**
   * The longest request URL the gateway takes; longer ones get 414 "URI too long", as Supabase's
   * gateway answers long `in.(…)` filters (supabase/supabase-js#766). Default: no limit.
   */
  maxUrlLength?: number;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export async function startSupabaseStandIn(options: StandInOptions): Promise<SupabaseStandIn> {
  // HEAD gets the same handler as GET (PostgREST answers it with headers only).
  // Node's default 16 KiB header limit would refuse long URLs before the gateway check below.
  const app = Fastify({
    logger: false,
    exposeHeadRoutes: false,
    serverFactory: (handler) => createServer({ maxHeaderSize: 256 * 1024 }, handler),
  });
  const calls: StandInCall[] = [];
  const callOf = new WeakMap<FastifyRequest, StandInCall>();
  const failure = { remaining: 0, status: 503 };

  // Bodies stay raw text: PostgREST hands the JSON to PostgreSQL itself, and supabase-js sends
  // `Content-Type: application/json` with an empty body on DELETE, which Fastify would refuse.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  app.addHook('onRequest', async (request, reply) => {
    const call: StandInCall = { method: request.method, path: request.url.split('?')[0]!, status: 0 };
    calls.push(call);
    callOf.set(request, call);
    if (failure.remaining > 0) {
      failure.remaining -= 1;
      return send(reply, gatewayFailure(failure.status));
    }
    if (options.maxUrlLength !== undefined && request.url.length > options.maxUrlLength) {
      return reply.code(414).type('text/plain').send('URI too long\n');
    }
  });
  // Recorded before the response leaves, so a client awaiting it always sees the final status.
  app.addHook('onSend', async (request, reply, payload) => {
    const call = callOf.get(request);
    if (call) call.status = reply.statusCode;
    return payload;
  });

  const authAdmin = createAuthAdmin({ sql: options.sql, serviceKey: options.serviceKey });
  const postgrest = createPostgrest({
    sql: options.sql,
    serviceKey: options.serviceKey,
    schemas: options.schemas ?? ['public', 'graphql_public'],
    host: () => `127.0.0.1:${port}`,
  });
  const behindGateway = (prefix: string, handle: (request: StandInRequest) => Promise<StandInResponse>) => async (request: FastifyRequest, reply: FastifyReply) => {
    const exchange = toExchange(request, prefix);
    return send(reply, checkApiKey(exchange, options.serviceKey) ?? (await handle(exchange)));
  };
  app.route({ method: [...METHODS], url: '/auth/v1/*', handler: behindGateway('/auth/v1', authAdmin) });
  app.route({ method: [...METHODS], url: '/rest/v1', handler: behindGateway('/rest/v1', postgrest) });
  app.route({ method: [...METHODS], url: '/rest/v1/*', handler: behindGateway('/rest/v1', postgrest) });
  app.setNotFoundHandler((_request, reply) => send(reply, noRoute()));

  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    failNext(count, status = 503) {
      failure.remaining = count;
      failure.status = status;
    },
    close: () => app.close(),
  };
}

function toExchange(request: FastifyRequest, prefix: string): StandInRequest {
  const url = new URL(request.url, 'http://stand-in');
  return {
    method: request.method,
    path: url.pathname.slice(prefix.length),
    query: url.searchParams,
    headers: request.headers,
    body: typeof request.body === 'string' ? request.body : undefined,
  };
}

function send(reply: FastifyReply, response: StandInResponse): FastifyReply {
  return reply
    .code(response.status)
    .headers(response.headers)
    .send(response.body ?? '');
}
