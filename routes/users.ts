/** `GET /users/missing` and `GET /users/:userId`: compare auth users with profiles, writing nothing. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { decodeCursor, encodeCursor } from '../src/http/cursor.ts';
import { SERVICE_TOKEN_SCHEME } from '../src/http/openapi.ts';
import {
  commonProblems,
  okResponse,
  MissingUsersPage,
  MissingUsersQuery,
  problemResponse,
  UserIdParams,
  UserInspection,
} from '../src/http/schemas.ts';

const userRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/users/missing', {
    config: { scope: 'read' },
    schema: {
      tags: ['users'],
      summary: 'List users without a profile',
      description:
        'Auth users (not deleted) that have no profile row, by ascending id, in keyset pages: pass `nextCursor` ' +
        'back as `cursor` until it is null. Each page is one SQL query, whatever the number of users.',
      security: [{ [SERVICE_TOKEN_SCHEME]: [] }],
      querystring: MissingUsersQuery,
      response: {
        200: okResponse('One page of users without a profile.', MissingUsersPage),
        400: problemResponse('`limit` is not 1 to 1000, or the cursor is not one we issued (`invalid_cursor`).'),
        ...commonProblems,
      },
    },
    handler: async (request) => {
      const cursor = request.query.cursor === undefined ? null : decodeCursor(request.query.cursor);
      const page = await app.sync.engine.listMissing(cursor, request.query.limit);
      return { users: page.items, nextCursor: page.nextCursor === null ? null : encodeCursor(page.nextCursor) };
    },
  });

  app.get('/users/:userId', {
    config: { scope: 'read' },
    schema: {
      tags: ['users'],
      summary: 'Compare one user with its profile',
      description:
        '`in_sync`: nothing to do. `missing`: no profile. `stale`: the profile differs (see `changes`). ' +
        '`orphaned`: a profile whose user is deleted. `not_found`: in neither table.',
      security: [{ [SERVICE_TOKEN_SCHEME]: [] }],
      params: UserIdParams,
      response: {
        200: okResponse('How the user and its profile compare.', UserInspection),
        400: problemResponse('The user id is not a UUID (`invalid_user_id`).'),
        422: problemResponse('A mapped value cannot be held by its column (`profile_rejected`).'),
        ...commonProblems,
      },
    },
    handler: (request) => app.sync.engine.inspect(request.params.userId),
  });
};

export default userRoutes;
