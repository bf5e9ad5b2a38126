/**
 * The SQL for one profile table and field map, built once at start-up.
 *
 * Every statement takes its rows as one array (`$1`: JSON rows, or user ids), so one statement
 * serves one user or a batch of a thousand. A sync maps its user in SQL, in the statement that
 * writes it (mapped-values.ts), and so does a reconcile batch, which also reads its keyset page
 * there; the rows mapUser made (dry runs, refused rows retried one by one) are written alike.
 * Each write is a single statement (data-modifying CTEs), so rows and their audit entries commit
 * together or not at all, in one round trip, and concurrent syncs of one user resolve inside
 * PostgreSQL's ON CONFLICT.
 */
import type { DeletePolicy } from '../config/config.ts';
import type { UserStep } from '../sync/backend.ts';
import type { FieldMapping } from '../sync/field-map.ts';
import { chosenValue, columnValue } from './mapped-values.ts';
import { quoteIdent, type ProfileTable } from './profile-table.ts';

export interface ProfileStatements {
  /** $1 uuid[] → (id, row). */
  getProfiles: string;
  /** $1 rows, $2 tracked → (id, current, expected, changed_fields). Writes nothing. */
  preview: string;
  /** $1 rows, $2 actor, $3 source, $4 tracked → (id, before, inserted, after, changed_fields). */
  upsert: string;
  /**
   * The same upsert of one user read and mapped from auth.users in the same statement: $1 uuid,
   * $2 actor, $3 source, $4 tracked → one row if the user is live, none (nothing written) if it
   * is absent or deleted. The statement behind every `POST /sync`, kept prepared.
   * An equality on the key, so PostgreSQL's generic plan costs what a custom one does and is
   * used from the sixth call on: planning this statement costs twice what running it does.
   */
  syncLiveOne: string;
  /**
   * `syncLiveOne` ($1 a uuid) that also records a webhook delivery ($5 id, $6
   * kind), and writes only if the record is new: → (id, claimed, before, inserted, after,
   * changed_fields), one row if the user is live, none (and nothing recorded) if not.
   */
  syncLiveOnce: string;
  /**
   * A reconcile batch in one statement: the next keyset page of live auth users without a
   * profile (`missing`) or with one (`profiled`), read, mapped, upserted and audited together.
   * $1 limit, $2 actor, $3 source, $4 tracked, $5 after-id (null for the first page) → one row
   * (handled, created, updated, last_id, more): counts only, no profile rows; the users neither
   * created nor updated are unchanged.
   */
  syncPage: Record<UserStep, string>;
  /** $1 uuid[], $2 actor, $3 source, $4 tracked → (id, before, after, changed_fields, written). */
  retire: string | undefined;
  /** $1 limit, $2 after-id (null for the first page) → (id, email, created_at): live auth users without a profile. */
  missingList: string;
  /** The same page with whole users (id, user), for syncing them. */
  missingUsers: string;
  /** $1 limit, $2 after-id → (id, user): live auth users that have a profile, for finding stale ones. */
  profiledUsers: string;
  /** → (missing, with_profile, orphaned): what a reconcile job has before it, for its progress. */
  reconcileTotals: string;
  /** $1 limit, $2 after-id (null for the first page) → (id): profiles the delete policy still has to act on. */
  orphans: string;
  /** Column names whose changes are reported and audited, in order. */
  tracked: string[];
}

/** The columns of an auth user as the engine sees it (the admin API's names). */
export const AUTH_USER_SELECT = `
  u.id, u.email, u.phone, u.raw_user_meta_data AS user_metadata, u.raw_app_meta_data AS app_metadata,
  u.created_at, u.updated_at, u.last_sign_in_at, u.email_confirmed_at, u.deleted_at, u.is_anonymous, u.banned_until`;

/**
 * The tracked columns whose JSON values differ between two row expressions (either may be NULL,
 * meaning "no row"). `tracked` is the parameter holding the column names.
 */
const changedFields = (before: string, after: string, tracked: string) =>
  `ARRAY(SELECT f FROM unnest(${tracked}::text[]) AS f
          WHERE COALESCE((${before}) -> f, 'null'::jsonb) IS DISTINCT FROM COALESCE((${after}) -> f, 'null'::jsonb))`;

const AUDIT_INSERT = 'INSERT INTO user_sync.audit_log (actor, user_id, action, changed_fields, source)';

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/**
 * Keyset pages: `$2` is the last id of the previous page, or NULL for the first. Written as an OR
 * that PostgreSQL folds away once the parameter is known, so each page is an index range scan.
 */
const AFTER = '($2::uuid IS NULL OR %s > $2::uuid)';
/** The same bound held in `$5` (the statements whose `$2` is the actor). */
const AFTER_5 = AFTER.replaceAll('$2', '$5');

