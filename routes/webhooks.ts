/**
 * `POST /webhooks/supabase`: Supabase Database Webhooks (a service token with the `webhook`
 * scope, set as a static header in the dashboard) and Auth Hooks (Standard Webhooks signatures,
 * verified over the raw body bytes), told apart by the body's shape.
 */
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { authenticateServiceToken } from '../src/auth/require-service-token.ts';
import type { ServiceToken } from '../src/auth/service-tokens.ts';
import { ProblemError } from '../src/errors/problems.ts';
import { SERVICE_TOKEN_SCHEME, WEBHOOK_SIGNATURE_SCHEME } from '../src/http/openapi.ts';
import { bindCaller } from '../src/logging.ts';
import { okResponse, problemResponse } from '../src/http/schemas.ts';
import type { WebhookDeliveries } from '../src/webhooks/deliveries.ts';
import { AuthHookAnswer, isAuthHook, WebhookBody, WebhookReceipt } from '../src/webhooks/payloads.ts';
import { signatureHeaders, type SignatureVerifier } from '../src/webhooks/signature.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body's bytes as received, for signature checks and delivery ids. */
    rawBody?: Buffer;
  }
}

export interface WebhookRouteOptions {
  tokens: readonly ServiceToken[];
  verifier: SignatureVerifier;
  deliveries: WebhookDeliveries;
  bodyLimit: number;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

const webhookRoutes: FastifyPluginAsyncZod<WebhookRouteOptions> = async (app, { tokens, verifier, deliveries, bodyLimit }) => {
  /** A signed request's signature, over `bytes` as they came; the request's caller once it holds. */
  const verifySignature = (request: FastifyRequest, bytes: Buffer) => {
    verifier.verify(bytes, signatureHeaders(request.headers)!);
    request.caller = { kind: 'webhook-signature', name: 'supabase-auth-hook' };
    bindCaller(request, request.caller.name);
  };

  // In this scope only: keep the raw bytes beside the parsed JSON. A signature is over the bytes
  // as sent, and re-serialised JSON would not match them. A signed body's signature is verified
  // here, before its bytes are parsed: an unsigned sender gets a 401 and no parser time.
  // Fastify refuses a body over `bodyLimit` before reading it when Content-Length says so, and
  // stops reading one that grows past it.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
    request.rawBody = bytes;
    if (request.caller === null) {
      try {
        verifySignature(request, bytes);
      } catch (error) {
        done(error as Error, undefined);
        return;
      }
    }
    // Fastify's default parser answers through `done`, synchronously; it returns nothing to await.
    void parseJson(request, bytes.toString('utf8'), done);
  });

  // A bearer token is checked before the body is even read; a signature needs the body, so it is
  // checked once the body is in (above), before it is parsed.
  app.addHook('onRequest', async (request) => {
    if (request.headers.authorization !== undefined) {
      await authenticateServiceToken(tokens, request, 'webhook');
    } else if (signatureHeaders(request.headers) === undefined) {
      throw new ProblemError(
        'unauthorized',
        'Sign the request (webhook-id, webhook-timestamp, webhook-signature) or send "Authorization: Bearer <token>" with the webhook scope.',
      );
    }
  });
  // A signed request with no JSON body never met the parser: its signature is over no bytes.
  app.addHook('preValidation', async (request) => {
    if (request.caller === null) verifySignature(request, request.rawBody ?? Buffer.alloc(0));
  });

  app.post('/webhooks/supabase', {
    bodyLimit,
    // Never rate-limited: pg_net does not retry, and Supabase Auth fails a signup it cannot
    // deliver within 5 s. Senders are authenticated; a flood is the sender's to throttle.
    config: { rateLimit: false },
    schema: {
      tags: ['webhooks'],
      summary: 'Receive a Supabase Database Webhook or Auth Hook',
      description: [
        'One URL for both senders, told apart by the body:',
        '',
        '- **Database Webhook** on `auth.users` (INSERT, UPDATE, DELETE), with `Authorization: Bearer <token>` of a token',
        '  holding the `webhook` scope. Events on other tables are acknowledged and ignored.',
        '- **Auth Hook** (`before-user-created`, `after-user-created`), signed with Standard Webhooks (`WEBHOOK_SECRET`).',
        '  It answers `{}`, the body Supabase Auth expects to let the signup go on.',
        '',
        'The body only names the user: the service re-reads it from auth.users and syncs what it finds, so duplicates and',
        'reordered events cannot leave a wrong profile. A repeated delivery answers 200 and changes nothing.',
      ].join('\n'),
      security: [{ [SERVICE_TOKEN_SCHEME]: [] }, { [WEBHOOK_SIGNATURE_SCHEME]: [] }],
      body: WebhookBody,
      response: {
        200: okResponse('Handled (or a repeat, or ignored). Auth Hooks get `{}`.', z.union([WebhookReceipt, AuthHookAnswer])),
        400: problemResponse('Not JSON, or not the shape of either sender (`invalid_request`).'),
        401: problemResponse(
          'No credentials, a bad token (`unauthorized`), a bad signature (`webhook_signature_invalid`) or a timestamp more than 5 minutes off (`webhook_timestamp_invalid`).',
        ),
        403: problemResponse('The token lacks the `webhook` scope (`forbidden`).'),
        409: problemResponse('The profile row conflicts with another (`profile_conflict`); not recorded, so a resend retries.'),
        413: problemResponse('The body is over WEBHOOK_BODY_LIMIT (`body_too_large`).'),
        415: problemResponse('Not application/json (`unsupported_media_type`).'),
        422: problemResponse('The database refused the profile row (`profile_rejected`); not recorded, so a resend retries.'),
        500: problemResponse('An unexpected error (`internal_error`).'),
        503: problemResponse('The database is unavailable (`database_unavailable`); retry after `Retry-After`. Nothing was recorded.'),
      },
    },
    handler: async (request) => {
      const body = request.body;
      const actor = request.caller!.name;
      const bytes = request.rawBody ?? Buffer.alloc(0);
      if (isAuthHook(body)) {
        // webhook-id is the delivery's id (Supabase makes a new one per attempt); a hook posted
        // with a token instead has none, so its bytes stand in.
        const hookId = signatureHeaders(request.headers)?.id ?? sha256(bytes);
        const delivery = { kind: body.metadata.name, id: `hook:${hookId}`, userId: body.user.id, user: body.user };
        await deliveries.handle(delivery, actor, request.log);
        return {};
      }
      // pg_net sends the same bytes for the same event, and distinct events differ (updated_at,
      // last_sign_in_at), so the body's hash identifies the delivery.
      return deliveries.handle({ kind: 'database', id: `db:${sha256(bytes)}`, event: body }, actor, request.log);
    },
  });
};

export default webhookRoutes;
