/**
 * The database restarts in the middle of concurrent syncs and webhooks. Through a TCP proxy the
 * app's every connection is reset and new ones are refused for a few seconds, as a PostgreSQL
 * restart or failover does; then the database is back. Requests in the gap get 503
 * `database_unavailable` with Retry-After, none a 500; the service recovers by itself; no sync is
 * half-applied (a profile row and its audit row are written by one statement, so each has the
 * other); and sending the failed requests again leaves exactly one row per user.
 *
 * PostgreSQL only: PGlite runs inside the app's own process, so there is no server to restart
 * and no connection to cut (tests/http-errors.test.ts covers an embedded database that closes).
 */
import { describe, expect, it } from 'vitest';
import { auth } from './helpers/app.ts';
import { onPostgres } from './helpers/database.ts';
import { useAppWithOutage } from './helpers/outage.ts';
import { count, insertAuthUser } from './helpers/users.ts';
import { waitFor } from './helpers/wait-for.ts';
import { authUsersRecord, databaseWebhookBody } from './helpers/webhooks.ts';

const USERS = 60;
const CLIENTS = 16;
/** The cut comes once this many requests have been served: the load is in full swing. */
const SERVED_BEFORE_DOWN = 2 * CLIENTS;
/** How long the database stays away: the length of the restart, the scenario itself. */
const DOWN_FOR_MS = 3_000;
/** After the database is back, requests sent later than this must all succeed. */
const RECOVERY_BOUND_MS = 5_000;
/** The load stops once this many requests sent after the recovery bound have been answered. */
const ANSWERED_AFTER_BOUND = 1_000;

interface Attempt {
  userId: string;
  kind: 'sync' | 'webhook';
  body?: string;
}

interface Outcome extends Attempt {
  sentAt: number;
  receivedAt: number;
  status?: number;
  code?: string;
  retryAfter?: string | null;
  error?: string;
}

