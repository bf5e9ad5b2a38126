/**
 * The `input` CTE every profile write starts from: one row per user, a column per tracked column
 * (profile-rules.ts), each value already the column's type (mapped-values.ts). Either from rows
 * the engine mapped (`$1` JSON), or read and mapped from auth.users in the same statement.
 */
import type { FieldMapping } from '../../sync/field-map.ts';
import type { ProfileRules } from '../../sync/profile-rules.ts';
import { chosenValue, columnValue } from '../mapped-values.ts';
import { quoteIdent } from '../profile-table.ts';
import { literal } from './fragments.ts';

/** Under the soft policy a live user's profile is un-deleted: deleted_at is written as NULL. */
const ownedDeletedAt = (rules: ProfileRules): string[] => {
  if (!rules.ownsDeletedAt) return [];
  const type = rules.tracked.find(({ column }) => column === 'deleted_at')!.type;
  return [`NULL::${type} AS ${quoteIdent('deleted_at')}`];
};

/**
 * Rows given as `$1`, a JSON array of {"id": "...", "<column>": <the JSON value mapUser chose> |
 * null}; each value becomes the column's as the one-statement sync makes it.
 */
export const jsonInput = (mapping: FieldMapping, rules: ProfileRules) => `input AS (
      SELECT (r->>'id')::uuid AS id, ${[
        ...mapping.columns.map((entry) => `${columnValue(`r -> ${literal(entry.column)}`, entry)} AS ${quoteIdent(entry.column)}`),
        ...ownedDeletedAt(rules),
      ].join(', ')}
        FROM jsonb_array_elements($1::jsonb) AS r
    )`;

/**
 * The users of auth.users (`u`) meeting `condition`, mapped by the database; `from` may name
 * rows of auth.users another CTE already read, as `u`. The lateral subquery
 * picks each column's JSON value once and `columnValue` refers to it by name. OFFSET 0 keeps
 * PostgreSQL from pulling the subquery up, which would copy each pick into every reference (up to
 * eight for a number's text) and nearly double the planning time of a one-user sync.
 */
export const liveInput = (mapping: FieldMapping, rules: ProfileRules, condition: string, from = 'auth.users u') => `input AS (
      SELECT u.id, ${[
        ...mapping.columns.map((entry, index) => `${columnValue(`v.v${index}`, entry)} AS ${quoteIdent(entry.column)}`),
        ...ownedDeletedAt(rules),
      ].join(', ')}
        FROM ${from}
        CROSS JOIN LATERAL (SELECT ${mapping.columns.map(({ sources }, index) => `${chosenValue(sources)} AS v${index}`).join(', ')} OFFSET 0) v
       WHERE ${condition}
    )`;
