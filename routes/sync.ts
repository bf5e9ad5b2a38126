/** `POST /sync/:userId`: make one user's profile match auth.users now. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { SERVICE_TOKEN_SCHEME } from '../src/http/openapi.ts';
import { commonProblems, okResponse, problemResponse, SyncQuery, SyncResult, UserIdParams } from '../src/http/schemas.ts';

const syncRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post('/sync/:userId', {
    config: { scope: 'sync' },
    schema: {
      tags: ['sync'],
      summary: 'Sync one user',
      description:
        'Reads the user from auth.users and makes the profile row match: `created`, `updated` or `unchanged`; ' +
        'a deleted user\'s profile is handled by DELETE_POLICY (`deleted`). With `dryRun=true` it reports the ' +
        'action and changes and writes nothing.',
      security: [{ [SERVICE_TOKEN_SCHEME]: [] }],
      params: UserIdParams,
      querystring: SyncQuery,
      response: {
        200: okResponse('What the sync did (or, for a dry run, would do).', SyncResult),
        400: problemResponse('The user id is not a UUID (`invalid_user_id`) or the query is invalid.'),
        404: problemResponse('The user is in neither auth.users nor the profile table (`user_not_found`).'),
        409: problemResponse('The row conflicts with another, e.g. a unique email (`profile_conflict`).'),
        422: problemResponse('The database refused the mapped row: NOT NULL, CHECK, type (`profile_rejected`).'),
        ...commonProblems,
      },
    },
    handler: (request) =>
      app.sync.engine.sync(
        request.params.userId,
        { actor: request.caller!.name, source: 'api' },
        { dryRun: request.query.dryRun },
      ),
  });
};

export default syncRoutes;
