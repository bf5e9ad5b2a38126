/**
 * The one shape of a Supabase Auth user the engine sees, whatever the back end: the admin API's
 * field names (docs/supabase-admin-api.md). Back ends convert their rows or JSON into it with `normalizeAuthUser`.
 */
export interface AuthUser {
  id: string;
  email: string | null;
  phone: string | null;
  user_metadata: Record<string, unknown>;
  app_metadata: Record<string, unknown>;
  created_at: string | null;
  updated_at: string | null;
  last_sign_in_at: string | null;
  email_confirmed_at: string | null;
  deleted_at: string | null;
  is_anonymous: boolean;
  banned_until: string | null;
}

export const AUTH_USER_FIELDS = [
  'id',
  'email',
  'phone',
  'user_metadata',
  'app_metadata',
  'created_at',
  'updated_at',
  'last_sign_in_at',
  'email_confirmed_at',
  'deleted_at',
  'is_anonymous',
  'banned_until',
] as const satisfies readonly (keyof AuthUser)[];

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The admin API returns "" for a NULL email or phone; both mean "none". */
const textOrNull = (value: unknown): string | null =>
  typeof value === 'string' && value !== '' ? value : null;

const timeOrNull = (value: unknown): string | null => {
  if (value instanceof Date) return value.toISOString();
  return textOrNull(value);
};

export function normalizeAuthUser(raw: Record<string, unknown>): AuthUser {
  return {
    id: String(raw.id),
    email: textOrNull(raw.email),
    phone: textOrNull(raw.phone),
    user_metadata: isRecord(raw.user_metadata) ? raw.user_metadata : {},
    app_metadata: isRecord(raw.app_metadata) ? raw.app_metadata : {},
    created_at: timeOrNull(raw.created_at),
    updated_at: timeOrNull(raw.updated_at),
    last_sign_in_at: timeOrNull(raw.last_sign_in_at),
    email_confirmed_at: timeOrNull(raw.email_confirmed_at),
    deleted_at: timeOrNull(raw.deleted_at),
    is_anonymous: raw.is_anonymous === true,
    banned_until: timeOrNull(raw.banned_until),
  };
}

/** Supabase Auth soft-deletes by setting deleted_at (and obfuscating email/phone): such a user is gone. */
export const isDeleted = (user: AuthUser | null): boolean => user === null || user.deleted_at !== null;
