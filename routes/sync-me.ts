/**
 * `POST /sync/me`: a frontend, right after sign-in, with the access token Supabase gave the user.
 * One call replaces "check my profile row, call a sync RPC, fetch again": it syncs the token's
 * user, and only that user, and answers with the profile.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { bearerToken } from '../src/auth/require-service-token.ts';
import type { UserTokenVerifier } from '../src/auth/user-tokens.ts';
import { ProblemError } from '../src/errors/problems.ts';
import { USER_TOKEN_SCHEME } from '../src/http/openapi.ts';
import { bindCaller } from '../src/logging.ts';
import { commonProblems, okResponse, problemResponse, SyncResult } from '../src/http/schemas.ts';

export interface SyncMeOptions {
  verifier: UserTokenVerifier;
  syncAnonymous: boolean;
}

const syncMeRoutes: FastifyPluginAsyncZod<SyncMeOptions> = async (app, { verifier, syncAnonymous }) => {
  app.post('/sync/me', {
    schema: {
      tags: ['sync'],
      summary: 'Sync the signed-in user (frontends)',
      description:
        'Authenticated by the user\'s own Supabase access token (`Authorization: Bearer <access_token>`), checked ' +
        'locally (HS256 with SUPABASE_JWT_SECRET, or ES256/RS256 against the project\'s JWKS), with `exp`, `sub`, `aud`, `iss` and `role` = authenticated required. ' +
        'Syncs that user only and answers with the profile. Anonymous users get one only with SYNC_ANONYMOUS_USERS=true.',
      security: [{ [USER_TOKEN_SCHEME]: [] }],
      response: {
        200: okResponse('What the sync did, with the profile.', SyncResult),
        401: problemResponse('No token, or one that is expired (`token_expired`) or not valid (`invalid_token`).'),
        403: problemResponse('An anonymous user while SYNC_ANONYMOUS_USERS is off (`forbidden`).'),
        404: problemResponse('The token\'s user no longer exists (`user_not_found`).'),
        422: problemResponse('The database refused the mapped row (`profile_rejected`).'),
        409: problemResponse('The row conflicts with another (`profile_conflict`).'),
        500: commonProblems[500],
        503: problemResponse(
          'The database is unavailable (`database_unavailable`), or the project\'s signing keys could not be fetched (`auth_keys_unavailable`); retry after `Retry-After` seconds.',
        ),
      },
    },
    onRequest: async (request) => {
      if (!verifier.configured) {
        throw new ProblemError('unauthorized', 'User tokens are not accepted: set SUPABASE_URL (JWKS) or SUPABASE_JWT_SECRET.');
      }
      const claims = await verifier.verify(bearerToken(request));
      if (claims.isAnonymous && !syncAnonymous) {
        throw new ProblemError('forbidden', 'Anonymous users get no profile here (SYNC_ANONYMOUS_USERS is off).');
      }
      request.caller = { kind: 'user', name: claims.userId };
      bindCaller(request, `user:${claims.userId}`);
    },
    handler: (request) => app.sync.engine.sync(request.caller!.name, { actor: `user:${request.caller!.name}`, source: 'me' }),
  });
};

export default syncMeRoutes;
