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
  {
    version: 2,
    name: 'webhook deliveries and deferred syncs',
    sql: `
      -- Deliveries already handled (a webhook-id, or a hash of a Database Webhook body), written in
      -- the transaction of their effect: a repeat, to any replica, finds its id and does nothing.
      -- Only ids are kept: never a payload, which would carry password hashes and tokens.
      CREATE TABLE user_sync.webhook_deliveries (
        id          text        PRIMARY KEY,
        kind        text        NOT NULL,
        user_id     uuid,
        received_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX webhook_deliveries_received_at_idx ON user_sync.webhook_deliveries (received_at);

      -- Users announced by the before-user-created hook, not stored yet: synced once they are.
      CREATE TABLE user_sync.deferred_syncs (
        user_id      uuid        PRIMARY KEY,
        requested_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX deferred_syncs_requested_at_idx ON user_sync.deferred_syncs (requested_at);
    `,
  },
  {
    version: 3,
    name: 'reconcile jobs',
    sql: `
      -- Admin reconcile jobs: queued by POST /reconcile, run one at a time across replicas, their
      -- progress saved after every batch (phase and cursor), so a job whose process died is
      -- resumed where it stopped. heartbeat_at tells a live job from an abandoned one.
      CREATE TABLE user_sync.reconcile_jobs (
        id           uuid        PRIMARY KEY,
        status       text        NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
        dry_run      boolean     NOT NULL,
        include      text[]      NOT NULL,
        requested_by text        NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        started_at   timestamptz,
        finished_at  timestamptz,
        heartbeat_at timestamptz,
        done         integer     NOT NULL DEFAULT 0,
        total        integer,
        counts       jsonb       NOT NULL DEFAULT '{}',
        errors       jsonb       NOT NULL DEFAULT '[]',
        phase        text,
        cursor       text,
        failure      text
      );
      CREATE INDEX reconcile_jobs_status_idx ON user_sync.reconcile_jobs (status, created_at);
    `,
  },
  {
    version: 4,
    name: 'unlogged webhook deliveries',
    sql: `
      -- A delivery record only turns a repeat into a no-op; the sync re-reads auth.users whatever
      -- asked for it, so a repeat that gets through is harmless. Unlogged, recording one costs no
      -- WAL and no flush at commit (most deliveries change no profile, so the record is their only
      -- write): a third of a delivery's time at the bench. A crash empties the table, and a
      -- repeat of a delivery from before it syncs once more, changing nothing.
      ALTER TABLE user_sync.webhook_deliveries SET UNLOGGED;
    `,
  },
  {
    version: 5,
    name: 'capture queue',
    sql: `
      -- Capture (src/capture/): a trigger on auth.users appends the id of each user that changed,
      -- in the transaction of the change, and the service drains the rows. Append-only and
      -- refusing nothing (no foreign key, no check, no unique key but the generated id), so a
      -- sign-up can never fail on it. No payload: the drain re-reads auth.users.
      CREATE TABLE user_sync.changes (
        id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_id    uuid        NOT NULL,
        op         text        NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 6,
    name: 'deferred syncs found by identity or e-mail',
    sql: `
      -- For an OAuth, SSO, ID-token or web3 sign-up, before-user-created shows a throwaway id: Auth
      -- stores the user under a new one. A note also keeps how else to find that user: the
      -- provider and the subject it gave (auth.identities (provider, provider_id)), and the
      -- e-mail, lower-cased as Auth stores it. Null for notes made before this version.
      ALTER TABLE user_sync.deferred_syncs
        ADD COLUMN provider    text,
        ADD COLUMN provider_id text,
        ADD COLUMN email       text;
    `,
  },
];