export function buildProfileStatements(table: ProfileTable, mapping: FieldMapping, policy: DeletePolicy): ProfileStatements {
  const t = table.sqlName;
  const hasColumn = (name: string) => table.columns.some((column) => column.name === name);
  const mapped = mapping.columns.map(({ column, type }) => ({ column, type }));
  // The service owns deleted_at under the soft policy: a live user's profile is un-deleted.
  const ownsDeletedAt = policy === 'soft' && !mapped.some(({ column }) => column === 'deleted_at');
  const deletedAtType = table.columns.find((column) => column.name === 'deleted_at')?.type ?? 'timestamptz';
  const tracked = [...mapped.map(({ column }) => column), ...(ownsDeletedAt ? ['deleted_at'] : [])];
  const touchUpdatedAt = hasColumn('updated_at') && !tracked.includes('updated_at');
  const columns = tracked.map(quoteIdent);

  const deletedAtInput = ownsDeletedAt ? [`NULL::${deletedAtType} AS ${quoteIdent('deleted_at')}`] : [];

  // Each input row is {"id": "...", "<column>": <the JSON value mapUser chose> | null}; the value
  // becomes the column's as the one-statement sync makes it (mapped-values.ts).
  const input = `input AS (
      SELECT (r->>'id')::uuid AS id, ${[
        ...mapping.columns.map((entry) => `${columnValue(`r -> ${literal(entry.column)}`, entry)} AS ${quoteIdent(entry.column)}`),
        ...deletedAtInput,
      ].join(', ')}
        FROM jsonb_array_elements($1::jsonb) AS r
    )`;

  // The same rows mapped from auth.users by the database. The lateral subquery picks each
  // column's JSON value once and `columnValue` refers to it by name. OFFSET 0 keeps PostgreSQL
  // from pulling the subquery up, which would copy each pick into every reference (up to eight
  // for a number's text) and nearly double the planning time of a one-user sync.
  const oneLiveUser = 'u.id = $1::uuid AND u.deleted_at IS NULL';
  const liveInput = (condition: string) => `input AS (
      SELECT u.id, ${[
        ...mapping.columns.map((entry, index) => `${columnValue(`v.v${index}`, entry)} AS ${quoteIdent(entry.column)}`),
        ...deletedAtInput,
      ].join(', ')}
        FROM auth.users u
        CROSS JOIN LATERAL (SELECT ${mapping.columns.map(({ sources }, index) => `${chosenValue(sources)} AS v${index}`).join(', ')} OFFSET 0) v
       WHERE ${condition}
    )`;

  const getProfiles = `SELECT p.id::text AS id, to_jsonb(p) AS row FROM ${t} p WHERE p.id = ANY($1::uuid[])`;

  const preview = `
    WITH ${input}
    SELECT i.id::text AS id, c.row AS current, to_jsonb(i) AS expected,
           ${changedFields('c.row', 'to_jsonb(i)', '$2')} AS changed_fields
      FROM input i
      LEFT JOIN LATERAL (SELECT to_jsonb(p) AS row FROM ${t} p WHERE p.id = i.id) c ON true`;

  const setList = [
    ...columns.map((column) => `${column} = EXCLUDED.${column}`),
    ...(touchUpdatedAt ? [`${quoteIdent('updated_at')} = now()`] : []),
  ].join(', ');
  const differs = `(${columns.map((c) => `p.${c}`).join(', ')}) IS DISTINCT FROM (${columns
    .map((c) => `EXCLUDED.${c}`)
    .join(', ')})`;

  /**
   * Upserts the rows of the CTE `input` (defined in `inputCtes`) and audits them; one result row
   * for each row of `outcomes` (a CTE holding the ids to report on), plus any `extra` columns;
   * or, given `select`, that query over the CTEs (`changed` holds the rows written) instead.
   */
  const upsertFrom = (inputCtes: string, outcomes = 'input', extra = '', select?: string) => `
    WITH ${inputCtes},
    before AS (
      -- = ANY(ARRAY(...)), not IN (SELECT ...): PostgreSQL guesses 100 input rows whatever the batch,
      -- and for that guess a semi-join over a sequential scan of the whole profile table can look
      -- cheaper than 100 index probes on a table of a few thousand rows (one sync read them all, in
      -- 8 ms instead of 0.1 ms, at 10,000 profiles). An array is always probed through the index.
      SELECT p.id, to_jsonb(p) AS row FROM ${t} p WHERE p.id = ANY (ARRAY(SELECT id FROM input))
    ), written AS (
      INSERT INTO ${t} AS p (id, ${columns.join(', ')})
      SELECT id, ${columns.join(', ')} FROM input
      ON CONFLICT (id) DO UPDATE SET ${setList}
      WHERE ${differs}
      RETURNING p.id, (p.xmax = 0) AS inserted, to_jsonb(p) AS row
    ), changed AS (
      SELECT w.id, w.inserted, w.row, ${changedFields('b.row', 'w.row', '$4')} AS fields
        FROM written w LEFT JOIN before b ON b.id = w.id
    ), audit AS (
      ${AUDIT_INSERT}
      SELECT $2, id, CASE WHEN inserted THEN 'created' ELSE 'updated' END, fields, $3 FROM changed
    )
    ${select ?? `SELECT o.id::text AS id, ${extra}b.row AS before, c.inserted, c.row AS after, c.fields AS changed_fields
      FROM ${outcomes} o LEFT JOIN before b ON b.id = o.id LEFT JOIN changed c ON c.id = o.id`}`;

  const upsert = upsertFrom(input);

  const syncLiveOne = upsertFrom(liveInput(oneLiveUser));

  // The delivery is recorded only for a live user, and the profile written only if the record is
  // new. One statement commits all of it or, if any part fails (a value the table refuses), none:
  // a failed sync leaves the delivery unrecorded, to be tried again. A replica recording the same
  // delivery at the same moment waits on the primary key, then finds it taken and writes nothing.
  const syncLiveOnce = upsertFrom(
    `live AS (
      SELECT u.id FROM auth.users u WHERE ${oneLiveUser}
    ), claim AS (
      INSERT INTO user_sync.webhook_deliveries (id, kind, user_id)
      SELECT $5, $6, id FROM live
      ON CONFLICT (id) DO NOTHING
      RETURNING user_id
    ), ${liveInput(`${oneLiveUser} AND u.id IN (SELECT user_id FROM claim)`)}`,
    'live',
    'EXISTS (SELECT 1 FROM claim) AS claimed, ',
  );

  // A reconcile batch: the page is the keyset page `missingUsers`/`profiledUsers` reads (the
  // same anti-join or semi-join, the lower bound repeated on the profile key), read one row long
  // so the statement knows whether another follows; its first $1 users are mapped and written.
  // Only counts come back: before/after rows would be shipped and parsed only to be counted.
  //
  // Missing users are few among many: the anti-join runs on the two keys alone (index-only
  // scans), fenced by OFFSET 0, and only its candidates are looked up to leave out deleted users.
  // Filtering on deleted_at in the scan itself would read every user's row, in key order (random
  // on disk): at a tenth missing, ten rows read per user written, half the statement's time.
  const pageOf = (profile: 'EXISTS' | 'NOT EXISTS') =>
    profile === 'NOT EXISTS'
      ? `SELECT c.id
        FROM (SELECT u.id
                FROM auth.users u
               WHERE ${AFTER_5.replace('%s', 'u.id')}
                 AND NOT EXISTS (SELECT 1 FROM ${t} p WHERE p.id = u.id AND ${AFTER_5.replace('%s', 'p.id')})
               ORDER BY u.id
              OFFSET 0) c
       WHERE (SELECT u.deleted_at IS NULL FROM auth.users u WHERE u.id = c.id)
       ORDER BY c.id
       LIMIT $1::int + 1`
      : `SELECT u.id
        FROM auth.users u
       WHERE u.deleted_at IS NULL AND ${AFTER_5.replace('%s', 'u.id')}
         AND EXISTS (SELECT 1 FROM ${t} p WHERE p.id = u.id AND ${AFTER_5.replace('%s', 'p.id')})
       ORDER BY u.id
       LIMIT $1::int + 1`;
  const syncPageOf = (profile: 'EXISTS' | 'NOT EXISTS') =>
    upsertFrom(
      `page AS (
      ${pageOf(profile)}
    ), batch AS (
      SELECT id FROM page ORDER BY id LIMIT $1::int
    ), ${liveInput('u.id = ANY (ARRAY(SELECT id FROM batch)) AND u.deleted_at IS NULL')}`,
      'input',
      '',
      `SELECT (SELECT count(*) FROM batch)::int AS handled,
           (SELECT count(*) FILTER (WHERE inserted) FROM changed)::int AS created,
           (SELECT count(*) FILTER (WHERE NOT inserted) FROM changed)::int AS updated,
           (SELECT id::text FROM batch ORDER BY id DESC LIMIT 1) AS last_id,
           (SELECT count(*) FROM page) > $1::int AS more`,
    );
  const syncPage: Record<UserStep, string> = { missing: syncPageOf('NOT EXISTS'), profiled: syncPageOf('EXISTS') };

  let retire: string | undefined;
  if (policy === 'delete') {
    retire = `
      WITH gone AS (
        DELETE FROM ${t} p WHERE p.id = ANY($1::uuid[]) RETURNING p.id, to_jsonb(p) AS row
      ), changed AS (
        SELECT g.id, g.row, ${changedFields('g.row', 'NULL::jsonb', '$4')} AS fields FROM gone g
      ), audit AS (
        ${AUDIT_INSERT} SELECT $2, id, 'deleted', fields, $3 FROM changed
      )
      SELECT ids.id::text AS id, c.row AS before, NULL::jsonb AS after, COALESCE(c.fields, '{}') AS changed_fields,
             c.id IS NOT NULL AS written
        FROM unnest($1::uuid[]) AS ids(id) LEFT JOIN changed c ON c.id = ids.id`;
  } else if (policy === 'soft') {
    retire = `
      WITH before AS (
        SELECT p.id, to_jsonb(p) AS row FROM ${t} p WHERE p.id = ANY($1::uuid[])
      ), marked AS (
        UPDATE ${t} p SET deleted_at = now()${touchUpdatedAt ? ', updated_at = now()' : ''}
         WHERE p.id = ANY($1::uuid[]) AND p.deleted_at IS NULL
        RETURNING p.id, to_jsonb(p) AS row
      ), changed AS (
        SELECT m.id, m.row, ${changedFields('b.row', 'm.row', '$4')} AS fields
          FROM marked m LEFT JOIN before b ON b.id = m.id
      ), audit AS (
        ${AUDIT_INSERT} SELECT $2, id, 'deleted', fields, $3 FROM changed
      )
      SELECT ids.id::text AS id, b.row AS before, COALESCE(c.row, b.row) AS after,
             COALESCE(c.fields, '{}') AS changed_fields, c.id IS NOT NULL AS written
        FROM unnest($1::uuid[]) AS ids(id) LEFT JOIN before b ON b.id = ids.id LEFT JOIN changed c ON c.id = ids.id`;
  }

  // The anti-joins run on the two primary keys; each page is one statement. The subquery repeats
  // the page's lower bound on its own table: implied by the join, but PostgreSQL does not infer
  // it, and a merge join would otherwise read the other key from its start on every page (a
  // last page over a million profiles read all of them: 400 ms instead of 40).
  const missingList = `
    SELECT u.id::text AS id, u.email, to_jsonb(u.created_at) #>> '{}' AS created_at
      FROM auth.users u
     WHERE u.deleted_at IS NULL AND ${AFTER.replace('%s', 'u.id')}
       AND NOT EXISTS (SELECT 1 FROM ${t} p WHERE p.id = u.id AND ${AFTER.replace('%s', 'p.id')})
     ORDER BY u.id
     LIMIT $1`;

  /** Live auth users, whole, by id: those with (EXISTS) or without (NOT EXISTS) a profile. */
  const usersPage = (profile: 'EXISTS' | 'NOT EXISTS') => `
    SELECT u.id::text AS id, to_jsonb(x) AS user
      FROM auth.users u
      CROSS JOIN LATERAL (SELECT ${AUTH_USER_SELECT}) x
     WHERE u.deleted_at IS NULL AND ${AFTER.replace('%s', 'u.id')}
       AND ${profile} (SELECT 1 FROM ${t} p WHERE p.id = u.id AND ${AFTER.replace('%s', 'p.id')})
     ORDER BY u.id
     LIMIT $1`;
  const missingUsers = usersPage('NOT EXISTS');

  const profiledUsers = usersPage('EXISTS');

  // One pass over both tables (a full join on the keys) instead of one join per count.
  const liveUser = 'u.id IS NOT NULL AND u.deleted_at IS NULL';
  const reconcileTotals = `
    SELECT count(*) FILTER (WHERE ${liveUser} AND p.id IS NULL)::int AS missing,
           count(*) FILTER (WHERE ${liveUser} AND p.id IS NOT NULL)::int AS with_profile,
           count(*) FILTER (WHERE p.id IS NOT NULL AND NOT (${liveUser})${ownsDeletedAt ? ' AND p.deleted_at IS NULL' : ''})::int AS orphaned
      FROM auth.users u FULL JOIN ${t} p ON p.id = u.id`;

  const orphans = `
    SELECT p.id::text AS id
      FROM ${t} p
     WHERE ${AFTER.replace('%s', 'p.id')}
       ${ownsDeletedAt ? 'AND p.deleted_at IS NULL' : ''}
       AND NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id = p.id AND u.deleted_at IS NULL AND ${AFTER.replace('%s', 'u.id')})
     ORDER BY p.id
     LIMIT $1`;

  return { getProfiles, preview, upsert, syncLiveOne, syncLiveOnce, syncPage, retire, missingList, missingUsers, profiledUsers, reconcileTotals, orphans, tracked };
}
