/**
 * Builds webhook deliveries byte for byte as Supabase sends them:
 *
 * - Auth Hooks (supabase/auth internal/hooks/hookshttp): a bare UUID as `webhook-id`, one
 *   signature per configured secret joined with ", ", and a body from Go's `json.Marshal`: struct
 *   fields in declaration order, map keys sorted, and `&`, `<`, `>` escaped as `\u0026`, `\u003c`,
 *   `\u003e`. The signature is over those bytes, so a service that re-serialised the JSON would fail.
 * - Database Webhooks (pg_net): the body is PostgreSQL's `jsonb::text` rendering of the payload,
 *   `{"a": 1, "b": [1, 2]}`, keys in jsonb's order, not JSON.stringify's.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** A secret as the Supabase dashboard shows it: `v1,whsec_<base64>`. */
export const newWebhookSecret = (): string => `v1,whsec_${randomBytes(32).toString('base64')}`;

export interface SignedRequest {
  body: string;
  headers: Record<string, string>;
}

/**
 * Signs `body` as Supabase Auth does: one signature per secret (a hook configured with several,
 * during a rotation, signs with each), joined with ", " as `generateSignatures` does.
 */
export function sign(secrets: string | readonly string[], body: string, options: { id?: string; at?: Date } = {}): SignedRequest {
  const id = options.id ?? randomUUID();
  const at = options.at ?? new Date();
  const signatures = (typeof secrets === 'string' ? [secrets] : secrets).map((secret) =>
    new Webhook(secret.replace(/^v1,/, '')).sign(id, at, body),
  );
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': signatures.join(', '),
    },
  };
}

/** Go's `json.Marshal`: JSON.stringify's output with the HTML-safe escapes Go adds (only ever inside strings). */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[&<>\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Go marshals a map[string]interface{} with its keys sorted, at every level. */
function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortedKeys((value as Record<string, unknown>)[key])]),
  );
}

/** Go's zero time.Time, which a user never stored carries as created_at and updated_at. */
const ZERO_TIME = '0001-01-01T00:00:00Z';

/** models.Identity: `id` is the provider's subject (provider_id), `identity_id` the row's own id. */
export interface HookIdentity {
  identity_id?: string;
  /** provider_id */
  id: string;
  user_id: string;
  identity_data: Record<string, unknown>;
  provider: string;
  last_sign_in_at?: string;
  created_at?: string;
  updated_at?: string;
  email?: string;
}

/** The hook's `user`: the fields a test sets; the rest take the values Supabase Auth would send. */
export interface HookUser {
  id: string;
  email?: string;
  phone?: string;
  role?: string;
  app_metadata?: Record<string, unknown>;
  user_metadata?: Record<string, unknown>;
  identities?: HookIdentity[];
  created_at?: string;
  updated_at?: string;
  is_anonymous?: boolean;
}

function identityJson(identity: HookIdentity): Record<string, unknown> {
  const now = new Date().toISOString();
  const json: Record<string, unknown> = {
    identity_id: identity.identity_id ?? randomUUID(),
    id: identity.id,
    user_id: identity.user_id,
    identity_data: sortedKeys(identity.identity_data),
    provider: identity.provider,
    last_sign_in_at: identity.last_sign_in_at ?? now,
    created_at: identity.created_at ?? now,
    updated_at: identity.updated_at ?? now,
  };
  if (identity.email) json.email = identity.email;
  return json;
}

/** The email identity Auth gives an email sign-up: its subject is the user's own id. */
export const emailIdentity = (userId: string, email: string): HookIdentity => ({
  id: userId,
  user_id: userId,
  identity_data: { email, email_verified: false, phone_verified: false, sub: userId },
  provider: 'email',
  email,
});

/**
 * An Auth Hook body as Supabase Auth marshals it (v0hooks.BeforeUserCreatedInput and
 * AfterUserCreatedInput; the user is models.User). before-user-created shows a user not stored
 * yet: no role, Go's zero time as created_at, and (SignupParams.ToUserModel) no identities.
 * after-user-created shows the stored user, an email sign-up's email identity included.
 */
