/**
 * The SQL for one profile table, field map and delete policy, built once at start-up, by family:
 * writes of live users (statements/upserts.ts), the delete policy (statements/retire.ts), and
 * reads and keyset pages (statements/reads.ts).
 *
 * Statements take their users as arrays (`$1`: JSON rows, or user ids) where they can, so one
 * statement serves one user or a batch of a thousand. A sync maps its user in SQL, in the
 * statement that writes it (mapped-values.ts), and so does a reconcile batch, which also reads its
 * keyset page there; the rows mapUser made (dry runs) are written and previewed alike.
 */
import type { FieldMapping } from '../sync/field-map.ts';
import type { ProfileRules } from '../sync/profile-rules.ts';
import type { ProfileTable } from './profile-table.ts';
import { readStatements, type ReadStatements } from './statements/reads.ts';
import { retireStatement } from './statements/retire.ts';
import { upsertStatements, type UpsertStatements } from './statements/upserts.ts';

export { AUTH_USER_SELECT } from './statements/fragments.ts';

export interface ProfileStatements extends UpsertStatements, ReadStatements {
  /** The delete policy; undefined under `keep`, which writes nothing. */
  retire: string | undefined;
  /** The tracked column names, the `tracked` parameter of the statements that report changes. */
  tracked: string[];
}

export function buildProfileStatements(table: ProfileTable, mapping: FieldMapping, rules: ProfileRules): ProfileStatements {
  const name = table.sqlName;
  return {
    ...upsertStatements(name, mapping, rules),
    ...readStatements(name, mapping, rules),
    retire: retireStatement(name, rules),
    tracked: [...rules.trackedNames],
  };
}
