/** Writes auth users and profiles straight into the test database, as Supabase Auth would. */
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../src/db/sql-client.ts';

export interface AuthUserSeed {
  id?: string;
  email?: string | null;
  phone?: string | null;
  user_metadata?: Record<string, unknown>;
  app_metadata?: Record<string, unknown>;
  deleted_at?: string | null;
  is_anonymous?: boolean;
}

/**
 * A user as a finished sign-up leaves it, written the way Supabase Auth writes one: an INSERT with
 * `role = ''` and empty app_metadata, then UPDATEs of the same row setting them (and any
 * `deleted_at`). helpers/auth-writes.ts has the same as `supabase_auth_admin`, for capture.
 */
export async function insertAuthUser(db: Queryable, seed: AuthUserSeed = {}): Promise<string> {
  const id = seed.id ?? randomUUID();
  const email = seed.email === undefined ? `user-${id}@example.com` : seed.email;
  await db.query(
    `INSERT INTO auth.users (instance_id, id, aud, role, email, phone, encrypted_password, raw_user_meta_data,
                             raw_app_meta_data, created_at, updated_at, is_anonymous)
     VALUES ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', '', $2, $3,
             '$2a$10$abcdefghijklmnopqrstuv', $4, '{}', now(), now(), $5)`,
    [id, email, seed.phone ?? null, JSON.stringify(seed.user_metadata ?? {}), seed.is_anonymous ?? false],
  );
  await db.query(`UPDATE auth.users SET role = 'authenticated', updated_at = now() WHERE id = $1`, [id]);
  await db.query(`UPDATE auth.users SET raw_app_meta_data = $2, deleted_at = $3, updated_at = now() WHERE id = $1`, [
    id,
    JSON.stringify(seed.app_metadata ?? { provider: 'email', providers: ['email'] }),
    seed.deleted_at ?? null,
  ]);
  return id;
}

export async function updateAuthUser(db: Queryable, id: string, set: { email?: string; user_metadata?: Record<string, unknown> }): Promise<void> {
  if (set.email !== undefined) await db.query('UPDATE auth.users SET email = $2, updated_at = now() WHERE id = $1', [id, set.email]);
  if (set.user_metadata !== undefined) {
    await db.query('UPDATE auth.users SET raw_user_meta_data = $2, updated_at = now() WHERE id = $1', [
      id,
      JSON.stringify(set.user_metadata),
    ]);
  }
}

/**
 * A soft delete as Supabase Auth makes it: `deleted_at` set, email and phone replaced by scrambled
 * non-null stand-ins, both metadata objects emptied; the row stays.
 */
export async function softDeleteAuthUser(db: Queryable, id: string): Promise<void> {
  await db.query(
    `UPDATE auth.users
        SET deleted_at = now(), updated_at = now(),
            email = md5(id::text || 'email' || coalesce(email, '')), phone = md5(id::text || 'phone' || coalesce(phone, '')),
            raw_user_meta_data = '{}', raw_app_meta_data = '{}'
      WHERE id = $1`,
    [id],
  );
}

export async function profileOf(db: Queryable, id: string, table = 'public.users'): Promise<Record<string, unknown> | null> {
  const [row] = await db.query<{ row: Record<string, unknown> }>(`SELECT to_jsonb(p) AS row FROM ${table} p WHERE id = $1`, [id]);
  return row?.row ?? null;
}

export async function count(db: Queryable, sql: string, params: unknown[] = []): Promise<number> {
  const [row] = await db.query<{ n: number | string }>(`SELECT count(*)::int AS n FROM (${sql}) AS q`, params);
  return Number(row!.n);
}

export const auditRows = (db: Queryable, userId: string) =>
  db.query<{ actor: string; action: string; changed_fields: string[]; source: string }>(
    'SELECT actor, action, changed_fields, source FROM user_sync.audit_log WHERE user_id = $1 ORDER BY id',
    [userId],
  );
