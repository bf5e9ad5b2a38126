/** Builds webhook deliveries as Supabase sends them: signed Auth Hooks and Database Webhook bodies. */
import { randomBytes, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** A secret as the Supabase dashboard shows it: `v1,whsec_<base64>`. */
export const newWebhookSecret = (): string => `v1,whsec_${randomBytes(32).toString('base64')}`;

export interface SignedRequest {
  body: string;
  headers: Record<string, string>;
}

/** Signs `body` as Supabase Auth does, with the Standard Webhooks library itself. */
export function sign(
  secret: string,
  body: string,
  options: { id?: string; at?: Date } = {},
): SignedRequest {
  const id = options.id ?? `msg_${randomUUID()}`;
  const at = options.at ?? new Date();
  const signature = new Webhook(secret.replace(/^v1,/, '')).sign(id, at, body);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': signature,
    },
  };
}

export function authHookBody(name: 'before-user-created' | 'after-user-created', user: { id: string; email?: string }): string {
  return JSON.stringify({
    metadata: { uuid: randomUUID(), time: new Date().toISOString(), name, ip_address: '203.0.113.7' },
    user: { aud: 'authenticated', role: '', email: user.email ?? '', phone: '', app_metadata: {}, user_metadata: {}, ...user },
  });
}

/** A whole auth.users row as pg_net sends it, secrets included: the service must never keep or log them. */
export function authUsersRecord(id: string, email: string, secret = 'S3CR3T-HASH-NEVER-LOGGED'): Record<string, unknown> {
  return {
    id,
    aud: 'authenticated',
    role: 'authenticated',
    email,
    encrypted_password: `$2a$10$${secret}`,
    recovery_token: `recovery-${secret}`,
    confirmation_token: `confirm-${secret}`,
    raw_user_meta_data: {},
    raw_app_meta_data: { provider: 'email' },
    created_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
    last_sign_in_at: new Date().toISOString(),
  };
}

export function databaseWebhookBody(
  type: 'INSERT' | 'UPDATE' | 'DELETE',
  record: Record<string, unknown> | null,
  oldRecord: Record<string, unknown> | null,
  target: { schema: string; table: string } = { schema: 'auth', table: 'users' },
): string {
  return JSON.stringify({ type, table: target.table, schema: target.schema, record, old_record: oldRecord });
}
