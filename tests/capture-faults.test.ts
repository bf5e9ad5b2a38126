/**
 * Capture under faults, with backlogs of tens of thousands of queued sign-ups (written as Supabase
 * Auth writes them: helpers/sign-up-backlog.ts): the service killed with SIGKILL in the middle of
 * a batch, two replicas draining one queue, a change queued with no notification, and the
 * database going away (every connection cut, the listening one included) in the middle of a batch.
 * Each time: every user ends with a profile and exactly one `created` audit row.
 *
 * "In the middle of a batch" is made certain, not hoped for: a trigger on the profile table naps
 * once, inside the drain's transaction, while the fault strikes.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CAPTURE_CHANNEL } from '../src/capture/capture-sql.ts';
import { createPgliteClient } from '../src/db/pglite-client.ts';
import type { Queryable } from '../src/db/sql-client.ts';
import { startApp, type TestApp } from './helpers/app.ts';
import { signUp, writeSignUp } from './helpers/auth-writes.ts';
import { createTestDatabase, onPostgres, type TestDatabase } from './helpers/database.ts';
import { metricValue, spawnService, type ServiceProcess } from './helpers/service-process.ts';
import { drainedOnce, drainProgress, signUpMany, writeSignUps } from './helpers/sign-up-backlog.ts';
import { asOnSupabase, asSupabaseAuth, SERVICE_ROLE } from './helpers/supabase-roles.ts';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.ts';
import { auditRows, count, profileOf } from './helpers/users.ts';
import { waitFor, within } from './helpers/wait-for.ts';

/** Profiles the capture drain created, on a server's GET /metrics. */
const CREATED_BY_CAPTURE = 'user_sync_syncs_total{action="created",path="capture"}';

/** How long the armed trigger naps: far longer than a test takes to strike, far shorter than its timeout. */
const NAP_SECONDS = 3;

/**
 * A Supabase-shaped database the service reaches as its own non-superuser role, with capture
 * installed (by starting the service once and stopping it: the service installs it itself) and no
 * service running. `serviceEnv` points a server at it.
 */
async function databaseWithCapture(env: Record<string, string>): Promise<{ db: TestDatabase; serviceEnv: Record<string, string> }> {
  const db = await createTestDatabase();
  const serviceEnv = await asOnSupabase(db);
  const installer = await startApp(db, { ...env, ...serviceEnv, CAPTURE: 'on' });
  expect(installer.app.sync.capture).toEqual({ state: 'on', installed: 'now' });
  await installer.close();
  return { db, serviceEnv };
}

/**
 * Statistics for the tables a backlog just filled, as autovacuum gives a live database within a
 * minute. Without them the drain's statement scans the profile table once per user of the batch,
 * and a drain of 10,000 users takes 10 to 70 s instead of one: a fault of its own
 * (capture-drain-scaling.test.ts), not the one tested here.
 */
const analyze = (sql: Queryable) => sql.exec('ANALYZE auth.users, public.users, user_sync.changes');

/**
 * Arms the profile table: the profile of the user whose full name is `refusedName` is refused (a
 * CHECK-like violation: the drain drops that change and logs the user's id, which is how a test
 * outside the process sees how far the drain has got), and the first profile written once the
 * drain has logged that refusal naps NAP_SECONDS, once, inside its batch's transaction. The drain
 * logs a refusal when it has refused the user alone: after a second refusal in the transaction
 * that refused the whole batch first, or after one in any other transaction. Sequences count,
 * since they ignore rollbacks.
 */