describe.skipIf(!onPostgres)('the database restarting under load (PostgreSQL only: PGlite has no server to restart, nor connection to cut)', () => {
  const ctx = useAppWithOutage();

  async function attempt(request: Attempt): Promise<Outcome> {
    const sentAt = Date.now();
    const init: RequestInit =
      request.kind === 'sync'
        ? { method: 'POST', headers: auth }
        : { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: request.body! };
    const path = request.kind === 'sync' ? `/sync/${request.userId}` : '/webhooks/supabase';
    try {
      const res = await fetch(ctx.t.url + path, { ...init, signal: AbortSignal.timeout(20_000) });
      const body = (await res.json()) as { code?: string };
      return { ...request, sentAt, receivedAt: Date.now(), status: res.status, code: body.code, retryAfter: res.headers.get('retry-after') };
    } catch (error) {
      const { name, cause } = error as Error & { cause?: { code?: string } };
      return { ...request, sentAt, receivedAt: Date.now(), error: cause?.code ?? name };
    }
  }

  it('answers 503 while it is gone, recovers alone, and never half-applies a sync', async () => {
    const userIds: string[] = [];
    for (let i = 0; i < USERS; i++) userIds.push(await insertAuthUser(ctx.db.sql, { email: `restart-${i}@example.com` }));
    const nextAttempt = (n: number): Attempt => {
      const userId = userIds[n % USERS]!;
      // Every user gets both kinds over the run: even turns sync, odd turns a Database Webhook.
      if (Math.floor(n / USERS) % 2 === 0) return { userId, kind: 'sync' };
      return { userId, kind: 'webhook', body: databaseWebhookBody('UPDATE', authUsersRecord(userId, `restart@example.com`), null) };
    };

    const outcomes: Outcome[] = [];
    let sequence = 0;
    let stopped = false;
    const client = async () => {
      while (!stopped) {
        const outcome = await attempt(nextAttempt(sequence++));
        outcomes.push(outcome);
        // Senders retry a 503 after a pause, as Supabase's would: the clients' behaviour, not a
        // wait for anything. It keeps the gap busy without spinning.
        if (outcome.status === 503) await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const clients = Array.from({ length: CLIENTS }, () => client());

    let downAt: number;
    let upAt: number;
    try {
      await waitFor(() => outcomes.filter((o) => o.status === 200).length >= SERVED_BEFORE_DOWN, {
        timeoutMs: 20_000,
        what: `${SERVED_BEFORE_DOWN} requests served before the cut`,
      });
      downAt = Date.now();
      await ctx.down();
      // The restart itself: the database stays away this long whatever happens meanwhile.
      await new Promise((resolve) => setTimeout(resolve, DOWN_FOR_MS));
      expect(await ctx.up()).toBe(true);
      upAt = Date.now();
      await waitFor(() => outcomes.filter((o) => o.sentAt > upAt + RECOVERY_BOUND_MS).length >= ANSWERED_AFTER_BOUND, {
        timeoutMs: RECOVERY_BOUND_MS + 30_000,
        what: `${ANSWERED_AFTER_BOUND} requests sent ${RECOVERY_BOUND_MS} ms after the database came back, answered`,
      });
    } finally {
      stopped = true;
      await Promise.all(clients);
    }

    // The app itself never went away: every request got an HTTP answer.
    expect(outcomes.filter((o) => o.error !== undefined)).toEqual([]);
    // Each answer is a success or a 503 database_unavailable with Retry-After; never a 500.
    const unexpected = outcomes.filter(
      (o) => o.status !== 200 && !(o.status === 503 && o.code === 'database_unavailable' && Number(o.retryAfter) > 0),
    );
    expect(unexpected).toEqual([]);

    // Load before the cut was served; requests made and answered while it was down were all 503s.
    expect(outcomes.filter((o) => o.receivedAt < downAt && o.status === 200).length).toBeGreaterThan(0);
    const inGap = outcomes.filter((o) => o.sentAt > downAt && o.receivedAt < upAt);
    expect(inGap.length).toBeGreaterThan(0);
    expect(inGap.filter((o) => o.status !== 503)).toEqual([]);
    expect(new Set(inGap.map((o) => o.kind))).toEqual(new Set(['sync', 'webhook']));

    // Recovered without a restart, within the bound.
    const late = outcomes.filter((o) => o.sentAt > upAt + RECOVERY_BOUND_MS);
    expect(late.length).toBeGreaterThan(0);
    expect(late.filter((o) => o.status !== 200)).toEqual([]);

    // Nothing half-applied: a profile has its 'created' audit row, and an audit row its profile.
    const mismatched = await ctx.db.sql.query(
      `SELECT u.id FROM auth.users u
         LEFT JOIN public.users p ON p.id = u.id
         LEFT JOIN (SELECT user_id, count(*) AS n FROM user_sync.audit_log WHERE action = 'created' GROUP BY user_id) a
           ON a.user_id = u.id
        WHERE u.id = ANY($1::uuid[]) AND ((p.id IS NULL) <> (a.user_id IS NULL) OR a.n > 1)`,
      [userIds],
    );
    expect(mismatched).toEqual([]);

    // Sending the failed requests again converges: one row and one 'created' per user.
    const failed = outcomes.filter((o) => o.status === 503);
    const resent = await Promise.all(failed.map((o) => attempt(o)));
    expect(resent.filter((o) => o.status !== 200)).toEqual([]);
    const rows = `SELECT 1 FROM public.users WHERE id = ANY($1::uuid[])`;
    expect(await count(ctx.db.sql, rows, [userIds])).toBe(USERS);
    const created = `SELECT DISTINCT user_id FROM user_sync.audit_log WHERE action = 'created' AND user_id = ANY($1::uuid[])`;
    expect(await count(ctx.db.sql, created, [userIds])).toBe(USERS);
    const createdTwice = `SELECT user_id FROM user_sync.audit_log WHERE action = 'created' AND user_id = ANY($1::uuid[])
                           GROUP BY user_id HAVING count(*) > 1`;
    expect(await count(ctx.db.sql, createdTwice, [userIds])).toBe(0);
  }, 90_000);
});
