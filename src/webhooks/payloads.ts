/**
 * The two bodies `POST /webhooks/supabase` accepts, told apart by shape: a Database Webhook
 * (pg_net, on a table) and an Auth Hook (Supabase Auth, about a user). Both only *name* a user:
 * the engine re-reads it from auth.users, so nothing else in them is used, and nothing in them
 * is logged or stored (a Database Webhook's record carries encrypted_password and tokens).
 * @see docs/supabase-webhooks-and-hooks.md
 */
import { z } from 'zod';
import { UserId } from '../http/schemas.ts';

const userRecord = z.looseObject({ id: UserId }).meta({ description: 'The row; only `id` is read.' });

export const DatabaseWebhook = z
  .object({
    type: z.enum(['INSERT', 'UPDATE', 'DELETE']),
    table: z.string().min(1).max(128),
    schema: z.string().min(1).max(128),
    // Validated loosely here: only an auth.users event must carry a user id (checked below).
    record: z.record(z.string(), z.unknown()).nullable(),
    old_record: z.record(z.string(), z.unknown()).nullable(),
  })
  .meta({
    id: 'DatabaseWebhook',
    description: 'A Supabase Database Webhook (pg_net) on auth.users, authenticated by a service token with the `webhook` scope.',
    example: {
      type: 'UPDATE',
      table: 'users',
      schema: 'auth',
      record: { id: '3f1c0e5e-8d3a-4b7e-9a51-2c9d7e4b6a10', email: 'new@example.com' },
      old_record: { id: '3f1c0e5e-8d3a-4b7e-9a51-2c9d7e4b6a10', email: 'old@example.com' },
    },
  });

export const AuthHook = z
  .object({
    metadata: z.looseObject({
      name: z.enum(['before-user-created', 'after-user-created']),
      uuid: z.string().optional(),
      time: z.string().optional(),
      ip_address: z.string().optional(),
    }),
    user: userRecord,
  })
  .meta({
    id: 'AuthHook',
    description: 'A Supabase Auth Hook, signed with Standard Webhooks (WEBHOOK_SECRET).',
    example: {
      metadata: {
        uuid: '8b9a4a1e-5a1f-4c35-9f3e-3f0b8e1b2c77',
        time: '2026-11-27T16:54:56Z',
        name: 'after-user-created',
        ip_address: '203.0.113.7',
      },
      user: { id: '3f1c0e5e-8d3a-4b7e-9a51-2c9d7e4b6a10', email: 'ada@example.com', aud: 'authenticated' },
    },
  });

export const WebhookBody = z.union([DatabaseWebhook, AuthHook]);
export type WebhookBody = z.infer<typeof WebhookBody>;
export type DatabaseWebhook = z.infer<typeof DatabaseWebhook>;

export const isAuthHook = (body: WebhookBody): body is z.infer<typeof AuthHook> => 'metadata' in body;

/** The user a Database Webhook on auth.users names: the new row's id, or the old one's on DELETE. */
export function databaseWebhookUserId(event: DatabaseWebhook): string | undefined {
  const row = event.type === 'DELETE' ? event.old_record : event.record;
  const parsed = UserId.safeParse(row?.id);
  return parsed.success ? parsed.data : undefined;
}

export const WebhookReceipt = z
  .object({
    received: z.literal(true),
    deliveryId: z.string(),
    outcome: z.enum(['synced', 'duplicate', 'ignored', 'user_not_found', 'deferred']),
    userId: UserId.optional(),
    action: z.enum(['created', 'updated', 'unchanged', 'deleted']).optional(),
    reason: z.string().optional(),
  })
  .meta({
    id: 'WebhookReceipt',
    description: 'The answer to a Database Webhook. Auth Hooks get `{}`, the body Supabase Auth expects.',
    example: {
      received: true,
      deliveryId: 'db:4c1f0c3b1c3d1e9f…',
      outcome: 'synced',
      userId: '3f1c0e5e-8d3a-4b7e-9a51-2c9d7e4b6a10',
      action: 'updated',
    },
  });
export type WebhookReceipt = z.infer<typeof WebhookReceipt>;

/** What Supabase Auth expects from a hook that allows the signup (its answer to after-user-created is ignored). */
export const AuthHookAnswer = z.object({}).strict().meta({ id: 'AuthHookAnswer', description: 'Allow: `{}`.', example: {} });
