/**
 * `POST /demo/signups`, embedded mode only (app.ts registers it nowhere else): writes a user into
 * auth.users as Supabase Auth does (src/embedded/demo-sign-ups.ts), so a newcomer can watch
 * capture make its profile. It never syncs the profile itself.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { DemoSignUps } from '../src/embedded/demo-sign-ups.ts';
import { ProblemError } from '../src/errors/problems.ts';
import { SERVICE_TOKEN_SCHEME } from '../src/http/openapi.ts';
import { commonProblems, okResponse, problemResponse, UserId } from '../src/http/schemas.ts';

const SignUpRequest = z
  .object({
    email: z
      .email({ error: 'expected an email address such as ada@example.com' })
      .max(255, { error: 'expected at most 255 characters' })
      .meta({ description: 'Lower-cased, as Supabase Auth stores it.', example: 'ada@example.com' }),
    fullName: z
      .string()
      .trim()
      .min(1, { error: 'expected a non-empty name' })
      .max(200, { error: 'expected at most 200 characters' })
      .optional()
      .meta({ description: 'Stored as user_metadata.full_name.', example: 'Ada Lovelace' }),
  })
  .strict();

const demoRoutes: FastifyPluginAsyncZod<{ signUps: DemoSignUps }> = async (app, { signUps }) => {
  app.post('/demo/signups', {
    config: { scope: 'admin' },
    schema: {
      tags: ['demo'],
      summary: 'Sign up a demo user (embedded mode only)',
      description:
        '**Embedded mode only**: absent (404) in postgres and Supabase API modes. Writes a user into the embedded ' +
        "database's `auth.users` the way Supabase Auth writes an email sign-up (one transaction as `supabase_auth_admin`: " +
        "an INSERT with `role = ''`, then UPDATEs), and nothing else. The profile is made by capture: the triggers " +
        'record the change and the service drains it a few milliseconds later, so `GET /users/{userId}` then answers ' +
        '`in_sync` without any `POST /sync` (with `CAPTURE=off`, only the periodic reconcile makes it).',
      security: [{ [SERVICE_TOKEN_SCHEME]: [] }],
      body: SignUpRequest,
      response: {
        201: okResponse('The user is in auth.users; capture makes its profile.', z.object({ userId: UserId })),
        400: problemResponse('The body is not valid (`invalid_request`).'),
        409: problemResponse('A user already has this email address (`email_taken`).'),
        ...commonProblems,
      },
    },
    handler: async (request, reply) => {
      const result = await signUps.signUp(request.body);
      if (result.outcome === 'email_taken') {
        throw new ProblemError('email_taken', 'A user with this email address already exists in auth.users.');
      }
      return reply.code(201).send({ userId: result.userId });
    },
  });
};

export default demoRoutes;
