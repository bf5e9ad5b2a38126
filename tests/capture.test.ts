/**
 * Capture: triggers on auth.users record each change in the transaction of the change, and the
 * service drains them into profiles without any webhook or reconcile. Auth writes come from
 * `supabase_auth_admin`; the service runs as a non-superuser (helpers/supabase-roles.ts).
 */
import { describe, expect, it } from 'vitest';
import { startApp, type TestApp } from './helpers/app.ts';
import { hardDelete, signIn, signUp, softDelete, updateMetadata } from './helpers/auth-writes.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { asOnSupabase, asSupabaseAuth, SERVICE_ROLE } from './helpers/supabase-roles.ts';
import { auditRows, count, profileOf } from './helpers/users.ts';
import { waitFor } from './helpers/wait-for.ts';

const CAPTURE_ON = { CAPTURE: 'on', CAPTURE_POLL_MS: '100' };

async function captureApp(env: Record<string, string> = {}, roles: Parameters<typeof asOnSupabase>[1] = {}) {
  const db = await createTestDatabase();
  const connection = await asOnSupabase(db, roles);
  const t = await startApp(db, { ...CAPTURE_ON, ...connection, ...env });
  return { db, t, env: { ...CAPTURE_ON, ...connection, ...env } };
}

const queued = (db: TestDatabase) => count(db.sql, 'SELECT 1 FROM user_sync.changes');

describe('capture, as Supabase Auth writes auth.users', () => {
  let db: TestDatabase;
  let t: TestApp;

  it('starts with capture on and the triggers installed', async () => {
    ({ db, t } = await captureApp());
    expect(t.app.sync.capture).toEqual({ state: 'on', installed: 'now' });
    const status = await t.app.sync.captureControl!.status();
    expect(status.current).toBe(true);
    expect(status.canTrigger).toBe(true);
  });

  it('a sign-up (an INSERT with role "" then UPDATEs) gets its profile, as the last UPDATE left the user', async () => {
    const id = await signUp(db, { email: 'new.signup@example.com', user_metadata: { full_name: 'New Signup' }, role: 'member' });
    const profile = await waitFor(async () => (await profileOf(db.sql, id))?.role === 'member' && profileOf(db.sql, id), {
      timeoutMs: 5_000,
      what: 'the sign-up to reach its profile',
    });
    expect(profile).toMatchObject({ id, email: 'new.signup@example.com', full_name: 'New Signup', role: 'member' });
    const audit = await auditRows(db.sql, id);
    expect(audit.map((row) => [row.action, row.source, row.actor])).toEqual([['created', 'capture', 'capture']]);
  });

  it('a sign-in records no change; a mapped metadata update records one and is synced', async () => {
    const id = await signUp(db, { user_metadata: { full_name: 'Before' } });
    await waitFor(() => profileOf(db.sql, id), { timeoutMs: 5_000, what: 'the profile' });
    await waitFor(async () => (await queued(db)) === 0, { timeoutMs: 5_000, what: 'the queue to empty' });

    // Looked at inside the change's own transaction (as the service's role), where the row its
    // trigger would have written is visible before any drain could take it.
    const recorded = async (change: string) =>
      asSupabaseAuth(db, async (tx) => {
        await tx.query(change, [id]);
        await tx.exec(`SET LOCAL ROLE ${SERVICE_ROLE}`);
        return count(tx, 'SELECT 1 FROM user_sync.changes WHERE user_id = $1', [id]);
      });
    expect(await recorded('UPDATE users SET last_sign_in_at = now(), updated_at = now() WHERE id = $1')).toBe(0);
    expect(await recorded(`UPDATE users SET raw_user_meta_data = raw_user_meta_data || '{"theme": "dark"}' WHERE id = $1`)).toBe(0);
    expect(await recorded(`UPDATE users SET raw_user_meta_data = raw_user_meta_data || '{"full_name": "Middle"}' WHERE id = $1`)).toBe(1);
    await signIn(db, id);

    await updateMetadata(db, id, { full_name: 'After' });
    await waitFor(async () => (await profileOf(db.sql, id))?.full_name === 'After', { timeoutMs: 5_000, what: 'the update to be synced' });
    const audit = await auditRows(db.sql, id);
    expect(audit.map((row) => [row.action, row.changed_fields])).toEqual([
      ['created', expect.any(Array)],
      ['updated', ['full_name']],
      ['updated', ['full_name']],
    ]);
  });

  it('a soft delete and a hard delete apply the delete policy', async () => {
    const soft = await signUp(db);
    const hard = await signUp(db);
    await waitFor(async () => (await profileOf(db.sql, soft)) && profileOf(db.sql, hard), { timeoutMs: 5_000, what: 'both profiles' });
    await softDelete(db, soft);
    await hardDelete(db, hard);
    await waitFor(async () => (await profileOf(db.sql, soft)) === null && (await profileOf(db.sql, hard)) === null, {
      timeoutMs: 5_000,
      what: 'both profiles to be deleted (DELETE_POLICY=delete)',
    });
    expect((await auditRows(db.sql, soft)).map((row) => row.action)).toEqual(['created', 'deleted']);
    expect((await auditRows(db.sql, hard)).map((row) => row.action)).toEqual(['created', 'deleted']);
  });

  it('closes', async () => {
    await t.close();
    await db.close();
  });
});
