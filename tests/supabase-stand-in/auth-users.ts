/**
 * GoTrue's user model (supabase/auth internal/models/user.go) read from `auth.users`: the queries
 * behind the admin user routes, and the user JSON as Go's encoder writes it.
 */
import type { Queryable } from '../../src/db/sql-client.ts';

/** GoTrue only ever sees users of the nil instance: rows with another (or a NULL) instance_id are invisible to it. */
const NIL_INSTANCE = '00000000-0000-0000-0000-000000000000';

/** Timestamp columns, all rendered by utc(). */
const TIMESTAMPS = [
  'email_confirmed_at',
  'invited_at',
  'phone_confirmed_at',
  'confirmation_sent_at',
  'confirmed_at',
  'recovery_sent_at',
  'email_change_sent_at',
  'phone_change_sent_at',
  'reauthentication_sent_at',
  'last_sign_in_at',
  'created_at',
  'updated_at',
  'banned_until',
  'deleted_at',
] as const;

type Timestamp = (typeof TIMESTAMPS)[number];

type UserRow = { [K in Timestamp]: string | null } & {
  id: string;
  aud: string;
  role: string;
  email: string;
  phone: string;
  email_change: string;
  phone_change: string;
  app_metadata: string;
  user_metadata: string;
  is_anonymous: boolean;
};

const utcText = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS ${column}`;

// Timestamps leave PostgreSQL as UTC text with microseconds (the drivers' Date would cut them to
// milliseconds); NULL strings become "" as Go's storage.NullString scans them, NULL metadata {} as
// models.JSONMap does.
const USER_COLUMNS = `
  id::text AS id, coalesce(aud, '') AS aud, coalesce(role, '') AS role,
  coalesce(email, '') AS email, coalesce(phone, '') AS phone,
  coalesce(email_change, '') AS email_change, coalesce(phone_change, '') AS phone_change,
  coalesce(raw_app_meta_data, '{}')::text AS app_metadata, coalesce(raw_user_meta_data, '{}')::text AS user_metadata,
  is_anonymous,
  ${TIMESTAMPS.map(utcText).join(',\n  ')}`;

/** Go's time.Time JSON form (RFC 3339 with nanoseconds, trailing zeros dropped), in UTC. */
function goTime(text: string | null): string | undefined {
  if (text === null) return undefined;
  const [seconds, fraction = ''] = text.split('.');
  const trimmed = fraction.replace(/0+$/, '');
  return `${seconds}${trimmed ? `.${trimmed}` : ''}Z`;
}

/** Go marshals a map[string]interface{} with its keys sorted, at every level. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
  );
}

/**
 * The user as GoTrue's admin API sends it, fields in the struct's order; `omitempty` fields only
 * when set. `identities` as loaded: a user's own (findUser loads them eagerly; [] without any),
 * or null in a list (FindUsersInAudience loads none, and Go marshals the nil slice as null).
 * No factors: the test schema has no such table, so `factors` (omitempty) is never present.
 */
function userJson(row: UserRow, identities: Record<string, unknown>[] | null): Record<string, unknown> {
  const user: Record<string, unknown> = {};
  const time = (name: Timestamp) => {
    const value = goTime(row[name]);
    if (value !== undefined) user[name] = value;
  };
  user.id = row.id;
  user.aud = row.aud;
  user.role = row.role;
  user.email = row.email;
  time('email_confirmed_at');
  time('invited_at');
  user.phone = row.phone;
  time('phone_confirmed_at');
  time('confirmation_sent_at');
  time('confirmed_at');
  time('recovery_sent_at');
  if (row.email_change) user.new_email = row.email_change;
  time('email_change_sent_at');
  if (row.phone_change) user.new_phone = row.phone_change;
  time('phone_change_sent_at');
  time('reauthentication_sent_at');
  time('last_sign_in_at');
  user.app_metadata = sortKeys(JSON.parse(row.app_metadata));
  user.user_metadata = sortKeys(JSON.parse(row.user_metadata));
  user.identities = identities;
  // time.Time (not a pointer) is never omitted: a NULL would be Go's zero time.
  user.created_at = goTime(row.created_at) ?? '0001-01-01T00:00:00Z';
  user.updated_at = goTime(row.updated_at) ?? '0001-01-01T00:00:00Z';
  time('banned_until');
  time('deleted_at');
  user.is_anonymous = row.is_anonymous;
  return user;
}

interface IdentityRow {
  identity_id: string;
  provider_id: string;
  user_id: string;
  identity_data: string;
  provider: string;
  last_sign_in_at: string | null;
  created_at: string | null;
  updated_at: string | null;
  email: string | null;
}

/**
 * models.Identity as Go marshals it: the row's id as `identity_id`, provider_id as `id` (names
 * kept for gotrue-js), `identity_data` and `email` omitted when empty. Read only where the
 * database has auth.identities, as every Supabase project does.
 */
async function identitiesOf(db: Queryable, userId: string): Promise<Record<string, unknown>[]> {
  const [table] = await db.query<{ found: boolean }>(`SELECT to_regclass('auth.identities') IS NOT NULL AS found`);
  if (!table?.found) return [];
  const rows = await db.query<IdentityRow>(
    `SELECT id::text AS identity_id, provider_id, user_id::text AS user_id, identity_data::text AS identity_data, provider,
            ${['last_sign_in_at', 'created_at', 'updated_at'].map(utcText).join(', ')}, email
       FROM auth.identities WHERE user_id = $1::uuid ORDER BY created_at, id`,
    [userId],
  );
  return rows.map((row) => {
    const identity: Record<string, unknown> = { identity_id: row.identity_id, id: row.provider_id, user_id: row.user_id };
    const data = JSON.parse(row.identity_data) as Record<string, unknown>;
    if (Object.keys(data).length > 0) identity.identity_data = sortKeys(data);
    identity.provider = row.provider;
    const lastSignIn = goTime(row.last_sign_in_at);
    if (lastSignIn !== undefined) identity.last_sign_in_at = lastSignIn;
    identity.created_at = goTime(row.created_at) ?? '0001-01-01T00:00:00Z';
    identity.updated_at = goTime(row.updated_at) ?? '0001-01-01T00:00:00Z';
    if (row.email) identity.email = row.email;
    return identity;
  });
}

/** models.FindUserByID: soft-deleted users included, identities loaded. */
export async function findUserById(db: Queryable, id: string): Promise<Record<string, unknown> | undefined> {
  const [row] = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM auth.users WHERE instance_id = $1::uuid AND id = $2::uuid`, [NIL_INSTANCE, id]);
  return row && userJson(row, await identitiesOf(db, row.id));
}

