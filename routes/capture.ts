/**
 * `GET /capture`: whether changes of auth.users are being captured, as an operator checks it from
 * anywhere the API reaches (the CLI's `capture status --url`): what this service does, the
 * triggers as the database has them, and the queue. Installing and removing stay database work
 * (`capture install|uninstall`), run where DATABASE_URL reaches the database.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ProblemError } from '../src/errors/problems.ts';
import { SERVICE_TOKEN_SCHEME } from '../src/http/openapi.ts';
import { commonProblems, okResponse, problemResponse } from '../src/http/schemas.ts';

const TriggerState = z.enum(['absent', 'current', 'stale', 'disabled']).meta({
  description: '`current`: installed for this FIELD_MAP and version; `stale`: for another; `disabled`: installed but switched off.',
});

const CaptureView = z
  .object({
    service: z
      .object({
        state: z.enum(['on', 'off']).meta({ description: '`on`: this service drains the queue; `off`: it does not.' }),
        reason: z.string().nullable().meta({ description: 'Why it is off (CAPTURE=off, or why installing failed); null when on.' }),
      })
      .meta({ description: 'What this service does with captured changes.' }),
    role: z.string().meta({ description: 'The role the service connects as.' }),
    canTrigger: z.boolean().meta({ description: 'Whether that role may create triggers on auth.users.' }),
    triggers: z.object({ insertDelete: TriggerState, update: TriggerState }),
    current: z.boolean().meta({ description: 'Installed and current: every change of auth.users is recorded.' }),
    queueDepth: z.number().int().nullable().meta({ description: 'Changes waiting; null when the queue (user_sync.changes) does not exist.' }),
    oldestChangeAgeSeconds: z.number().nullable().meta({ description: 'Age of the oldest change waiting; null when none waits.' }),
  })
  .meta({
    id: 'CaptureStatus',
    example: {
      service: { state: 'on', reason: null },
      role: 'postgres',
      canTrigger: true,
      triggers: { insertDelete: 'current', update: 'current' },
      current: true,
      queueDepth: 0,
      oldestChangeAgeSeconds: null,
    },
  });

const captureRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/capture', {
    config: { scope: 'admin' },
    schema: {
      tags: ['capture'],
      summary: 'Capture: triggers, queue, and whether this service drains it',
      description:
        'Reads the capture triggers on auth.users, the role\'s privilege to create them, and the queue of changes ' +
        'waiting. Capture needs a SQL back end: in Supabase API mode this is 409 `capture_unavailable`.',
      security: [{ [SERVICE_TOKEN_SCHEME]: [] }],
      response: {
        200: okResponse('Capture as the database has it.', CaptureView),
        409: problemResponse('Supabase API mode, which cannot install triggers (`capture_unavailable`).'),
        ...commonProblems,
      },
    },
    handler: async () => {
      const { capture, captureControl } = app.sync;
      if (capture.state === 'unavailable' || captureControl === undefined) {
        throw new ProblemError(
          'capture_unavailable',
          'Capture needs a SQL back end (embedded, or DATABASE_URL); in Supabase API mode changes reach the service through webhooks and the periodic reconcile.',
        );
      }
      const status = await captureControl.status();
      return { service: capture.state === 'on' ? { state: 'on' as const, reason: null } : { state: 'off' as const, reason: capture.reason }, ...status };
    },
  });
};

export default captureRoutes;
