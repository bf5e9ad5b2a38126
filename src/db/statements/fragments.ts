/** SQL pieces the statement families share. */
import type { ProfileRules } from '../../sync/profile-rules.ts';

/** The columns of an auth user as the engine sees it (the admin API's names). */
export const AUTH_USER_SELECT = `
  u.id, u.email, u.phone, u.raw_user_meta_data AS user_metadata, u.raw_app_meta_data AS app_metadata,
  u.created_at, u.updated_at, u.last_sign_in_at, u.email_confirmed_at, u.deleted_at, u.is_anonymous, u.banned_until`;

/**
 * The tracked columns whose JSON values differ between two row expressions (either may be NULL,
 * meaning "no row"). `tracked` is the parameter holding the column names.
 */
export const changedFields = (before: string, after: string, tracked: string) =>
  `ARRAY(SELECT f FROM unnest(${tracked}::text[]) AS f
          WHERE COALESCE((${before}) -> f, 'null'::jsonb) IS DISTINCT FROM COALESCE((${after}) -> f, 'null'::jsonb))`;

export const AUDIT_INSERT = 'INSERT INTO user_sync.audit_log (actor, user_id, action, changed_fields, source)';

export const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/**
 * A keyset bound on `column`: `param` holds the last id of the previous page, or NULL for the
 * first. Written as an OR that PostgreSQL folds away once the parameter is known, so each page is
 * an index range scan.
 */
export const after = (column: string, param = '$2') => `(${param}::uuid IS NULL OR ${column} > ${param}::uuid)`;

/** A live auth user: present and not soft-deleted (Supabase Auth's soft delete sets deleted_at). */
export const LIVE_USER = 'u.deleted_at IS NULL';

/**
 * A user who gets a profile: live, and not anonymous unless the rules say so. Whether a user is
 * gone (its profile retired) is LIVE_USER's to say: an anonymous user is not gone.
 */
export const profiledUser = (rules: ProfileRules) => (rules.profilesForAnonymous ? LIVE_USER : `${LIVE_USER} AND u.is_anonymous IS NOT TRUE`);
