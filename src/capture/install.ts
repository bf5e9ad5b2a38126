/**
 * Installing, inspecting and removing capture on the user's database (capture-sql.ts has the SQL,
 * docs/capture.md the reasons). Installing never stops the service: without the privilege it
 * needs, it warns once, naming the grant, and the service runs on webhooks and the reconcile.
 */
import type { Log } from '../logging.ts';
import { MIGRATION_LOCK_KEY } from '../db/migrate.ts';
import { migrations } from '../db/migrations.ts';
import type { Queryable, SqlClient } from '../db/sql-client.ts';
import type { FieldMapping } from '../sync/field-map.ts';
import {
  CAPTURE_FUNCTION,
  captureFingerprint,
  captureFunctionSql,
  WAKE_FLAG_SEQUENCE,
  wakeFlagSequenceSql,
  TRIGGER_NAMES,
  triggerSql,
} from './capture-sql.ts';

export type CaptureMode =
  | { active: true; installed: 'now' | 'already' }
  | { active: false; reason: string };

export interface CaptureStatus {
  /** The role the service connects as. */
  role: string;
  /** May this role create triggers on auth.users? */
  canTrigger: boolean;
  /** Each capture trigger: absent, installed for this field map and version, or for another. */
  triggers: Record<keyof typeof TRIGGER_NAMES, 'absent' | 'current' | 'stale' | 'disabled'>;
  /** Installed and current: every change of auth.users is being recorded. */
  current: boolean;
  queueDepth: number | null;
  oldestChangeAgeSeconds: number | null;
}

const INSUFFICIENT_PRIVILEGE = '42501';
const sqlState = (error: unknown) => (error as { code?: unknown } | null)?.code;

const CHANGES_MIGRATION = migrations.find((migration) => migration.name === 'capture queue')!;

/** The grant a database owner runs to let the service capture. */
const grantHint = (role: string) =>
  `GRANT TRIGGER ON auth.users TO ${role}; (as the owner of auth.users, supabase_auth_admin, or a superuser)`;

async function privileges(db: Queryable): Promise<{ role: string; hasAuthUsers: boolean; canTrigger: boolean }> {
  const [row] = await db.query<{ role: string; has_auth_users: boolean; can_trigger: boolean | null }>(
    `SELECT current_user::text AS role,
            to_regclass('auth.users') IS NOT NULL AS has_auth_users,
            CASE WHEN to_regclass('auth.users') IS NULL THEN NULL
                 ELSE has_table_privilege('auth.users', 'TRIGGER') END AS can_trigger`,
  );
  return { role: row!.role, hasAuthUsers: row!.has_auth_users, canTrigger: row!.can_trigger === true };
}

async function installedTriggers(db: Queryable, fingerprint: string): Promise<CaptureStatus['triggers']> {
  const rows = await db.query<{ name: string; argument: string; enabled: string }>(
    // tgargs holds each argument followed by a NUL byte: the first argument is what precedes it.
    `SELECT t.tgname::text AS name, t.tgenabled::text AS enabled,
            convert_from(substring(t.tgargs FROM 1 FOR greatest(position('\\x00'::bytea IN t.tgargs) - 1, 0)), 'UTF8') AS argument
       FROM pg_catalog.pg_trigger t
      WHERE t.tgrelid = 'auth.users'::regclass AND t.tgname = ANY ($1::text[])`,
    [Object.values(TRIGGER_NAMES)],
  );
  const state = (name: string) => {
    const row = rows.find((candidate) => candidate.name === name);
    if (row === undefined) return 'absent' as const;
    if (row.enabled === 'D') return 'disabled' as const;
    return row.argument === fingerprint ? ('current' as const) : ('stale' as const);
  };
  return { insertDelete: state(TRIGGER_NAMES.insertDelete), update: state(TRIGGER_NAMES.update) };
}

async function functionExists(db: Queryable): Promise<boolean> {
  const [row] = await db.query<{ found: boolean }>(`SELECT to_regprocedure($1) IS NOT NULL AS found`, [`${CAPTURE_FUNCTION}()`]);
  return row!.found;
}

/**
 * Installs capture, or replaces it when it was made for another field map. Under the migration
 * lock, so replicas starting together install it once: the second finds it current.
 */
export async function installCapture(sql: SqlClient, mapping: FieldMapping, log: Log): Promise<CaptureMode> {
  const { role, hasAuthUsers, canTrigger } = await privileges(sql);
  if (!hasAuthUsers) return off(log, 'auth.users does not exist in this database');
  if (!canTrigger) return off(log, `the role ${role} lacks the TRIGGER privilege on auth.users; grant it with: ${grantHint(role)}`);
  const fingerprint = captureFingerprint(mapping);
  try {
    return await sql.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      const before = await installedTriggers(tx, fingerprint);
      const [laidOut] = await tx.query<{ table: boolean; flag: boolean }>(
        `SELECT to_regclass('user_sync.changes') IS NOT NULL AS table, to_regclass($1) IS NOT NULL AS flag`,
        [WAKE_FLAG_SEQUENCE],
      );
      if (laidOut!.table && laidOut!.flag && before.insertDelete === 'current' && before.update === 'current' && (await functionExists(tx))) {
        return { active: true, installed: 'already' } as const;
      }
      // Removed by `capture uninstall` since the migration ran: laid out again the same way.
      if (!laidOut!.table) await tx.exec(CHANGES_MIGRATION.sql);
      await tx.exec(wakeFlagSequenceSql);
      await tx.exec(captureFunctionSql);
      for (const statement of triggerSql(mapping)) await tx.exec(statement);
      await tx.exec(revokeFromClients);
      log.info({ fingerprint, replaced: before }, 'capture triggers installed on auth.users');
      return { active: true, installed: 'now' } as const;
    });
  } catch (error) {
    if (sqlState(error) === INSUFFICIENT_PRIVILEGE) {
      return off(log, `the role ${role} may not install the capture triggers (${(error as Error).message}); ${grantHint(role)}`);
    }
    throw error;
  }
}

