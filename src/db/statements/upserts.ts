/**
 * The profile write: one statement that upserts the rows of an `input` CTE (inputs.ts) where they
 * differ and audits each row it wrote, so rows and their audit entries commit together or not at
 * all, in one round trip, and concurrent syncs of one user resolve inside PostgreSQL's ON
 * CONFLICT. Every write of live users is this statement over another choice of users: given ids,
 * a webhook delivery's user (with its record), or a reconcile page.
 *
 * Parameters shared by all: $2 actor, $3 source, $4 tracked column names.
 * Result rows: (id, before, inserted, after, changed_fields), `inserted` null where nothing was
 * written because nothing differed; the page statements return counts instead.
 */
import type { FieldMapping } from '../../sync/field-map.ts';
import type { ProfileRules } from '../../sync/profile-rules.ts';
import type { UserStep } from '../../sync/profile-store.ts';
import { quoteIdent } from '../profile-table.ts';
import { after, AUDIT_INSERT, LIVE_USER, profiledUser } from './fragments.ts';
import { jsonInput, liveInput } from './inputs.ts';

export interface UpsertStatements {
  /** $1 JSON rows (as the engine mapped them). */
  upsert: string;
  /**
   * One user read and mapped from auth.users in the same statement: $1 uuid → one row if the
   * user is live, none (nothing written) if it is absent or deleted. The statement behind every
   * `POST /sync`, kept prepared. An equality on the key, so PostgreSQL's generic plan costs what a
   * custom one does and is used from the sixth call on: planning it costs twice what running it does.
   */
  syncLiveOne: string;
  /** The same for many users: $1 uuid[] → one row per live user among them. */
  syncLiveMany: string;
  /**
   * `syncLiveOne` that also records a webhook delivery ($5 id, $6 kind), and writes only if the
   * record is new: → (id, claimed, before, inserted, after, changed_fields), one row if the user
   * is live, none (and nothing recorded) if not.
   */
  syncLiveOnce: string;
  /**
   * The syncs of several callers joined into one statement (db/sync-batches.ts): $1 uuid[] the
   * distinct user ids, $2 text[] and $3 text[] the actor and source of each, so that the audit row
   * of a user's write names the caller who asked for it. → one row per live user, as `syncLiveMany`.
   */
  syncLiveBatch: string;
  /**
   * Webhook deliveries joined likewise, one array entry per delivery: $1 uuid[] user ids, $2 text[]
   * actors, $3 text[] sources, $5 text[] delivery ids (distinct), $6 text[] kinds. Each delivery of
   * a live user is recorded unless it was before, and each user with a delivery recorded now is
   * written once, audited under its first such delivery. → (id, delivery_id, claimed, before,
   * inserted, after, changed_fields), one row per delivery of a live user.
   */
  syncLiveOnceBatch: string;
  /**
   * A reconcile batch: the next keyset page of live auth users without a profile (`missing`) or
   * with one (`profiled`), read, mapped, upserted and audited together. $1 limit, $5 after-id
   * (null for the first page) → one row (handled, created, updated, last_id, more): counts only.
   */
  syncPage: Record<UserStep, string>;
  /**
   * A capture batch: claims the oldest $1 rows of user_sync.changes no other replica holds
   * (SKIP LOCKED), deletes them, and syncs each distinct live user they name. → one row
   * (claimed, users, created, updated, gone): `gone` the ids of users absent or soft-deleted now,
   * for the delete policy in the same transaction. A refused row fails the whole statement, and
   * the claim with it.
   */
  syncChanges: string;
  /** The claim alone (for a batch that was refused): → the distinct user ids of the rows taken. */
  claimChanges: string;
}