const refuseThenNapSql = (refusedName: string) => `
  CREATE SEQUENCE public.fault_refusals;
  CREATE SEQUENCE public.fault_refused_in;
  CREATE SEQUENCE public.fault_naps;
  CREATE FUNCTION public.fault_refuse_then_nap() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
  BEGIN
    IF NEW.full_name = '${refusedName}' THEN
      PERFORM pg_catalog.nextval('public.fault_refusals');
      PERFORM pg_catalog.setval('public.fault_refused_in', pg_catalog.txid_current());
      RAISE EXCEPTION 'this profile is refused' USING ERRCODE = 'check_violation', CONSTRAINT = 'refused_marker';
    END IF;
    IF (SELECT is_called FROM public.fault_refusals) THEN
      IF (SELECT last_value >= 2 FROM public.fault_refusals)
         OR (SELECT last_value <> pg_catalog.txid_current() FROM public.fault_refused_in) THEN
        IF pg_catalog.nextval('public.fault_naps') = 1 THEN
          PERFORM pg_catalog.pg_sleep(${NAP_SECONDS});
        END IF;
      END IF;
    END IF;
    RETURN NEW;
  END
  $$;
  CREATE TRIGGER fault_refuse_then_nap BEFORE INSERT ON public.users FOR EACH ROW EXECUTE FUNCTION public.fault_refuse_then_nap();`;

/** Arms the profile table: writing the profile of the user with this e-mail address naps NAP_SECONDS, once. */
const napOnceSql = (email: string) => `
  CREATE SEQUENCE public.fault_naps;
  CREATE FUNCTION public.fault_nap() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
  BEGIN
    IF NEW.email = '${email}' AND pg_catalog.nextval('public.fault_naps') = 1 THEN
      PERFORM pg_catalog.pg_sleep(${NAP_SECONDS});
    END IF;
    RETURN NEW;
  END
  $$;
  CREATE TRIGGER fault_nap BEFORE INSERT ON public.users FOR EACH ROW EXECUTE FUNCTION public.fault_nap();`;

/** The service's sessions napping in the armed trigger (PostgreSQL). */
const NAPPING = `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND usename = '${SERVICE_ROLE}' AND wait_event = 'PgSleep'`;

/** The embedded database folder as a test database, opened in this process (the server must not be running). */
async function openFolder(dataDir: string): Promise<TestDatabase> {
  const sql = await createPgliteClient(dataDir);
  return { sql, url: undefined, close: () => sql.close() };
}

