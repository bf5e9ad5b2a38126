/**
 * The SQL capture installs on the user's database: one function and two triggers on auth.users
 * that append the id of each user that changed to user_sync.changes (migration 5), in the
 * transaction of the change. docs/capture.md says why each part is as it is.
 */
import { createHash } from 'node:crypto';
import type { FieldMapping } from '../sync/field-map.ts';

/** The channel the triggers notify; the payload is constant, so one transaction's notifications fold into one. */
export const CAPTURE_CHANNEL = 'user_sync_changes';

export const CAPTURE_FUNCTION = 'user_sync.capture_auth_user_change';
export const TRIGGER_NAMES = { insertDelete: 'user_sync_capture_insert_delete', update: 'user_sync_capture_update' } as const;

/** Bumped whenever the function's body or the triggers' shape changes, so installed ones are seen as stale. */
const CAPTURE_SQL_VERSION = 2;

/**
 * The drains' "wake me" flag: 1 when a drain has gone idle and wants the next change notified; 0
 * once a change has notified it (set by that change's trigger), until a drain goes idle again. So
 * one notification per idle spell, not one per change: none while a drain is at work (it goes
 * round until a batch finds nothing) and none while the service is down (the first change cleared
 * the flag; nobody clears it back). Never set (installed while no drain ran): no notification,
 * and the drain finds the changes when it starts.
 *
 * A sequence because reading one costs the same whatever came before: it is one row, rewritten in
 * place by `setval`, where a flag row in a table (or the queue itself) leaves a dead version per
 * write for each reader to step over until VACUUM. And `setval` is not transactional: a drain's
 * "wake me" is seen at once, and so is a change's "woken". A change that clears the flag and then
 * rolls back takes its notification with it; the drain then wakes on its poll.
 */
export const WAKE_FLAG_SEQUENCE = 'user_sync.capture_wake_wanted';

/** Laid out with the function, at each install (and again after `capture uninstall`). */
export const wakeFlagSequenceSql = `CREATE SEQUENCE IF NOT EXISTS ${WAKE_FLAG_SEQUENCE} AS smallint MINVALUE 0 MAXVALUE 1 NO CYCLE`;

/**
 * Runs as its owner (the service's role), whoever changed auth.users: Supabase Auth writes as
 * `supabase_auth_admin`, which has no rights on user_sync and whose search_path is `auth`, hence
 * SECURITY DEFINER and an empty search_path with every name qualified.
 *
 * Nothing in it may fail the change it records: a failure (the table dropped, a privilege revoked,
 * the table locked past lock_timeout) is caught and becomes a WARNING in the database's log, and
 * the sign-up commits; the periodic reconcile then repairs that user. The catch costs a
 * subtransaction per recorded row.
 *
 * It notifies only when a drain asked to be woken (the flag above), and clears the flag as it
 * does. A transaction that has notified takes a cluster-wide lock at commit and holds it until its
 * commit is flushed, so notifying on every change makes concurrent sign-ups commit one at a time
 * (half the sign-up throughput at the bench). A drain at work goes round until a batch finds
 * nothing, then looks once more shortly after (drain.ts), which takes up a change whose
 * transaction was still open while it looked. The flag is read, not the queue: a query for older
 * changes cost a sign-up an executor run and a scan of the rows the drain had deleted but VACUUM
 * had not yet removed, more with every one of them. The flag's name is looked up with to_regclass,
 * so a missing flag reads as "no drain asked" (the poll finds the change) and never fails the
 * block, which would take the queued change back with it.
 */