export interface UserPage {
  users: Record<string, unknown>[];
  total: number;
}

/**
 * models.FindUsersInAudience with pop's Paginate: `sort` fields (created_at only) in order, then
 * id in the first field's direction so that equal timestamps page stably (GoTrue leaves ties to
 * PostgreSQL); `filter` matches email or full_name like GoTrue's.
 */
export async function findUsersInAudience(
  db: Queryable,
  options: { aud: string; filter: string; sort: Array<{ field: 'created_at'; direction: 'asc' | 'desc' }>; page: number; perPage: number },
): Promise<UserPage> {
  const params: unknown[] = [NIL_INSTANCE, options.aud];
  let where = 'instance_id = $1::uuid AND aud = $2::text';
  if (options.filter !== '') {
    params.push(`%${options.filter}%`);
    where += ` AND (email LIKE $3::text OR raw_user_meta_data->>'full_name' ILIKE $3::text)`;
  }
  const order = options.sort.map((term) => `${term.field} ${term.direction.toUpperCase()}`);
  if (options.sort[0]) order.push(`id ${options.sort[0].direction.toUpperCase()}`);
  // pop's Paginator: a page below 1 is page 1; a page size below 1 is 20.
  const page = Math.max(options.page, 1);
  const perPage = options.perPage < 1 ? 20 : options.perPage;
  const rows = await db.query<UserRow>(
    `SELECT ${USER_COLUMNS} FROM auth.users WHERE ${where}${order.length ? ` ORDER BY ${order.join(', ')}` : ''}
      LIMIT ${perPage} OFFSET ${(page - 1) * perPage}`,
    params,
  );
  const [counted] = await db.query<{ total: number }>(`SELECT count(*)::integer AS total FROM auth.users WHERE ${where}`, params);
  return { users: rows.map((row) => userJson(row, null)), total: counted!.total };
}