describe('SIGKILL in the middle of a drain', () => {
  const USERS = 10_000;
  /** The refused user comes after this many: the drain has committed at least that many profiles when it logs it. */
  const BEFORE_MARKER = 1_000;
  const MARKER = 'Refused marker';
  const CAPTURE = { CAPTURE: 'on', CAPTURE_POLL_MS: '100', CAPTURE_BATCH_SIZE: '200' };

  it(
    'the batch in flight is rolled back; restarted, the service drains the rest: every user gets a profile and exactly one created audit row',
    async () => {
      let dataDir: string | undefined;
      let db: TestDatabase | undefined;
      let server: ServiceProcess | undefined;
      try {
        // The database, laid out and with capture installed by a first run of the service; then the
        // backlog, written while no service runs.
        let serviceEnv: Record<string, string>;
        if (onPostgres) {
          ({ db, serviceEnv } = await databaseWithCapture(CAPTURE));
        } else {
          dataDir = await mkdtemp(path.join(tmpdir(), 'capture-kill-'));
          serviceEnv = { EMBEDDED_DATA_DIR: dataDir, EMBEDDED_SEED: 'false' };
          const installer = await startApp(null, { ...CAPTURE, ...serviceEnv });
          expect(installer.app.sync.capture).toEqual({ state: 'on', installed: 'now' });
          await installer.close();
          db = await openFolder(dataDir);
          // Auth's role owns auth.users, as on Supabase (the embedded layout leaves it to postgres).
          await asOnSupabase(db);
          await db.sql.exec('RESET ROLE');
        }
        await db.sql.exec(refuseThenNapSql(MARKER));
        const markerId = await asSupabaseAuth(db, async (tx) => {
          await writeSignUps(tx, { count: BEFORE_MARKER, label: 'kill' });
          const id = await writeSignUp(tx, { email: 'marker@refused.test', user_metadata: { full_name: MARKER } });
          await writeSignUps(tx, { count: USERS - BEFORE_MARKER, label: 'kill', first: BEFORE_MARKER + 1 });
          return id;
        });
        expect(await count(db.sql, 'SELECT 1 FROM user_sync.changes')).toBe(USERS + 1);
        await analyze(db.sql);
        if (dataDir) {
          await db.close();
          db = undefined;
        }

        // Killed while a batch naps in its transaction, just after the drain logged the refused user
        // (on PostgreSQL, once the nap is seen: on PGlite nothing outside the process can see it).
        server = spawnService({ ...CAPTURE, ...serviceEnv });
        await within(server.printed(markerId), { timeoutMs: 30_000, what: 'the drain to reach the refused user' });
        if (!dataDir) await waitFor(async () => (await count(db!.sql, NAPPING)) === 1, { timeoutMs: NAP_SECONDS * 1000, what: 'the nap' });
        expect(await server.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });

        // What the kill left: each user either synced and dequeued, or still queued; none half done.
        let atKill;
        if (dataDir) {
          // Looked at in a copy, so that the restarted service itself recovers the folder the kill left.
          const copy = `${dataDir}-copy`;
          await cp(dataDir, copy, { recursive: true });
          const inspected = await openFolder(copy);
          atKill = await drainProgress(inspected.sql, 'kill');
          await inspected.close();
          await rm(copy, { recursive: true, force: true });
        } else {
          atKill = await drainProgress(db!.sql, 'kill');
        }
        expect(atKill.profiles).toBeGreaterThanOrEqual(BEFORE_MARKER);
        expect(atKill.queuedUsers).toBeGreaterThan(0);
        expect(atKill).toMatchObject({ users: USERS, profiles: USERS - atKill.queuedUsers, created: atKill.profiles, createdTwice: 0, unaudited: 0 });

        // Restarted on the same database: it creates exactly the profiles still missing.
        server = spawnService({ ...CAPTURE, ...serviceEnv });
        const url = await within(server.listening, { timeoutMs: 60_000, what: 'the restarted server to listen' });
        const missing = USERS - atKill.profiles;
        await waitFor(async () => (await metricValue(url, CREATED_BY_CAPTURE)) >= missing, {
          timeoutMs: 30_000,
          what: `the restarted service to create the ${missing} missing profiles`,
        });
        if (!dataDir) {
          await waitFor(async () => (await count(db!.sql, 'SELECT 1 FROM user_sync.changes')) === 0, {
            timeoutMs: 30_000,
            what: 'the queue to empty',
          });
        }
        expect(await metricValue(url, CREATED_BY_CAPTURE)).toBe(missing);
        expect(await server.stop()).toEqual({ code: 0, signal: null });

        db ??= await openFolder(dataDir!);
        expect(await drainProgress(db.sql, 'kill')).toEqual(drainedOnce(USERS));
        expect(await profileOf(db.sql, markerId)).toBeNull();
        expect(await count(db.sql, `SELECT 1 FROM user_sync.audit_log WHERE source <> 'capture'`)).toBe(0);
      } finally {
        await server?.stop('SIGKILL');
        await db?.close();
        if (dataDir) await rm(dataDir, { recursive: true, force: true });
      }
    },
    90_000,
  );
});