export const captureFunctionSql = `
CREATE OR REPLACE FUNCTION ${CAPTURE_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
SET lock_timeout = '200ms'
AS $function$
DECLARE
  changed_id uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END;
  wake_flag regclass := pg_catalog.to_regclass('${WAKE_FLAG_SEQUENCE}');
BEGIN
  BEGIN
    INSERT INTO user_sync.changes (user_id, op) VALUES (changed_id, TG_OP);
    IF pg_catalog.pg_sequence_last_value(wake_flag) = 1 THEN
      PERFORM pg_catalog.setval(wake_flag, 0);
      PERFORM pg_catalog.pg_notify('${CAPTURE_CHANNEL}', '');
    END IF;
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'user_sync capture: the change of auth user % was not recorded (%: %); the reconcile will repair it',
      changed_id, SQLSTATE, SQLERRM;
  END;
  RETURN NULL;
END
$function$`;

/** auth.users columns behind each top-level source of the field map. */
const SOURCE_COLUMNS: Readonly<Record<string, string>> = {
  email: 'email',
  phone: 'phone',
  user_metadata: 'raw_user_meta_data',
  app_metadata: 'raw_app_meta_data',
  created_at: 'created_at',
  updated_at: 'updated_at',
  last_sign_in_at: 'last_sign_in_at',
  email_confirmed_at: 'email_confirmed_at',
  deleted_at: 'deleted_at',
  is_anonymous: 'is_anonymous',
  banned_until: 'banned_until',
};

/** Read by the sync whatever the map: a soft delete, an anonymous user converting, a ban. */
const ALWAYS_WATCHED = ['deleted_at', 'is_anonymous', 'banned_until'];

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/**
 * The UPDATE trigger's condition: true only when something the field map reads changed. A
 * metadata source is watched by its top-level key (a change under it is a change of it). So the
 * write of `last_sign_in_at` and `updated_at` that every sign-in makes records nothing, unless
 * FIELD_MAP maps one of them.
 */
export function updateCondition(mapping: FieldMapping): string {
  const watched = new Set<string>();
  for (const column of ALWAYS_WATCHED) watched.add(`OLD.${column} IS DISTINCT FROM NEW.${column}`);
  for (const { sources } of mapping.columns) {
    for (const source of sources) {
      const [head, key] = source.split('.');
      if (head === 'id') continue; // never changes
      const column = SOURCE_COLUMNS[head!]!;
      watched.add(
        key === undefined
          ? `OLD.${column} IS DISTINCT FROM NEW.${column}`
          : `OLD.${column} -> ${literal(key)} IS DISTINCT FROM NEW.${column} -> ${literal(key)}`,
      );
    }
  }
  return [...watched].sort().join(' OR ');
}

/**
 * What is installed for this field map, named by a fingerprint carried in the triggers' argument
 * (pg_trigger.tgargs, readable without owning auth.users): an installed trigger whose argument
 * differs was made for another map or an older version, and is replaced.
 */
export function captureFingerprint(mapping: FieldMapping): string {
  const digest = createHash('sha256').update(`${CAPTURE_SQL_VERSION}\n${captureFunctionSql}\n${updateCondition(mapping)}`).digest('hex');
  return `v${CAPTURE_SQL_VERSION}:${digest.slice(0, 16)}`;
}

/**
 * CREATE OR REPLACE TRIGGER needs only the TRIGGER privilege on auth.users, where DROP TRIGGER
 * needs ownership (which the service's role does not have on Supabase), so a changed map replaces
 * the triggers in place.
 */
export function triggerSql(mapping: FieldMapping): string[] {
  const fingerprint = literal(captureFingerprint(mapping));
  return [
    `CREATE OR REPLACE TRIGGER ${TRIGGER_NAMES.insertDelete}
       AFTER INSERT OR DELETE ON auth.users
       FOR EACH ROW EXECUTE FUNCTION ${CAPTURE_FUNCTION}(${fingerprint})`,
    `CREATE OR REPLACE TRIGGER ${TRIGGER_NAMES.update}
       AFTER UPDATE ON auth.users
       FOR EACH ROW WHEN (${updateCondition(mapping)})
       EXECUTE FUNCTION ${CAPTURE_FUNCTION}(${fingerprint})`,
  ];
}
