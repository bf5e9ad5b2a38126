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

// Timestamps leave PostgreSQL as UTC text with microseconds (the drivers' Date would cut them to
// milliseconds); NULL strings become "" as Go's storage.NullString scans them, NULL metadata {} as
// models.JSONMap does.
const USER_COLUMNS = `
  id::text AS id, coalesce(aud, '') AS aud, coalesce(role, '') AS role,
  coalesce(email, '') AS email, coalesce(phone, '') AS phone,
  coalesce(email_change, '') AS email_change, coalesce(phone_change, '') AS phone_change,
  coalesce(raw_app_meta_data, '{}')::text AS app_metadata, coalesce(raw_user_meta_data, '{}')::text AS user_metadata,
  is_anonymous,
  ${TIMESTAMPS.map((name) => `to_char(${name} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS ${name}`).join(',\n  ')}`;

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
 * when set. No identities or factors: the stand-in's auth schema has no such tables, so
 * `identities` is always [] (GoTrue's answer for a user without identities) and `factors` absent.
 */
function userJson(row: UserRow): Record<string, unknown> {
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
  user.identities = [];
  // time.Time (not a pointer) is never omitted: a NULL would be Go's zero time.
  user.created_at = goTime(row.created_at) ?? '0001-01-01T00:00:00Z';
  user.updated_at = goTime(row.updated_at) ?? '0001-01-01T00:00:00Z';
  time('banned_until');
  time('deleted_at');
  user.is_anonymous = row.is_anonymous;
  return user;
}

/** models.FindUserByID: soft-deleted users included. */
export async function findUserById(db: Queryable, id: string): Promise<Record<string, unknown> | undefined> {
  const [row] = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM auth.users WHERE instance_id = $1::uuid AND id = $2::uuid`, [NIL_INSTANCE, id]);
  return row && userJson(row);
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
  return { users: rows.map(userJson), total: counted!.total };
}