describe.skipIf(!onPostgres)('two replicas draining one queue (PostgreSQL only: PGlite is one process, which a second replica cannot share)', () => {
  const USERS = 20_000;

  it(
    'drain 20,000 sign-ups side by side: each takes part, every user gets one profile and exactly one created audit row',
    async () => {
      const db = await createTestDatabase();
      const replicas: TestApp[] = [];
      try {
        const serviceEnv = await asOnSupabase(db);
        // An odd batch size: a user queued twice (its INSERT, then the UPDATE that sets its role) has
        // its two rows in two batches, which the two replicas take at the same moment.
        const env = { ...serviceEnv, CAPTURE: 'on', CAPTURE_POLL_MS: '500', CAPTURE_BATCH_SIZE: '199' };
        const started = await Promise.allSettled([startApp(db, env), startApp(db, env)]);
        for (const outcome of started) if (outcome.status === 'fulfilled') replicas.push(outcome.value);
        for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason;

        // One commit: both replicas are told at once.
        await asSupabaseAuth(db, async (tx) => {
          await writeSignUps(tx, { count: USERS / 2, label: 'pair', role: 'member' });
          await writeSignUps(tx, { count: USERS / 2, label: 'pair', first: USERS / 2 + 1 });
          // The statistics of analyze(), taken in this transaction (which sees its own rows) by the
          // superuser it runs on behalf of, so that one commit still tells both replicas at once.
          await tx.exec('SET LOCAL ROLE postgres');
          await analyze(tx);
        });
        await waitFor(async () => (await drainProgress(db.sql, 'pair')).queued === 0, {
          timeoutMs: 60_000,
          intervalMs: 250,
          what: 'both replicas to drain the queue',
        });

        expect(await drainProgress(db.sql, 'pair')).toEqual(drainedOnce(USERS));
        expect(await count(db.sql, `SELECT 1 FROM user_sync.audit_log WHERE action = 'created'`)).toBe(USERS);
        expect(await count(db.sql, `SELECT 1 FROM public.users WHERE role = 'member'`)).toBe(USERS / 2);
        // Both replicas are `capture` in the audit: each one's own metrics tell them apart.
        const created = await Promise.all(replicas.map((replica) => metricValue(replica.url, CREATED_BY_CAPTURE)));
        expect(created[0]).toBeGreaterThan(0);
        expect(created[1]).toBeGreaterThan(0);
        expect(created[0]! + created[1]!).toBe(USERS);
      } finally {
        await Promise.all(replicas.map((replica) => replica.close()));
        await db.close();
      }
    },
    90_000,
  );
});

describe('a change queued without a notification', () => {
  it('from a writer whose transaction outlasts the drain\'s last look, is drained by the poll', async () => {
    const POLL_MS = 300;
    const { db, serviceEnv } = await databaseWithCapture({});
    const heard: string[] = [];
    const listening = await db.sql.listen(CAPTURE_CHANNEL, { notified: () => heard.push('notified'), connected: () => undefined });
    const t = await startApp(db, { ...serviceEnv, CAPTURE: 'on', CAPTURE_POLL_MS: String(POLL_MS) });
    try {
      // The drain looks at the queue when its listening connection is up (on PGlite, before the app
      // is even listening), finds it empty, and from then on only a notification or its poll makes
      // it look again (a drain that took nothing schedules no second look).
      if (onPostgres) {
        const listener = `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND usename = '${SERVICE_ROLE}' AND query LIKE 'LISTEN %' AND state = 'idle'`;
        await waitFor(async () => (await count(db.sql, listener)) === 1, { timeoutMs: 5_000, what: 'the drain to listen' });
      }
      // Queued with no notification, as a trigger queues a change behind an older one: here with the
      // triggers off (session_replication_role = replica fires no ordinary trigger) and the rows
      // written directly. The transaction stays open a while, as a slow writer's does, so that the
      // drain's look on connecting is certainly over when it commits.
      await db.sql.transaction(async (tx) => {
        // session_replication_role is a superuser's to set (on PGlite the session has become the
        // service's role; the superuser it logged in as takes over for this transaction).
        await tx.exec('SET LOCAL ROLE postgres; SET LOCAL session_replication_role = replica');
        await tx.exec('SET LOCAL ROLE supabase_auth_admin; SET LOCAL search_path = auth');
        await writeSignUps(tx, { count: 50, label: 'silent' });
        await tx.exec(`SET LOCAL ROLE ${SERVICE_ROLE}`);
        await tx.query(`INSERT INTO user_sync.changes (user_id, op) SELECT id, 'INSERT' FROM auth.users WHERE email LIKE '%@silent.test'`);
        // Only the rows written here: no trigger fired.
        expect(await count(tx, 'SELECT 1 FROM user_sync.changes')).toBe(50);
        await tx.query('SELECT pg_sleep(0.5)');
      });
      const progress = await waitFor(
        async () => {
          const now = await drainProgress(db.sql, 'silent');
          return now.queued === 0 && now.profiles === 50 && now;
        },
        { timeoutMs: 10 * POLL_MS + 5_000, what: 'the poll to drain the changes queued without a notification' },
      );
      expect(progress).toEqual(drainedOnce(50));
      expect(heard).toEqual([]);
    } finally {
      await t.close();
      await listening.close();
      await db.close();
    }
  });
});

