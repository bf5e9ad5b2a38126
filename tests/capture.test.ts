/**
 * Capture: triggers on auth.users record each change in the transaction of the change, and the
 * service drains them into profiles without any webhook or reconcile. Auth writes come from
 * `supabase_auth_admin`; the service runs as a non-superuser (helpers/supabase-roles.ts).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { auth, startApp, type TestApp } from './helpers/app.ts';
import { hardDelete, signIn, signUp, softDelete, updateMetadata, writeSignUp } from './helpers/auth-writes.ts';
import { createTestDatabase, onPostgres, type TestDatabase } from './helpers/database.ts';
import { asOnSupabase, asSupabaseAuth, asSupabaseAuthWithNotices, SERVICE_ROLE } from './helpers/supabase-roles.ts';
import { auditRows, count, profileOf } from './helpers/users.ts';
import { waitFor } from './helpers/wait-for.ts';
import { authUsersRecord, databaseWebhookBody } from './helpers/webhooks.ts';

const CAPTURE_ON = { CAPTURE: 'on', CAPTURE_POLL_MS: '100' };

async function captureApp(env: Record<string, string> = {}, roles: Parameters<typeof asOnSupabase>[1] = {}) {
  const db = await createTestDatabase();
  const connection = await asOnSupabase(db, roles);
  const t = await startApp(db, { ...CAPTURE_ON, ...connection, ...env });
  return { db, t, env: { ...CAPTURE_ON, ...connection, ...env } };
}

/** The service's own connection URL (as its role), on the real server. */
const serviceUrl = (db: TestDatabase) => {
  const url = new URL(db.url!);
  url.username = SERVICE_ROLE;
  return url.toString();
};

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
    // Its own sync, before the next change: drained together, the two would be one write.
    await waitFor(async () => (await profileOf(db.sql, id))?.full_name === 'Middle', { timeoutMs: 5_000, what: 'Middle to be synced' });
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

  it('a Database Webhook that also arrives for a captured sign-up is an unchanged sync', async () => {
    const id = await signUp(db, { email: 'both.paths@example.com' });
    await waitFor(() => profileOf(db.sql, id), { timeoutMs: 5_000, what: 'the captured profile' });
    const response = await fetch(`${t.url}/webhooks/supabase`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: databaseWebhookBody('INSERT', authUsersRecord(id, 'both.paths@example.com'), null),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ outcome: 'synced', action: 'unchanged', userId: id });
    expect((await auditRows(db.sql, id)).map((row) => row.source)).toEqual(['capture']);
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

const SIGN_UP_INSERT = `INSERT INTO users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
  VALUES ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', '', $2, '{"provider": "email", "providers": ["email"]}', '{}', now(), now())`;

describe('the notification', () => {
  it('wakes the drain: with the poll a minute away, a sign-up is synced at once', async () => {
    // The drain also runs once when the listening connection comes up: wait for that first, so
    // only the notification can explain the sign-up being synced.
    const { db, t } = await captureApp({ CAPTURE_POLL_MS: '60000' });
    try {
      await waitFor(async () => (await queued(db)) === 0, { timeoutMs: 5_000, what: 'the first drain' });
      if (onPostgres) {
        // The listening connection connects on its own; until it does, a reconnect drain could
        // be what syncs the user.
        await waitFor(
          async () =>
            (await count(db.sql, `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`)) === 1,
          { timeoutMs: 5_000, what: 'the service to LISTEN' },
        );
      }
      const id = await signUp(db);
      await waitFor(() => profileOf(db.sql, id), { timeoutMs: 5_000, what: 'the notified drain to sync the sign-up' });
      // The drain that took it said it was idle again when it was done, so the next sign-up notifies too.
      const next = await signUp(db);
      await waitFor(() => profileOf(db.sql, next), { timeoutMs: 5_000, what: 'the next sign-up to be notified and synced' });
    } finally {
      await t.close();
      await db.close();
    }
  });
});

describe('what a sign-up pays', () => {
  it('records its change without reading the queue, whatever the queue holds', async () => {
    // A queue is deleted from its front: until VACUUM runs (or while a long transaction holds it
    // off), its dead rows stay. A trigger that looked for older changes (to decide whether to
    // notify) would scan them in every sign-up, which would grow slower as they pile up.
    const { db, t } = await captureApp({ CAPTURE_POLL_MS: '60000' });
    try {
      await waitFor(async () => (await queued(db)) === 0, { timeoutMs: 5_000, what: 'the first drain' });
      const added = await asSupabaseAuth(db, async (tx) => {
        // This connection's counts not yet reported to the statistics system show here too (the
        // test's own earlier count of the queue, say): what the sign-up adds is the difference.
        const counted = async () => {
          const [row] = await tx.query<{ scans: number; inserts: number }>(
            `SELECT (coalesce(sum(seq_scan), 0) + coalesce(sum(idx_scan), 0))::int AS scans, coalesce(sum(n_tup_ins), 0)::int AS inserts
               FROM pg_catalog.pg_stat_xact_user_tables WHERE schemaname = 'user_sync' AND relname = 'changes'`,
          );
          return row!;
        };
        const before = await counted();
        await writeSignUp(tx, { email: 'no-scan@example.com' });
        const after = await counted();
        return { scans: after.scans - before.scans, inserts: after.inserts - before.inserts };
      });
      // The sign-up was recorded (so the trigger ran), and read nothing of the queue to do it.
      expect(added.inserts).toBeGreaterThanOrEqual(1);
      expect(added.scans).toBe(0);
    } finally {
      await t.close();
      await db.close();
    }
  });
});

describe('the drain\'s "wake me" flag', () => {
  it('one notification per idle spell: of two sign-ups in flight together only the first notifies, and the next idle spell gets one again', async ({ skip }) => {
    // What the flag saves, a lock every notifying transaction holds across its commit, is a cost
    // among concurrent connections: a PostgreSQL server's, which PGlite (one connection) lacks.
    skip(!onPostgres, 'the notification lock at commit is a PostgreSQL server cost; PGlite has one connection');
    const { db, t } = await captureApp({ CAPTURE_POLL_MS: '60000' });
    const listener = new pg.Client({ connectionString: db.url });
    const flag = async () =>
      (await db.sql.query<{ value: string | null }>(`SELECT pg_sequence_last_value('user_sync.capture_wake_wanted')::text AS value`))[0]!.value;
    try {
      await waitFor(async () => (await flag()) === '1', { timeoutMs: 5_000, what: 'the first drain to go idle and ask to be woken' });
      const payloads: string[] = [];
      listener.on('notification', (notification) => payloads.push(notification.payload ?? ''));
      await listener.connect();
      await listener.query('LISTEN user_sync_changes');
      // Notifications arrive in commit order: a marker sent after the sign-ups commit comes after
      // any notification they sent. Identical notifications of separate transactions are not folded.
      const notifiedBeforeMarker = async (marker: string) => {
        await db.sql.query(`SELECT pg_notify('user_sync_changes', $1)`, [marker]);
        await waitFor(() => payloads.includes(marker), { timeoutMs: 5_000, what: `the marker ${marker}` });
        return payloads.splice(0).slice(0, -1);
      };

      // The first sign-up's trigger runs (and clears the flag) while its transaction stays open;
      // the second runs and commits meanwhile; then the first commits.
      let written!: () => void;
      let release!: () => void;
      const firstWritten = new Promise<void>((resolve) => (written = resolve));
      const held = new Promise<void>((resolve) => (release = resolve));
      const first = asSupabaseAuth(db, async (tx) => {
        const id = await writeSignUp(tx);
        written();
        await held;
        return id;
      });
      await firstWritten;
      const second = await signUp(db);
      release();
      const firstId = await first;
      expect(await notifiedBeforeMarker('marker-1')).toEqual(['']);

      // The notification woke the drain: it takes both, and asks to be woken again when idle.
      for (const id of [firstId, second]) await waitFor(() => profileOf(db.sql, id), { timeoutMs: 5_000, what: 'the drain to take both sign-ups' });
      await waitFor(async () => (await flag()) === '1', { timeoutMs: 5_000, what: 'the drain to ask to be woken again' });
      await signUp(db);
      expect(await notifiedBeforeMarker('marker-2')).toEqual(['']);
    } finally {
      await listener.end().catch(() => undefined);
      await t.close();
      await db.close();
    }
  });
});

describe('a broken outbox never fails a sign-up', () => {
  let db: TestDatabase;
  let t: TestApp;

  it('starts', async () => {
    ({ db, t } = await captureApp());
  });

  it('with INSERT on user_sync.changes revoked, the sign-up commits, a WARNING says so, and the reconcile repairs the user', async () => {
    await db.sql.exec(`REVOKE INSERT ON user_sync.changes FROM ${SERVICE_ROLE}`);
    const id = randomUUID();
    const notices = await asSupabaseAuthWithNotices(db, [{ sql: SIGN_UP_INSERT, params: [id, `revoked-${id}@example.com`] }]);
    expect(await count(db.sql, 'SELECT 1 FROM auth.users WHERE id = $1', [id])).toBe(1);
    expect(notices.join('\n')).toMatch(new RegExp(`WARNING: user_sync capture: the change of auth user ${id} was not recorded`));
    expect(await profileOf(db.sql, id)).toBeNull();
    await db.sql.exec(`GRANT INSERT ON user_sync.changes TO ${SERVICE_ROLE}`);

    await t.app.sync.reconciler.runOnce();
    expect(await profileOf(db.sql, id)).toMatchObject({ id, email: `revoked-${id}@example.com` });
  });

  it.skipIf(!onPostgres)(
    'with user_sync.changes locked by another session (PostgreSQL only: PGlite has one session), the sign-up waits at most the lock timeout and commits',
    async () => {
      const locker = new pg.Client({ connectionString: db.url });
      await locker.connect();
      try {
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE user_sync.changes IN ACCESS EXCLUSIVE MODE');
        const id = randomUUID();
        const notices = await asSupabaseAuthWithNotices(db, [{ sql: SIGN_UP_INSERT, params: [id, `locked-${id}@example.com`] }]);
        expect(notices.join('\n')).toMatch(/WARNING: user_sync capture: the change of auth user .* was not recorded \(55P03/);
        expect(await count(db.sql, 'SELECT 1 FROM auth.users WHERE id = $1', [id])).toBe(1);
      } finally {
        await locker.query('ROLLBACK');
        await locker.end();
      }
    },
  );

  it('with user_sync.changes dropped, the sign-up commits with a WARNING, and the next start lays the queue out again', async () => {
    await db.sql.exec('DROP TABLE user_sync.changes');
    const id = randomUUID();
    const notices = await asSupabaseAuthWithNotices(db, [{ sql: SIGN_UP_INSERT, params: [id, `dropped-${id}@example.com`] }]);
    expect(notices.join('\n')).toMatch(/WARNING: user_sync capture: .* was not recorded \(42P01/);
    expect(await count(db.sql, 'SELECT 1 FROM auth.users WHERE id = $1', [id])).toBe(1);
    await t.close();
    t = await startApp(db, { ...CAPTURE_ON, ...(db.url ? { DATABASE_URL: serviceUrl(db) } : {}) });
    expect(t.app.sync.capture).toEqual({ state: 'on', installed: 'now' });
    const next = await signUp(db);
    await waitFor(() => profileOf(db.sql, next), { timeoutMs: 5_000, what: 'a sign-up after the queue came back' });
  });

  it('closes', async () => {
    await t.close();
    await db.close();
  });
});

describe('without the TRIGGER privilege on auth.users', () => {
  it('starts, warns naming the grant, and runs on webhooks and the reconcile', async () => {
    const { db, t } = await captureApp({ RECONCILE_INTERVAL_SECONDS: '' }, { withoutTrigger: true });
    try {
      expect(t.app.sync.capture.state).toBe('off');
      const grant = `GRANT TRIGGER ON auth.users TO ${SERVICE_ROLE}`;
      expect(t.app.sync.capture).toMatchObject({ reason: expect.stringContaining(grant) });
      expect(t.logs()).toContain(grant);
      const status = await t.app.sync.captureControl!.status();
      expect(status).toMatchObject({ canTrigger: false, current: false, triggers: { insertDelete: 'absent', update: 'absent' } });
      // Without capture, the reconcile keeps its pace of 300 s (3600 s with capture on).
      expect(t.app.sync.reconcileIntervalSeconds).toBe(300);

      const id = await signUp(db);
      await t.app.sync.reconciler.runOnce();
      expect(await profileOf(db.sql, id)).toMatchObject({ id });
    } finally {
      await t.close();
      await db.close();
    }
  });
});

describe('the field map decides what an UPDATE records', () => {
  it('a FIELD_MAP changed between two starts re-creates the trigger to follow it', async () => {
    const { db, t, env } = await captureApp();
    let second: TestApp | undefined;
    try {
      const id = await signUp(db, { user_metadata: { full_name: 'Full', display_name: 'Display' } });
      await waitFor(() => profileOf(db.sql, id), { timeoutMs: 5_000, what: 'the profile' });
      await t.close();

      const recorded = (change: string) =>
        asSupabaseAuth(db, async (tx) => {
          await tx.query(change, [id]);
          await tx.exec(`SET LOCAL ROLE ${SERVICE_ROLE}`);
          return count(tx, 'SELECT 1 FROM user_sync.changes WHERE user_id = $1', [id]);
        });
      const setMetadata = (key: string, value: string) =>
        `UPDATE users SET raw_user_meta_data = raw_user_meta_data || jsonb_build_object('${key}', '${value}') WHERE id = $1`;
      // Each change commits; it is looked at inside its own transaction, before any drain.
      expect(await recorded(setMetadata('display_name', 'Display 2'))).toBe(0);

      second = await startApp(db, { ...env, FIELD_MAP: JSON.stringify({ email: 'email', full_name: 'user_metadata.display_name' }) });
      expect(second.app.sync.capture).toEqual({ state: 'on', installed: 'now' });
      expect((await second.app.sync.captureControl!.status()).current).toBe(true);
      expect(await recorded(setMetadata('full_name', 'Full 2'))).toBe(0);
      expect(await recorded(setMetadata('display_name', 'Display 3'))).toBe(1);
      await waitFor(async () => (await profileOf(db.sql, id))?.full_name === 'Display 3', {
        timeoutMs: 5_000,
        what: 'the newly mapped key to be synced',
      });
    } finally {
      await second?.close();
      await db.close();
    }
  });

  it('replicas starting together install capture once', async () => {
    const db = await createTestDatabase();
    const connection = await asOnSupabase(db);
    // RECONCILE_INTERVAL_SECONDS unset: with capture on, the reconcile is the hourly safety net.
    const env = { ...CAPTURE_ON, ...connection, RECONCILE_INTERVAL_SECONDS: '' };
    const apps = await Promise.all([startApp(db, env), startApp(db, env)]);
    try {
      expect(apps.map((app) => app.app.sync.reconcileIntervalSeconds)).toEqual([3600, 3600]);
      expect(apps.map((app) => app.app.sync.capture).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
        { state: 'on', installed: 'already' },
        { state: 'on', installed: 'now' },
      ]);
    } finally {
      await Promise.all(apps.map((app) => app.close()));
      await db.close();
    }
  });
});

describe('a row the profile table refuses', () => {
  it('is dropped with a log line naming the user, and does not hold up the others', async () => {
    const { db, t } = await captureApp();
    try {
      await db.sql.exec('ALTER TABLE public.users ADD CONSTRAINT full_name_short CHECK (length(full_name) < 20)');
      const [refused, ...fine] = await asSupabaseAuth(db, async (tx) => [
        await writeSignUp(tx, { user_metadata: { full_name: 'A name far too long for this table' } }),
        await writeSignUp(tx, { user_metadata: { full_name: 'Short' } }),
        await writeSignUp(tx, { user_metadata: { full_name: 'Also short' } }),
      ]);
      await waitFor(async () => (await queued(db)) === 0 && (await count(db.sql, 'SELECT 1 FROM public.users WHERE id = ANY($1)', [fine])) === 2, {
        timeoutMs: 5_000,
        what: 'the two acceptable users synced and the queue empty',
      });
      expect(await profileOf(db.sql, refused)).toBeNull();
      await waitFor(() => t.logs().includes(refused), { timeoutMs: 2_000, what: 'the refusal to be logged' });
      const line = t.logs().split('\n').find((entry) => entry.includes(refused))!;
      expect(JSON.parse(line)).toMatchObject({ userId: refused, code: 'profile_rejected', constraint: 'full_name_short' });
    } finally {
      await t.close();
      await db.close();
    }
  });
});
