/**
 * Versioned migrations of the service's own schema, `user_sync`. They never touch `auth` or the
 * profile table: those belong to the user's Supabase project.
 *
 * Append only: a released migration is never edited; a change is a new version.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'audit log',
    sql: `
      -- One row for every write the service makes to a profile: who (the caller's name, never a
      -- token), which user, what it did, which columns changed, and by which path.
      CREATE TABLE user_sync.audit_log (
        id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        occurred_at    timestamptz NOT NULL DEFAULT now(),
        actor          text        NOT NULL,
        user_id        uuid        NOT NULL,
        action         text        NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
        changed_fields text[]      NOT NULL DEFAULT '{}',
        source         text        NOT NULL
      );
      CREATE INDEX audit_log_user_id_idx ON user_sync.audit_log (user_id, occurred_at DESC);
    `,
  },
];
