/**
 * Embedded mode's demo of capture: writes a sign-up into auth.users the way Supabase Auth writes
 * an email sign-up (docs/supabase-auth-users.md, "How Supabase Auth writes the table"), so a
 * newcomer can watch the capture triggers and the drain make its profile, with no SQL client.
 *
 * One transaction as `supabase_auth_admin`, search_path `auth`, unqualified names: an INSERT with
 * `role = ''` and empty app_metadata, then UPDATEs of the same row setting the role, the email
 * identity (where the layout has auth.identities), app_metadata {provider, providers} and the
 * confirmation fields. It never touches the profile table: the capture triggers record the user
 * and the drain syncs it, exactly as for a real sign-up.
 *
 * Only for the embedded database, which the service lays out itself and connects to as PGlite's
 * superuser: it grants `supabase_auth_admin` what Supabase gives it on auth (that layout leaves
 * the schema to the superuser) before its first write.
 */
import { randomUUID } from 'node:crypto';
import type { SqlClient } from '../db/sql-client.ts';

export interface DemoSignUp {
  email: string;
  fullName?: string;
}

export type DemoSignUpResult = { outcome: 'created'; userId: string } | { outcome: 'email_taken' };

/** Supabase Auth's partial unique index on auth.users (email) (src/embedded/supabase-schema.ts). */
const EMAIL_INDEX = 'users_email_partial_key';
const UNIQUE_VIOLATION = '23505';

/**
 * What `supabase_auth_admin` needs to write a sign-up. On Supabase it owns the auth schema; in the
 * embedded layout the superuser does, so the grants are made once, where missing.
 */
const authWriterGrants = `
DO $$
BEGIN
  IF NOT has_schema_privilege('supabase_auth_admin', 'auth', 'USAGE') THEN
    GRANT USAGE ON SCHEMA auth TO supabase_auth_admin;
  END IF;
  IF NOT (has_table_privilege('supabase_auth_admin', 'auth.users', 'SELECT')
          AND has_table_privilege('supabase_auth_admin', 'auth.users', 'INSERT')
          AND has_table_privilege('supabase_auth_admin', 'auth.users', 'UPDATE')) THEN
    GRANT SELECT, INSERT, UPDATE ON auth.users TO supabase_auth_admin;
  END IF;
  IF to_regclass('auth.identities') IS NOT NULL
     AND NOT (has_table_privilege('supabase_auth_admin', 'auth.identities', 'SELECT')
              AND has_table_privilege('supabase_auth_admin', 'auth.identities', 'INSERT')) THEN
    GRANT SELECT, INSERT ON auth.identities TO supabase_auth_admin;
  END IF;
END
$$`;

export class DemoSignUps {
  readonly #sql: SqlClient;
  #granted: Promise<void> | undefined;

  constructor(sql: SqlClient) {
    this.#sql = sql;
  }

  /** Writes the sign-up; a taken email (Auth lower-cases it, as here) is an outcome, not an error. */
  async signUp(signUp: DemoSignUp): Promise<DemoSignUpResult> {
    await this.#grant();
    const email = signUp.email.trim().toLowerCase();
    const userId = randomUUID();
    try {
      await this.#sql.transaction(async (tx) => {
        await tx.exec('SET LOCAL ROLE supabase_auth_admin; SET LOCAL search_path = auth');
        await tx.query(
          `INSERT INTO users (instance_id, id, aud, role, email, encrypted_password, raw_app_meta_data, raw_user_meta_data,
                              is_super_admin, created_at, updated_at, is_sso_user, is_anonymous)
           VALUES ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', '', $2, '', '{}', $3,
                   false, now(), now(), false, false)`,
          [userId, email, JSON.stringify(signUp.fullName === undefined ? {} : { full_name: signUp.fullName })],
        );
        await tx.query(`UPDATE users SET role = 'authenticated', updated_at = now() WHERE id = $1`, [userId]);
        // The email identity, whose data Auth also merges into user_metadata.
        const identity = { sub: userId, email, email_verified: false, phone_verified: false };
        const [identities] = await tx.query<{ present: boolean }>(`SELECT to_regclass('identities') IS NOT NULL AS present`);
        if (identities!.present) {
          await tx.query(
            `INSERT INTO identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
             VALUES ($1, $2, $3, 'email', now(), now(), now())`,
            [userId, userId, JSON.stringify(identity)],
          );
        }
        await tx.query(`UPDATE users SET raw_user_meta_data = raw_user_meta_data || $2::jsonb, updated_at = now() WHERE id = $1`, [
          userId,
          JSON.stringify(identity),
        ]);
        await tx.query(`UPDATE users SET raw_app_meta_data = $2, updated_at = now() WHERE id = $1`, [
          userId,
          JSON.stringify({ provider: 'email', providers: ['email'] }),
        ]);
        await tx.query(
          `UPDATE users SET confirmation_token = encode(sha224(convert_to(id::text || clock_timestamp()::text || random()::text, 'UTF8')), 'hex'),
                            confirmation_sent_at = now(), updated_at = now()
            WHERE id = $1`,
          [userId],
        );
      });
    } catch (error) {
      const { code, constraint } = (error ?? {}) as { code?: string; constraint?: string };
      if (code === UNIQUE_VIOLATION && (constraint === EMAIL_INDEX || constraint === undefined)) return { outcome: 'email_taken' };
      throw error;
    }
    return { outcome: 'created', userId };
  }

  #grant(): Promise<void> {
    this.#granted ??= this.#sql.exec(authWriterGrants).catch((error: unknown) => {
      this.#granted = undefined;
      throw error;
    });
    return this.#granted;
  }
}