export function authHookBody(name: 'before-user-created' | 'after-user-created', user: HookUser): string {
  const stored = name === 'after-user-created';
  const now = new Date().toISOString();
  const email = user.email ?? '';
  const identities = user.identities ?? (stored && email !== '' ? [emailIdentity(user.id, email)] : []);
  const body = {
    metadata: { uuid: randomUUID(), time: now, name, ip_address: '203.0.113.7' },
    user: {
      id: user.id,
      aud: 'authenticated',
      role: user.role ?? (stored ? 'authenticated' : ''),
      email,
      phone: user.phone ?? '',
      app_metadata: sortedKeys(user.app_metadata ?? { provider: 'email', providers: ['email'] }),
      user_metadata: sortedKeys(user.user_metadata ?? {}),
      identities: identities.map(identityJson),
      created_at: user.created_at ?? (stored ? now : ZERO_TIME),
      updated_at: user.updated_at ?? (stored ? now : ZERO_TIME),
      is_anonymous: user.is_anonymous ?? false,
    },
  };
  return goJson(body);
}

/** A timestamptz as to_jsonb renders it with TimeZone UTC: microseconds, trailing zeros dropped, "+00:00". */
export function pgTimestamp(at: Date): string {
  const [seconds, fraction = ''] = at.toISOString().slice(0, -1).split('.');
  const trimmed = fraction.replace(/0+$/, '');
  return `${seconds}${trimmed ? `.${trimmed}` : ''}+00:00`;
}

/** A whole auth.users row as pg_net sends it (to_jsonb of the row), secrets included: the service must never keep or log them. */
export function authUsersRecord(id: string, email: string, secret = 'S3CR3T-HASH-NEVER-LOGGED'): Record<string, unknown> {
  const now = pgTimestamp(new Date());
  return {
    instance_id: '00000000-0000-0000-0000-000000000000',
    id,
    aud: 'authenticated',
    role: 'authenticated',
    email,
    encrypted_password: `$2a$10$${secret}`,
    email_confirmed_at: now,
    invited_at: null,
    confirmation_token: `confirm-${secret}`,
    confirmation_sent_at: null,
    recovery_token: `recovery-${secret}`,
    recovery_sent_at: null,
    email_change_token_new: '',
    email_change: '',
    email_change_sent_at: null,
    last_sign_in_at: now,
    raw_app_meta_data: { provider: 'email', providers: ['email'] },
    raw_user_meta_data: {},
    is_super_admin: null,
    created_at: now,
    updated_at: now,
    phone: null,
    phone_confirmed_at: null,
    phone_change: '',
    phone_change_token: '',
    phone_change_sent_at: null,
    confirmed_at: now,
    email_change_token_current: '',
    email_change_confirm_status: 0,
    banned_until: null,
    reauthentication_token: '',
    reauthentication_sent_at: null,
    is_sso_user: false,
    deleted_at: null,
    is_anonymous: false,
  };
}

/** jsonb orders an object's keys shorter first, then bytewise (lengthCompareJsonbString). */
function jsonbKeyOrder(a: string, b: string): number {
  const [left, right] = [Buffer.from(a), Buffer.from(b)];
  return left.length - right.length || Buffer.compare(left, right);
}

/**
 * PostgreSQL's `jsonb::text`: a space after each colon and comma, keys in jsonb's order. Strings
 * are escaped as escape_json does, which for any text PostgreSQL can hold is JSON.stringify's
 * escaping. Numbers are the JSON numbers a test uses (integers, short decimals).
 */
export function jsonbText(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(jsonbText).join(', ')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => jsonbKeyOrder(a, b));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}: ${jsonbText(item)}`).join(', ')}}`;
}

/**
 * A Database Webhook body as pg_net sends it: supabase_functions.http_request builds the payload
 * with jsonb_build_object and posts its text.
 */
export function databaseWebhookBody(
  type: 'INSERT' | 'UPDATE' | 'DELETE',
  record: Record<string, unknown> | null,
  oldRecord: Record<string, unknown> | null,
  target: { schema: string; table: string } = { schema: 'auth', table: 'users' },
): string {
  return jsonbText({ type, table: target.table, schema: target.schema, record, old_record: oldRecord });
}
