/**
 * The statements that only read: profiles by id, what a sync would write, and the keyset pages
 * the listing and the reconcile walk. Keyset pages take $1 limit and $2 the last id of the
 * previous page (null for the first).
 */
import type { FieldMapping } from '../../sync/field-map.ts';
import type { ProfileRules } from '../../sync/profile-rules.ts';
import { after, AUTH_USER_SELECT, changedFields, LIVE_USER, profiledUser } from './fragments.ts';
import { jsonInput } from './inputs.ts';

export interface ReadStatements {
  /** $1 uuid → (user): the auth user as the engine sees it. */
  authUser: string;
  /** $1 uuid[] → (id, row). */
  getProfiles: string;
  /** $1 JSON rows, $2 tracked → (id, current, expected, changed_fields). */
  preview: string;
  /** → (id, email, created_at): live auth users without a profile. */
  missingList: string;
  /** The same page with whole users (id, user). */
  missingUsers: string;
  /** → (id, user): live auth users that have a profile, for finding stale ones. */
  profiledUsers: string;
  /** → (id): profiles the delete policy still has to act on. */
  orphans: string;
  /** → (missing, with_profile, orphaned): what a reconcile job has before it, for its progress. */
  reconcileTotals: string;
}

export function readStatements(table: string, mapping: FieldMapping, rules: ProfileRules): ReadStatements {
  // Under the soft policy a profile already marked deleted is settled: no longer an orphan to act on.
  const unsettled = rules.retire === 'mark_deleted' ? 'AND p.deleted_at IS NULL' : '';
  // Users who get a profile; whether a profile is orphaned is LIVE_USER's to say.
  const profiled = profiledUser(rules);

  const preview = `
    WITH ${jsonInput(mapping, rules)}
    SELECT i.id::text AS id, c.row AS current, to_jsonb(i) AS expected,
           ${changedFields('c.row', 'to_jsonb(i)', '$2')} AS changed_fields
      FROM input i
      LEFT JOIN LATERAL (SELECT to_jsonb(p) AS row FROM ${table} p WHERE p.id = i.id) c ON true`;

  // The anti-joins run on the two primary keys; each page is one statement. The subquery repeats
  // the page's lower bound on its own table: implied by the join, but PostgreSQL does not infer
  // it, and a merge join would otherwise read the other key from its start on every page (a
  // last page over a million profiles read all of them: 400 ms instead of 40).
  const missingList = `
    SELECT u.id::text AS id, u.email, to_jsonb(u.created_at) #>> '{}' AS created_at
      FROM auth.users u
     WHERE ${profiled} AND ${after('u.id')}
       AND NOT EXISTS (SELECT 1 FROM ${table} p WHERE p.id = u.id AND ${after('p.id')})
     ORDER BY u.id
     LIMIT $1`;

  /** Live auth users, whole, by id: those with (EXISTS) or without (NOT EXISTS) a profile. */
  const usersPage = (profile: 'EXISTS' | 'NOT EXISTS') => `
    SELECT u.id::text AS id, to_jsonb(x) AS user
      FROM auth.users u
      CROSS JOIN LATERAL (SELECT ${AUTH_USER_SELECT}) x
     WHERE ${profiled} AND ${after('u.id')}
       AND ${profile} (SELECT 1 FROM ${table} p WHERE p.id = u.id AND ${after('p.id')})
     ORDER BY u.id
     LIMIT $1`;

  const orphans = `
    SELECT p.id::text AS id
      FROM ${table} p
     WHERE ${after('p.id')}
       ${unsettled}
       AND NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id = p.id AND ${LIVE_USER} AND ${after('u.id')})
     ORDER BY p.id
     LIMIT $1`;

  // One pass over both tables (a full join on the keys) instead of one join per count.
  const liveUser = `u.id IS NOT NULL AND ${LIVE_USER}`;
  const profiledLiveUser = `u.id IS NOT NULL AND ${profiled}`;
  const reconcileTotals = `
    SELECT count(*) FILTER (WHERE ${profiledLiveUser} AND p.id IS NULL)::int AS missing,
           count(*) FILTER (WHERE ${profiledLiveUser} AND p.id IS NOT NULL)::int AS with_profile,
           count(*) FILTER (WHERE p.id IS NOT NULL AND NOT (${liveUser}) ${unsettled})::int AS orphaned
      FROM auth.users u FULL JOIN ${table} p ON p.id = u.id`;

  return {
    authUser: `SELECT to_jsonb(x) AS user FROM auth.users u CROSS JOIN LATERAL (SELECT ${AUTH_USER_SELECT}) x WHERE u.id = $1`,
    getProfiles: `SELECT p.id::text AS id, to_jsonb(p) AS row FROM ${table} p WHERE p.id = ANY($1::uuid[])`,
    preview,
    missingList,
    missingUsers: usersPage('NOT EXISTS'),
    profiledUsers: usersPage('EXISTS'),
    orphans,
    reconcileTotals,
  };
}
