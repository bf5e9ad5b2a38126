/**
 * The delete policy in SQL (profile-rules.ts decides which): $1 uuid[], $2 actor, $3 source,
 * $4 tracked → (id, before, after, changed_fields, written), one row per given id. Undefined under
 * `keep`, which writes nothing. Each is one statement that writes and audits together.
 */
import type { ProfileRules } from '../../sync/profile-rules.ts';
import { AUDIT_INSERT, changedFields } from './fragments.ts';

export function retireStatement(table: string, rules: ProfileRules): string | undefined {
  switch (rules.retire) {
    case 'keep':
      return undefined;
    case 'delete_row':
      return `
      WITH gone AS (
        DELETE FROM ${table} p WHERE p.id = ANY($1::uuid[]) RETURNING p.id, to_jsonb(p) AS row
      ), changed AS (
        SELECT g.id, g.row, ${changedFields('g.row', 'NULL::jsonb', '$4')} AS fields FROM gone g
      ), audit AS (
        ${AUDIT_INSERT} SELECT $2, id, 'deleted', fields, $3 FROM changed
      )
      SELECT ids.id::text AS id, c.row AS before, NULL::jsonb AS after, COALESCE(c.fields, '{}') AS changed_fields,
             c.id IS NOT NULL AS written
        FROM unnest($1::uuid[]) AS ids(id) LEFT JOIN changed c ON c.id = ids.id`;
    case 'mark_deleted':
      return `
      WITH before AS (
        SELECT p.id, to_jsonb(p) AS row FROM ${table} p WHERE p.id = ANY($1::uuid[])
      ), marked AS (
        UPDATE ${table} p SET deleted_at = now()${rules.touchUpdatedAt ? ', updated_at = now()' : ''}
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
}
