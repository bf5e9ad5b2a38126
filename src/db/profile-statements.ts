/**
 * The SQL for one profile table and field map, built once at start-up. Each write is a single
 * statement (data-modifying CTEs), so the row and its audit entry commit together or not at all,
 * in one round trip, and concurrent syncs of one user resolve inside PostgreSQL's ON CONFLICT.
 */
import type { DeletePolicy } from '../config/config.ts';
import type { FieldMapping } from '../sync/field-map.ts';
import { quoteIdent, type ProfileTable } from './profile-table.ts';

export interface ProfileStatements {
  getProfile: string;
  preview: string;
  upsert: string;
  retire: string | undefined;
  /** Column names whose changes are reported and audited, in order. */
  tracked: string[];
}

/**
 * The tracked columns whose JSON values differ between two row expressions (either may be NULL,
 * meaning "no row"). `$tracked` is the parameter holding the column names.
 */
const changedFields = (before: string, after: string, tracked: string) =>
  `ARRAY(SELECT f FROM unnest(${tracked}::text[]) AS f
          WHERE COALESCE((${before}) -> f, 'null'::jsonb) IS DISTINCT FROM COALESCE((${after}) -> f, 'null'::jsonb))`;

const AUDIT_INSERT = 'INSERT INTO user_sync.audit_log (actor, user_id, action, changed_fields, source)';

export function buildProfileStatements(
  table: ProfileTable,
  mapping: FieldMapping,
  policy: DeletePolicy,
): ProfileStatements {
  const t = table.sqlName;
  const hasColumn = (name: string) => table.columns.some((column) => column.name === name);
  const mapped = mapping.columns.map(({ column }) => column);
  const softDeletes = policy === 'soft';
  // The service owns deleted_at under the soft policy: a live user's profile is un-deleted.
  const tracked = softDeletes && !mapped.includes('deleted_at') ? [...mapped, 'deleted_at'] : mapped;
  const touchUpdatedAt = hasColumn('updated_at') && !tracked.includes('updated_at');

  // Parameters: $1 user id, $2..$(n+1) mapped values, then actor, source, tracked names.
  const n = mapped.length;
  const actor = `$${n + 2}`;
  const source = `$${n + 3}`;
  const trackedParam = `$${n + 4}`;
  const cast = (index: number) => `$${index + 2}::${mapping.columns[index]!.type}`;
  const deletedAtType = table.columns.find((column) => column.name === 'deleted_at')?.type ?? 'timestamptz';

  const valueColumns = mapped.map(quoteIdent);
  const valueExprs = mapped.map((_, index) => cast(index));
  const targetColumns = [...valueColumns, ...(tracked.length > n ? [quoteIdent('deleted_at')] : [])];
  const targetValues = [...valueExprs, ...(tracked.length > n ? [`NULL::${deletedAtType}`] : [])];

  const setList = [
    ...targetColumns.map((column) => `${column} = EXCLUDED.${column}`),
    ...(touchUpdatedAt ? [`${quoteIdent('updated_at')} = now()`] : []),
  ].join(', ');
  const differs = `(${targetColumns.map((c) => `p.${c}`).join(', ')}) IS DISTINCT FROM (${targetColumns
    .map((c) => `EXCLUDED.${c}`)
    .join(', ')})`;

  const getProfile = `SELECT to_jsonb(p) AS row FROM ${t} p WHERE p.id = $1`;

  const preview = `
    SELECT c.row AS current, e.row AS expected, ${changedFields('c.row', 'e.row', '$' + (n + 2))} AS changed_fields
      FROM (SELECT ${targetValues.map((value, index) => `${value} AS ${targetColumns[index]}`).join(', ')}) v
     CROSS JOIN LATERAL (SELECT to_jsonb(v) AS row) e
      LEFT JOIN (SELECT to_jsonb(p) AS row FROM ${t} p WHERE p.id = $1) c ON true`;

  const upsert = `
    WITH before AS (
      SELECT to_jsonb(p) AS row FROM ${t} p WHERE p.id = $1
    ), written AS (
      INSERT INTO ${t} AS p (id, ${targetColumns.join(', ')})
      VALUES ($1, ${targetValues.join(', ')})
      ON CONFLICT (id) DO UPDATE SET ${setList}
      WHERE ${differs}
      RETURNING (p.xmax = 0) AS inserted, to_jsonb(p) AS row
    ), changed AS (
      SELECT w.inserted, w.row, ${changedFields('(SELECT row FROM before)', 'w.row', trackedParam)} AS fields
        FROM written w
    ), audit AS (
      ${AUDIT_INSERT}
      SELECT ${actor}, $1, CASE WHEN inserted THEN 'created' ELSE 'updated' END, fields, ${source} FROM changed
    )
    SELECT (SELECT row FROM before) AS before, c.inserted, c.row AS after, c.fields AS changed_fields
      FROM (SELECT 1) AS one LEFT JOIN changed c ON true`;

  // Retire statements take $1 user id, $2 actor, $3 source, $4 tracked names.
  let retire: string | undefined;
  if (policy === 'delete') {
    retire = `
      WITH gone AS (
        DELETE FROM ${t} p WHERE p.id = $1 RETURNING to_jsonb(p) AS row
      ), changed AS (
        SELECT g.row, ${changedFields('g.row', 'NULL::jsonb', '$4')} AS fields FROM gone g
      ), audit AS (
        ${AUDIT_INSERT} SELECT $2, $1, 'deleted', fields, $3 FROM changed
      )
      SELECT c.row AS before, NULL::jsonb AS after, c.fields AS changed_fields, c.row IS NOT NULL AS written
        FROM (SELECT 1) AS one LEFT JOIN changed c ON true`;
  } else if (policy === 'soft') {
    retire = `
      WITH before AS (
        SELECT to_jsonb(p) AS row FROM ${t} p WHERE p.id = $1
      ), marked AS (
        UPDATE ${t} p SET deleted_at = now()${touchUpdatedAt ? ', updated_at = now()' : ''}
         WHERE p.id = $1 AND p.deleted_at IS NULL
        RETURNING to_jsonb(p) AS row
      ), changed AS (
        SELECT m.row, ${changedFields('(SELECT row FROM before)', 'm.row', '$4')} AS fields FROM marked m
      ), audit AS (
        ${AUDIT_INSERT} SELECT $2, $1, 'deleted', fields, $3 FROM changed
      )
      SELECT (SELECT row FROM before) AS before, COALESCE(c.row, (SELECT row FROM before)) AS after,
             COALESCE(c.fields, '{}') AS changed_fields, c.row IS NOT NULL AS written
        FROM (SELECT 1) AS one LEFT JOIN changed c ON true`;
  }

  return { getProfile, preview, upsert, retire, tracked };
}

/** Missing users: one keyset page, one statement. The anti-join runs on the two primary keys. */
export function buildMissingUsersStatement(table: ProfileTable, firstPage: boolean): string {
  return `
    SELECT u.id::text AS id, u.email, to_jsonb(u.created_at) #>> '{}' AS created_at
      FROM auth.users u
     WHERE u.deleted_at IS NULL
       ${firstPage ? '' : 'AND u.id > $2::uuid'}
       AND NOT EXISTS (SELECT 1 FROM ${table.sqlName} p WHERE p.id = u.id)
     ORDER BY u.id
     LIMIT $1`;
}
