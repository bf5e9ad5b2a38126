/**
 * The HTTP contract's shapes, in zod: one source for request validation, response serialisation,
 * TypeScript types and the OpenAPI document. Named schemas (`.meta({ id })`) become components.
 */
import { z } from 'zod';
import { problemCatalogue } from '../errors/problems.ts';

/**
 * Any 8-4-4-4-12 hex id, as PostgreSQL's uuid type accepts: Supabase issues v4 ids, but ids made
 * by other tools (or `md5(...)::uuid`) need not carry an RFC 9562 version. zod's guid check, the
 * same pattern `isUuid` (sync/uuid.ts) tests outside the routes.
 */
export const UserId = z
  .guid({ error: 'expected a UUID such as 3f1c0e5e-8d3a-4b7e-9a51-2c9d7e4b6a10' })
  .meta({ description: 'A Supabase Auth user id (auth.users.id).', example: '3f1c0e5e-8d3a-4b7e-9a51-2c9d7e4b6a10' });

export const UserIdParams = z.object({ userId: UserId });

export const Problem = z
  .looseObject({
    type: z.string().meta({ example: 'urn:supabase-user-sync:problem:user_not_found' }),
    title: z.string().meta({ example: 'User not found' }),
    status: z.number().int().meta({ example: 404 }),
    detail: z.string().meta({ example: 'No user 3f1c0e5e-8d3a-4b7e-9a51-2c9d7e4b6a10 in auth.users and no profile row for it.' }),
    code: z.enum(Object.keys(problemCatalogue) as [keyof typeof problemCatalogue]),
    instance: z.string().optional(),
  })
  .meta({ id: 'Problem', description: 'An RFC 9457 problem; `code` is stable and safe to branch on.' });

/** A success response with a description (the OpenAPI document otherwise says "Default Response"). */
export const okResponse = <T>(description: string, schema: T) => ({
  description,
  content: { 'application/json': { schema } },
});

/** A problem response for the OpenAPI document, served as application/problem+json. */
export const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: Problem } },
});

/** The problems every service-token route can answer with. */
export const commonProblems = {
  401: problemResponse('No or bad credentials (`unauthorized`).'),
  403: problemResponse('The token lacks the scope this route needs (`forbidden`); `requiredScope` names it.'),
  503: problemResponse('The database is unavailable (`database_unavailable`); retry after `Retry-After` seconds.'),
  500: problemResponse('An unexpected error (`internal_error`); the detail never holds internals.'),
};

export const ProfileRow = z
  .record(z.string(), z.unknown())
  .meta({
    id: 'Profile',
    description: 'The profile row, column by column, as the database holds it.',
    example: {
      id: '3f1c0e5e-8d3a-4b7e-9a51-2c9d7e4b6a10',
      email: 'ada.lovelace@example.com',
      full_name: 'Ada Lovelace',
      avatar_url: 'https://avatars.example.com/1.png',
      created_at: '2026-11-27T16:54:56.123+00:00',
    },
  });

export const FieldChange = z
  .object({
    field: z.string(),
    from: z.unknown().meta({ description: 'The value before (null when there was no row).' }),
    to: z.unknown().meta({ description: 'The value after (null when the row is removed).' }),
  })
  .meta({ id: 'FieldChange', example: { field: 'email', from: 'old@example.com', to: 'new@example.com' } });

export const SyncResult = z
  .object({
    userId: UserId,
    action: z.enum(['created', 'updated', 'unchanged', 'deleted']),
    profile: ProfileRow.nullable(),
    changes: z.array(FieldChange),
    dryRun: z.boolean(),
  })
  .meta({
    id: 'SyncResult',
    example: {
      userId: '3f1c0e5e-8d3a-4b7e-9a51-2c9d7e4b6a10',
      action: 'created',
      profile: { id: '3f1c0e5e-8d3a-4b7e-9a51-2c9d7e4b6a10', email: 'ada.lovelace@example.com', full_name: 'Ada Lovelace' },
      changes: [
        { field: 'email', from: null, to: 'ada.lovelace@example.com' },
        { field: 'full_name', from: null, to: 'Ada Lovelace' },
      ],
      dryRun: false,
    },
  });

export const SyncQuery = z.object({
  dryRun: z
    .enum(['true', 'false'])
    .optional()
    .transform((value) => value === 'true')
    .meta({ description: 'When true, report what would change and write nothing.' }),
});

export const MissingUsersQuery = z.object({
  limit: z.coerce
    .number({ error: 'expected an integer from 1 to 1000' })
    .int({ error: 'expected an integer from 1 to 1000' })
    .min(1, { error: 'expected an integer from 1 to 1000' })
    .max(1000, { error: 'expected an integer from 1 to 1000' })
    .default(100)
    .meta({ description: 'Users per page, 1 to 1000.' }),
  cursor: z
    .string()
    .max(200)
    .optional()
    .meta({ description: 'The `nextCursor` of the previous page; omit for the first page.' }),
});

export const MissingUser = z
  .object({
    id: UserId,
    email: z.string().nullable(),
    createdAt: z.string().nullable(),
  })
  .meta({ id: 'MissingUser' });

export const MissingUsersPage = z
  .object({
    users: z.array(MissingUser),
    nextCursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last.' }),
  })
  .meta({
    id: 'MissingUsersPage',
    example: {
      users: [{ id: '3f1c0e5e-8d3a-4b7e-9a51-2c9d7e4b6a10', email: 'ada.lovelace@example.com', createdAt: '2026-11-27T16:54:56.123+00:00' }],
      nextCursor: 'djE6M2YxYzBlNWUtOGQzYS00YjdlLTlhNTEtMmM5ZDdlNGI2YTEw',
    },
  });

export const UserInspection = z
  .object({
    userId: UserId,
    state: z.enum(['in_sync', 'missing', 'stale', 'orphaned', 'not_found']),
    changes: z.array(FieldChange).meta({ description: 'What a sync would change.' }),
  })
  .meta({
    id: 'UserInspection',
    example: {
      userId: '3f1c0e5e-8d3a-4b7e-9a51-2c9d7e4b6a10',
      state: 'stale',
      changes: [{ field: 'email', from: 'old@example.com', to: 'new@example.com' }],
    },
  });

export const Health = z.object({ status: z.literal('ok') }).meta({ id: 'Health' });

export const Readiness = z
  .object({
    status: z.enum(['ready']),
    backend: z.string(),
    capture: z.enum(['on', 'off', 'unavailable']).meta({
      description:
        'How changes of auth.users reach the service. `on`: the capture triggers record each change and the service drains ' +
        'them. `off`: CAPTURE=off, or the triggers could not be installed (the start-up log says why); webhooks and the ' +
        'periodic reconcile only. `unavailable`: Supabase API mode, which cannot install triggers.',
    }),
  })
  .meta({ id: 'Readiness', example: { status: 'ready', backend: 'embedded', capture: 'on' } });
