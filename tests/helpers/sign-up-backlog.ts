/**
 * Many sign-ups at once, written as Supabase Auth writes each one (helpers/auth-writes.ts): as
 * `supabase_auth_admin` with search_path `auth`, an INSERT with `role = ''` and empty
 * app_metadata followed by UPDATEs of the same row. One server-side loop instead of four round
 * trips a user, so a backlog of tens of thousands of users takes seconds; the row triggers fire
 * per row, in the same order as for users signing up one after the other, so each user's change
 * rows are adjacent in the capture queue. And what the capture drain has made of them.
 */
import type { Queryable, SqlClient } from '../../src/db/sql-client.ts';
import type { TestDatabase } from './database.ts';
import { asSupabaseAuth } from './supabase-roles.ts';

export interface SignUpBatch {
  /** How many users. */
  count: number;
  /** Names the batch: its users' e-mail addresses are `user-<n>@<label>.test`. Lower-case letters, digits and dashes. */
  label: string;
  /** The first `<n>` (1 unless told), so that one label can be written in several parts. */
  first?: number;
  /**
   * An app_metadata role the sign-up's later UPDATE sets: that UPDATE then changes a mapped field,
   * so the user is queued twice (INSERT, then UPDATE), in adjacent rows. Without it, once.
   */
  role?: string;
}

const WORD = /^[a-z0-9-]+$/;

/** The sign-ups of `batch`, in `tx` (which must already act as `supabase_auth_admin`, search_path `auth`). */
export async function writeSignUps(tx: Queryable, batch: SignUpBatch): Promise<void> {
  const first = batch.first ?? 1;
  if (!WORD.test(batch.label)) throw new Error(`label ${batch.label}: lower-case letters, digits and dashes only`);
  if (batch.role !== undefined && !WORD.test(batch.role)) throw new Error(`role ${batch.role}: lower-case letters, digits and dashes only`);
  if (!Number.isInteger(batch.count) || batch.count < 1) throw new Error(`count ${batch.count}: a positive integer`);
  if (!Number.isInteger(first) || first < 0) throw new Error(`first ${first}: a non-negative integer`);
  const appMetadata = JSON.stringify({ provider: 'email', providers: ['email'], ...(batch.role ? { role: batch.role } : {}) });
  // The UPDATEs find their row by its key, as Auth's do. A table this loop is filling looks empty
  // to the planner until autovacuum's next ANALYZE, and a sequential scan per UPDATE would make
  // the loop quadratic: the writes are the setting here, not what is tested, so they keep to the index.
  await tx.exec('SET LOCAL enable_seqscan = off');
  // DO takes no parameters: the values are checked above, and the one JSON literal is quoted.
  await tx.exec(`
    DO $signups$
    DECLARE
      new_id uuid;
    BEGIN
      FOR i IN ${first}..${first + batch.count - 1} LOOP
        new_id := gen_random_uuid();
        INSERT INTO users (instance_id, id, aud, role, email, encrypted_password, raw_app_meta_data, raw_user_meta_data,
                           is_super_admin, created_at, updated_at, is_sso_user, is_anonymous)
        VALUES ('00000000-0000-0000-0000-000000000000', new_id, 'authenticated', '', 'user-' || i || '@${batch.label}.test',
                '$2a$10$abcdefghijklmnopqrstuv', '{}', jsonb_build_object('full_name', 'User ' || i), false, now(), now(), false, false);
        UPDATE users SET role = 'authenticated', updated_at = now() WHERE id = new_id;
        UPDATE users SET raw_app_meta_data = '${appMetadata.replaceAll("'", "''")}', updated_at = now() WHERE id = new_id;
        UPDATE users SET confirmation_token = md5(random()::text), confirmation_sent_at = now(), updated_at = now() WHERE id = new_id;
      END LOOP;
    END
    $signups$`);
  await tx.exec('SET LOCAL enable_seqscan = on');
}

/** `batch`'s sign-ups, committed together by Supabase Auth's role. */
export const signUpMany = (db: TestDatabase, batch: SignUpBatch): Promise<void> => asSupabaseAuth(db, (tx) => writeSignUps(tx, batch));

export interface DrainProgress {
  /** Auth users of the label. */
  users: number;
  /** Of them, those with a profile. */
  profiles: number;
  /** Rows in the capture queue, whoever they name. */
  queued: number;
  /** Distinct users of the label named by rows still queued. */
  queuedUsers: number;
  /** `created` audit rows of the label's users. */
  created: number;
  /** Users of the label with more than one `created` audit row. */
  createdTwice: number;
  /** Users of the label with a profile but no `created` audit row, or a `created` row but no profile. */
  unaudited: number;
}

/**
 * Where the drain of `label`'s users stands, read in one snapshot. Hash joins only: tables that a
 * test filled a moment ago have no statistics yet, and a nested loop over them would turn this
 * check, run every few milliseconds during a drain, into the machine's main load.
 */
/** The progress of a drain that is over: `users` users, each with its profile and one `created` row, nothing queued. */
export const drainedOnce = (users: number): DrainProgress => ({
  users,
  profiles: users,
  queued: 0,
  queuedUsers: 0,
  created: users,
  createdTwice: 0,
  unaudited: 0,
});

export function drainProgress(db: SqlClient, label: string): Promise<DrainProgress> {
  return db.transaction(async (tx) => {
    await tx.exec('SET LOCAL enable_nestloop = off');
    const [row] = await tx.query<DrainProgress>(
      `WITH batch AS MATERIALIZED (
         SELECT id FROM auth.users WHERE email LIKE '%@' || $1 || '.test'
       ), created AS MATERIALIZED (
         SELECT a.user_id, count(*) AS n FROM user_sync.audit_log a JOIN batch b ON b.id = a.user_id
          WHERE a.action = 'created' GROUP BY a.user_id
       )
       SELECT (SELECT count(*) FROM batch)::int AS users,
              (SELECT count(*) FROM public.users p JOIN batch b ON b.id = p.id)::int AS profiles,
              (SELECT count(*) FROM user_sync.changes)::int AS queued,
              (SELECT count(DISTINCT c.user_id) FROM user_sync.changes c JOIN batch b ON b.id = c.user_id)::int AS "queuedUsers",
              (SELECT coalesce(sum(n), 0) FROM created)::int AS created,
              (SELECT count(*) FROM created WHERE n > 1)::int AS "createdTwice",
              (SELECT count(*) FROM batch b
                 LEFT JOIN public.users p ON p.id = b.id LEFT JOIN created c ON c.user_id = b.id
                WHERE (p.id IS NULL) <> (c.user_id IS NULL))::int AS unaudited`,
      [label],
    );
    return row!;
  });
}