function off(log: Log, reason: string): CaptureMode {
  log.warn(
    { reason },
    `capture is off: ${reason}. Changes reach the service through webhooks and the periodic reconcile only`,
  );
  return { active: false, reason };
}

/**
 * Nobody but the service reads or writes its schema: Supabase exposes schemas to its API roles, and
 * a function is executable by PUBLIC by default.
 */
const revokeFromClients = `
DO $$
DECLARE
  client_role text;
BEGIN
  REVOKE ALL ON ALL TABLES IN SCHEMA user_sync FROM PUBLIC;
  REVOKE ALL ON ALL SEQUENCES IN SCHEMA user_sync FROM PUBLIC;
  REVOKE ALL ON SCHEMA user_sync FROM PUBLIC;
  REVOKE ALL ON FUNCTION ${CAPTURE_FUNCTION}() FROM PUBLIC;
  FOREACH client_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = client_role) THEN
      EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA user_sync FROM %I', client_role);
      EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA user_sync FROM %I', client_role);
      EXECUTE format('REVOKE ALL ON SCHEMA user_sync FROM %I', client_role);
      EXECUTE format('REVOKE ALL ON FUNCTION ${CAPTURE_FUNCTION}() FROM %I', client_role);
    END IF;
  END LOOP;
END
$$`;

/** The queue's depth and its oldest change's age (null when the queue was removed): what /metrics reads each scrape. */
export async function captureQueue(sql: Queryable): Promise<Pick<CaptureStatus, 'queueDepth' | 'oldestChangeAgeSeconds'>> {
  // Two statements: PostgreSQL resolves every table a statement names before running it, so a
  // guard inside one statement cannot spare a queue that was removed.
  const [table] = await sql.query<{ found: boolean }>(`SELECT to_regclass('user_sync.changes') IS NOT NULL AS found`);
  const [queue] = table!.found
    ? await sql.query<{ depth: number | null; age: number | null }>(
        `SELECT count(*)::int AS depth, extract(epoch FROM now() - min(created_at))::float8 AS age FROM user_sync.changes`,
      )
    : [{ depth: null, age: null }];
  return { queueDepth: queue!.depth, oldestChangeAgeSeconds: queue!.age };
}

export async function captureStatus(sql: Queryable, mapping: FieldMapping): Promise<CaptureStatus> {
  const { role, hasAuthUsers, canTrigger } = await privileges(sql);
  const triggers = hasAuthUsers
    ? await installedTriggers(sql, captureFingerprint(mapping))
    : ({ insertDelete: 'absent', update: 'absent' } as const);
  const queue = await captureQueue(sql);

  return {
    role,
    canTrigger,
    triggers,
    current: triggers.insertDelete === 'current' && triggers.update === 'current' && (await functionExists(sql)),
    ...queue,
  };
}

/**
 * Removes the triggers, the function, the queue and the drain's flag. The triggers go with their function
 * (DROP FUNCTION … CASCADE), which only needs to own the function: DROP TRIGGER would need to own
 * auth.users, which the service's role does not on Supabase.
 */
export async function uninstallCapture(sql: SqlClient): Promise<{ removed: string[] }> {
  try {
    return await sql.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      const removed: string[] = [];
      if (await functionExists(tx)) {
        const triggers = await installedTriggers(tx, '');
        await tx.exec(`DROP FUNCTION ${CAPTURE_FUNCTION}() CASCADE`);
        removed.push(
          ...Object.entries(triggers)
            .filter(([, state]) => state !== 'absent')
            .map(([key]) => `trigger ${TRIGGER_NAMES[key as keyof typeof TRIGGER_NAMES]} on auth.users`),
          `function ${CAPTURE_FUNCTION}()`,
        );
      }
      const [table] = await tx.query<{ found: boolean }>(`SELECT to_regclass('user_sync.changes') IS NOT NULL AS found`);
      if (table!.found) {
        await tx.exec('DROP TABLE user_sync.changes');
        removed.push('table user_sync.changes');
      }
      const [flag] = await tx.query<{ found: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS found`, [WAKE_FLAG_SEQUENCE]);
      if (flag!.found) {
        await tx.exec(`DROP SEQUENCE ${WAKE_FLAG_SEQUENCE}`);
        removed.push(`sequence ${WAKE_FLAG_SEQUENCE}`);
      }
      return { removed };
    });
  } catch (error) {
    if (sqlState(error) === INSUFFICIENT_PRIVILEGE) {
      throw new Error(
        `this role may not remove capture: ${(error as Error).message}. The function ${CAPTURE_FUNCTION}() and its triggers on ` +
          `auth.users belong to the role that installed them; connect as that role (or a superuser) and run ` +
          `DROP FUNCTION ${CAPTURE_FUNCTION}() CASCADE; DROP TABLE user_sync.changes; DROP SEQUENCE ${WAKE_FLAG_SEQUENCE};`,
        { cause: error },
      );
    }
    throw error;
  }
}