export function upsertStatements(table: string, mapping: FieldMapping, rules: ProfileRules): UpsertStatements {
  const columns = rules.trackedNames.map(quoteIdent);
  const setList = [
    ...columns.map((column) => `${column} = EXCLUDED.${column}`),
    ...(rules.touchUpdatedAt ? [`${quoteIdent('updated_at')} = now()`] : []),
  ].join(', ');
  const differs = `(${columns.map((c) => `p.${c}`).join(', ')}) IS DISTINCT FROM (${columns.map((c) => `EXCLUDED.${c}`).join(', ')})`;
  // The tracked columns of the row before (t0, t1, ...) and as written (a0, a1, ...), under names
  // no table column can clash with, compared as the column's own type.
  const typedColumns = (prefix: string) => columns.map((column, index) => `p.${column} AS ${prefix}${index}`).join(', ');
  const differsFromBefore = `(${columns.map((_, index) => `b.t${index}`).join(', ')}) IS DISTINCT FROM (${columns.map((c) => `i.${c}`).join(', ')})`;
  // The change list: the names ($4, in the tracked columns' order) of those that differ between
  // before (no row: all NULL) and as written.
  const changedColumns = `array_remove(ARRAY[${columns
    .map((_, index) => `CASE WHEN b.t${index} IS DISTINCT FROM w.a${index} THEN ($4::text[])[${index + 1}] END`)
    .join(', ')}], NULL)`;

  /**
   * Upserts the rows of the CTE `input` (defined in `inputCtes`) and audits them; one result row
   * for each row of `outcomes` (a CTE holding the ids to report on), plus any `extra` columns;
   * or, given `select`, that query over the CTEs (`changed` holds the rows written) instead.
   * Each audit row names $2 as actor and $3 as source, or, given `callers` (a CTE of one row per
   * user: id, actor, source), the caller whose sync it was.
   *
   * Rows are written in id order: two batches that share users lock them in the same order, so
   * they wait on each other instead of deadlocking.
   *
   * Only rows that are missing or differ from `before` reach the INSERT. A row already in step
   * (the common case: a sign-in confirming what is there) is then only read: ON CONFLICT DO
   * UPDATE would lock it first and test its WHERE after, and that lock is a write of its own
   * (the row's xmax and a WAL record) that costs more than the rest of the statement. The INSERT
   * keeps its own test against the latest row version, for a row changed since this statement's
   * snapshot; a row changed to match since then is found unchanged there.
   *
   * The change list compares typed columns; the rows as JSON (`to_jsonb`, a copy of every row
   * read and written) are built only for the statements that return them, not for `select`.
   */
  const upsertFrom = (inputCtes: string, outcomes = 'input', extra = '', select?: string, callers?: string) => {
    const returnsRows = select === undefined;
    const rowJson = returnsRows ? 'to_jsonb(p) AS row, ' : '';
    return `
    WITH ${inputCtes},
    before AS MATERIALIZED (
      -- = ANY(ARRAY(...)), not IN (SELECT ...): PostgreSQL guesses 100 input rows whatever the batch,
      -- and for that guess a semi-join over a sequential scan of the whole profile table can look
      -- cheaper than 100 index probes on a table of a few thousand rows (one sync read them all, in
      -- 8 ms instead of 0.1 ms, at 10,000 profiles). An array is always probed through the index.
      SELECT p.id, ${rowJson}${typedColumns('t')} FROM ${table} p WHERE p.id = ANY (ARRAY(SELECT id FROM input))
    ), to_write AS (
      SELECT i.* FROM input i LEFT JOIN before b ON b.id = i.id WHERE b.id IS NULL OR ${differsFromBefore}
    ), written AS (
      INSERT INTO ${table} AS p (id, ${columns.join(', ')})
      SELECT id, ${columns.join(', ')} FROM to_write ORDER BY id
      ON CONFLICT (id) DO UPDATE SET ${setList}
      WHERE ${differs}
      RETURNING p.id, (p.xmax = 0) AS inserted, ${rowJson}${typedColumns('a')}
    ), changed AS (
      SELECT w.id, w.inserted, ${returnsRows ? 'w.row, ' : ''}${changedColumns} AS fields
        FROM written w LEFT JOIN before b ON b.id = w.id
    ), audit AS (
      ${AUDIT_INSERT}
      ${
        callers === undefined
          ? `SELECT $2, id, CASE WHEN inserted THEN 'created' ELSE 'updated' END, fields, $3 FROM changed`
          : `SELECT k.actor, id, CASE WHEN inserted THEN 'created' ELSE 'updated' END, fields, k.source FROM changed JOIN ${callers} k USING (id)`
      }
    )
    ${select ?? `SELECT o.id::text AS id, ${extra}b.row AS before, c.inserted, c.row AS after, c.fields AS changed_fields
      FROM ${outcomes} o LEFT JOIN before b ON b.id = o.id LEFT JOIN changed c ON c.id = o.id`}`;
  };

  // The users a write is for: live, and anonymous ones only if the rules give them profiles.
  const profiled = profiledUser(rules);
  const oneLiveUser = `u.id = $1::uuid AND ${profiled}`;

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
    ), ${liveInput(mapping, rules, `${oneLiveUser} AND u.id IN (SELECT user_id FROM claim)`)}`,
    'live',
    'EXISTS (SELECT 1 FROM claim) AS claimed, ',
  );

  const syncLiveBatch = upsertFrom(
    `callers AS (
      SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) AS c(id, actor, source)
    ), ${liveInput(mapping, rules, `u.id = ANY ($1::uuid[]) AND ${profiled}`)}`,
    'input',
    '',
    undefined,
    'callers',
  );

  // The batch form of syncLiveOnce: each delivery recorded with its user's write, in one statement
  // that commits all of it or none (a refused row: the caller retries the deliveries one by one).
  const syncLiveOnceBatch = upsertFrom(
    `deliveries AS (
      SELECT * FROM unnest($5::text[], $6::text[], $1::uuid[], $2::text[], $3::text[]) WITH ORDINALITY AS d(id, kind, user_id, actor, source, n)
    ), live AS (
      SELECT u.id FROM auth.users u WHERE u.id = ANY ($1::uuid[]) AND ${profiled}
    ), claim AS (
      INSERT INTO user_sync.webhook_deliveries (id, kind, user_id)
      SELECT d.id, d.kind, d.user_id FROM deliveries d WHERE d.user_id IN (SELECT id FROM live) ORDER BY d.id
      ON CONFLICT (id) DO NOTHING
      RETURNING id
    ), live_deliveries AS (
      SELECT d.user_id AS id, d.id AS delivery_id, d.id IN (SELECT id FROM claim) AS claimed
        FROM deliveries d WHERE d.user_id IN (SELECT id FROM live)
    ), callers AS (
      SELECT DISTINCT ON (d.user_id) d.user_id AS id, d.actor, d.source
        FROM deliveries d WHERE d.id IN (SELECT id FROM claim)
       ORDER BY d.user_id, d.n
    ), ${liveInput(mapping, rules, `u.id IN (SELECT id FROM callers) AND ${profiled}`)}`,
    'live_deliveries',
    'o.delivery_id, o.claimed, ',
    undefined,
    'callers',
  );

  // A reconcile page is the keyset page `missingUsers`/`profiledUsers` reads (listings.ts: the same
  // anti-join or semi-join, the lower bound repeated on the profile key), read one row long so the
  // statement knows whether another follows; its first $1 users are mapped and written from the
  // rows the page read, not looked up again. Only counts come back: before/after rows would be
  // shipped and parsed only to be counted.
  //
  // Missing users are few among many: the anti-join runs on the two keys alone (index-only
  // scans), fenced by OFFSET 0, and only its candidates are read, one index probe each (the
  // lateral subquery, fenced too), to leave out deleted users. Filtering on deleted_at in the scan
  // itself would read every user's row, in key order (random on disk): at a tenth missing, ten
  // rows read per user written. A plain join lets PostgreSQL merge-join a scan of auth.users from
  // its first key, whatever the cursor: at pages of 5,000, 550,000 rows read for a page.
  const pageOf: Record<UserStep, string> = {
    missing: `SELECT u.*
        FROM (SELECT u.id
                FROM auth.users u
               WHERE ${after('u.id', '$5')}
                 AND NOT EXISTS (SELECT 1 FROM ${table} p WHERE p.id = u.id AND ${after('p.id', '$5')})
               ORDER BY u.id
              OFFSET 0) c
        CROSS JOIN LATERAL (SELECT * FROM auth.users u WHERE u.id = c.id OFFSET 0) u
       WHERE ${profiled}
       ORDER BY c.id
       LIMIT $1::int + 1`,
    profiled: `SELECT u.*
        FROM auth.users u
       WHERE ${profiled} AND ${after('u.id', '$5')}
         AND EXISTS (SELECT 1 FROM ${table} p WHERE p.id = u.id AND ${after('p.id', '$5')})
       ORDER BY u.id
       LIMIT $1::int + 1`,
  };
  const syncPageOf = (step: UserStep) =>
    upsertFrom(
      `page AS (
      ${pageOf[step]}
    ), batch AS (
      SELECT * FROM page ORDER BY id LIMIT $1::int
    ), ${liveInput(mapping, rules, 'true', 'batch u')}`,
      'input',
      '',
      `SELECT (SELECT count(*) FROM batch)::int AS handled,
           (SELECT count(*) FILTER (WHERE inserted) FROM changed)::int AS created,
           (SELECT count(*) FILTER (WHERE NOT inserted) FROM changed)::int AS updated,
           (SELECT id::text FROM batch ORDER BY id DESC LIMIT 1) AS last_id,
           (SELECT count(*) FROM page) > $1::int AS more`,
    );

  // Rows are taken in queue order; with several replicas each takes rows the others do not hold.
  const claim = `claimed AS (
      SELECT id FROM user_sync.changes ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED
    ), drained AS (
      -- By index, as an array: joined to the claim, PostgreSQL would hash-join a full scan of the
      -- queue, dead rows included, on every batch of a backlog.
      DELETE FROM user_sync.changes c WHERE c.id = ANY (ARRAY(SELECT id FROM claimed)) RETURNING c.user_id
    ), users AS (
      SELECT DISTINCT user_id AS id FROM drained
    )`;
  const syncChanges = upsertFrom(
    `${claim}, ${liveInput(mapping, rules, `u.id = ANY (ARRAY(SELECT id FROM users)) AND ${profiled}`)}`,
    'input',
    '',
    `SELECT (SELECT count(*) FROM claimed)::int AS claimed,
           (SELECT count(*) FROM users)::int AS users,
           (SELECT count(*) FILTER (WHERE inserted) FROM changed)::int AS created,
           (SELECT count(*) FILTER (WHERE NOT inserted) FROM changed)::int AS updated,
           -- Gone: absent or soft-deleted now. An anonymous user left out of \`input\` by the rules is not.
           ARRAY(SELECT g.id::text FROM users g WHERE NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id = g.id AND ${LIVE_USER})) AS gone`,
  );

  return {
    syncChanges,
    claimChanges: `WITH ${claim} SELECT id::text AS id FROM users`,
    upsert: upsertFrom(jsonInput(mapping, rules)),
    syncLiveOne: upsertFrom(liveInput(mapping, rules, oneLiveUser)),
    syncLiveMany: upsertFrom(liveInput(mapping, rules, `u.id = ANY ($1::uuid[]) AND ${profiled}`)),
    syncLiveOnce,
    syncLiveBatch,
    syncLiveOnceBatch,
    syncPage: { missing: syncPageOf('missing'), profiled: syncPageOf('profiled') },
  };
}