describe.skipIf(!onPostgres)(
  'the database going away in the middle of a drain (PostgreSQL only: on PGlite LISTEN is in process, and no connection can be cut)',
  () => {
    const USERS = 10_000;
    /** The batch that naps is the one after this many users: CAPTURE_BATCH_SIZE divides it. */
    const BEFORE_NAP = 2_000;

    it(
      'every connection cut, the listening one too: it reconnects, drains the rolled-back batch and the rest, and hears the next sign-up with no poll',
      async () => {
        // A poll of 60 s (the most allowed): within this test only LISTEN, and the drain its
        // reconnection starts, can explain anything being drained.
        const env = { CAPTURE: 'on', CAPTURE_POLL_MS: '60000', CAPTURE_BATCH_SIZE: '200' };
        const { db, serviceEnv } = await databaseWithCapture(env);
        let proxy: TcpProxy | undefined;
        let t: TestApp | undefined;
        try {
          await db.sql.exec(napOnceSql(`user-${BEFORE_NAP + 1}@restart.test`));
          await signUpMany(db, { count: USERS, label: 'restart' });
          await analyze(db.sql);

          const direct = new URL(serviceEnv.DATABASE_URL!);
          proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
          const viaProxy = new URL(direct);
          viaProxy.port = String(proxy.port);
          const startedAt = Date.now();
          t = await startApp(db, { ...env, DATABASE_URL: viaProxy.toString() });

          // The batch after the first BEFORE_NAP users naps in its transaction: cut everything then.
          await waitFor(async () => (await count(db.sql, NAPPING)) === 1, { timeoutMs: 30_000, what: 'the drain to reach the napping batch' });
          expect((await drainProgress(db.sql, 'restart')).profiles).toBe(BEFORE_NAP);
          await proxy.down();
          // A restart ends every session on the server too: the napping one rolls back.
          await db.sql.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND usename = $1`, [
            SERVICE_ROLE,
          ]);
          await waitFor(() => t!.logs().includes('listening connection lost') && t!.logs().includes('capture drain failed'), {
            timeoutMs: 10_000,
            what: 'the service to see its connections go',
          });
          await waitFor(async () => (await count(db.sql, `SELECT 1 FROM pg_stat_activity WHERE usename = '${SERVICE_ROLE}' AND datname = current_database()`)) === 0, {
            timeoutMs: 10_000,
            what: 'the service sessions to end',
          });
          const cut = await drainProgress(db.sql, 'restart');
          expect(cut).toMatchObject({ users: USERS, profiles: BEFORE_NAP, queuedUsers: USERS - BEFORE_NAP, createdTwice: 0, unaudited: 0 });

          await proxy.up();
          await waitFor(() => t!.logs().includes('listening again'), { timeoutMs: 15_000, what: 'the listening connection to come back' });
          const listener = `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND usename = '${SERVICE_ROLE}' AND query LIKE 'LISTEN %'`;
          expect(await count(db.sql, listener)).toBe(1);
          await waitFor(async () => (await drainProgress(db.sql, 'restart')).queued === 0, {
            timeoutMs: 30_000,
            intervalMs: 100,
            what: 'the drain started by the reconnection to empty the queue',
          });
          expect(Date.now() - startedAt).toBeLessThan(60_000);
          expect(await drainProgress(db.sql, 'restart')).toEqual(drainedOnce(USERS));

          // The queue is empty and the poll 60 s away: a new sign-up reaches its profile through LISTEN.
          const signedUpAt = Date.now();
          const id = await signUp(db, { email: 'after.restart@example.com' });
          await waitFor(() => profileOf(db.sql, id), { timeoutMs: 5_000, what: 'the sign-up after the restart to be synced' });
          expect(Date.now() - startedAt).toBeLessThan(60_000);
          expect(Date.now() - signedUpAt).toBeLessThan(5_000);
          expect((await auditRows(db.sql, id)).map((row) => [row.action, row.source])).toEqual([['created', 'capture']]);
        } finally {
          await t?.close();
          await proxy?.close();
          await db.close();
        }
      },
      90_000,
    );
  },
);
