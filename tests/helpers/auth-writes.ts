/**
 * auth.users written the way Supabase Auth writes it (docs/supabase-auth-users.md), for the tests
 * that watch what the database itself records (capture): as `supabase_auth_admin`, with its
 * search_path `auth` and unqualified names; a sign-up as one INSERT with `role = ''` followed by
 * UPDATEs of the same row; a sign-in as the write of `last_sign_in_at` and `updated_at`.
 */
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../src/db/sql-client.ts';
import type { TestDatabase } from './database.ts';
import { asSupabaseAuth } from './supabase-roles.ts';
import { softDeleteAuthUser } from './users.ts';

export interface SignUp {
  id?: string;
  email?: string;
  user_metadata?: Record<string, unknown>;
  /** app_metadata the sign-up's later UPDATE sets (`provider`, `providers`, and a role if given). */
  role?: string;
}

/**
 * The INSERT and UPDATEs of one sign-up, in `tx`. The row starts with `role = ''` and empty
 * app_metadata; the UPDATEs set the role, then app_metadata, then the confirmation fields.
 */
export async function writeSignUp(tx: Queryable, signUp: SignUp = {}): Promise<string> {
  const id = signUp.id ?? randomUUID();
  const email = signUp.email ?? `user-${id}@example.com`;
  await tx.query(
    `INSERT INTO users (instance_id, id, aud, role, email, encrypted_password, raw_app_meta_data, raw_user_meta_data,
                        is_super_admin, created_at, updated_at, is_sso_user, is_anonymous)
     VALUES ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', '', $2, '$2a$10$abcdefghijklmnopqrstuv',
             '{}', $3, false, now(), now(), false, false)`,
    [id, email, JSON.stringify(signUp.user_metadata ?? {})],
  );
  await tx.query(`UPDATE users SET role = 'authenticated', updated_at = now() WHERE id = $1`, [id]);
  await tx.query(`UPDATE users SET raw_app_meta_data = $2, updated_at = now() WHERE id = $1`, [
    id,
    JSON.stringify({ provider: 'email', providers: ['email'], ...(signUp.role ? { role: signUp.role } : {}) }),
  ]);
  await tx.query(
    `UPDATE users SET confirmation_token = md5(random()::text), confirmation_sent_at = now(), updated_at = now() WHERE id = $1`,
    [id],
  );
  return id;
}

/** One sign-up, committed as Supabase Auth commits it. */
export const signUp = (db: TestDatabase, signUp: SignUp = {}): Promise<string> => asSupabaseAuth(db, (tx) => writeSignUp(tx, signUp));

/** A sign-in: only the timestamps every login writes. */
export const signIn = (db: TestDatabase, id: string): Promise<void> =>
  asSupabaseAuth(db, async (tx) => {
    await tx.query('UPDATE users SET last_sign_in_at = now(), updated_at = now() WHERE id = $1', [id]);
  });

/** A change of the user's own metadata (PUT /user). */
export const updateMetadata = (db: TestDatabase, id: string, metadata: Record<string, unknown>): Promise<void> =>
  asSupabaseAuth(db, async (tx) => {
    await tx.query('UPDATE users SET raw_user_meta_data = raw_user_meta_data || $2::jsonb, updated_at = now() WHERE id = $1', [
      id,
      JSON.stringify(metadata),
    ]);
  });

export const softDelete = (db: TestDatabase, id: string): Promise<void> => asSupabaseAuth(db, (tx) => softDeleteAuthUser(tx, id));

export const hardDelete = (db: TestDatabase, id: string): Promise<void> =>
  asSupabaseAuth(db, async (tx) => {
    await tx.query('DELETE FROM users WHERE id = $1', [id]);
  });
