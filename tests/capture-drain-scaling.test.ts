/**
 * What a capture backlog costs the rest of the service. Each test fails on the code as it stands,
 * the first on PostgreSQL, the second on PGlite:
 * - on tables without statistics yet (a fresh project, or a table filled faster than autovacuum
 *   analyzes it), each drain batch's statement scans the whole profile table once per user of the
 *   batch: the `before` CTE of statements/upserts.ts, referenced once, is inlined into a nested
 *   loop. A drain of 10,000 queued sign-ups takes 10 to 70 s instead of about one;
 * - on PGlite, the drain goes from batch to batch without ever yielding to the event loop (PGlite
 *   answers on the microtask queue), so nothing else runs, HTTP included, until the whole queue is
 *   empty: the server does not even listen until a backlog found at start-up has been drained.
 */
import { describe, expect, it } from 'vitest';
import { readProfileTable } from '../src/db/profile-table.ts';
import { buildProfileStatements } from '../src/db/profile-statements.ts';
import { resolveFieldMap } from '../src/sync/field-map.ts';
import { profileRules } from '../src/sync/profile-rules.ts';
import { startApp } from './helpers/app.ts';
import { createTestDatabase, onPostgres } from './helpers/database.ts';
import { signUpMany } from './helpers/sign-up-backlog.ts';
import { asOnSupabase } from './helpers/supabase-roles.ts';
import { count } from './helpers/users.ts';
import { waitFor } from './helpers/wait-for.ts';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Schema?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

/** Rows of `schema.table` that the plan's scans looked at: returned or filtered out, over all loops. */
function rowsExamined(node: PlanNode, schema: string, table: string): number {
  const own =
    node['Relation Name'] === table && node.Schema === schema && /Scan/.test(node['Node Type'])
      ? (node['Actual Loops'] ?? 1) * ((node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0))
      : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + rowsExamined(child, schema, table), 0);
}

describe.skipIf(!onPostgres)('a capture batch on tables without statistics (PostgreSQL: the plan is its planner\'s)', () => {
  it('reads the profile table at most once, not once per user of the batch', async () => {
    const PROFILES = 2_000;
    const BATCH = 200;
    const db = await createTestDatabase();
    try {
      const serviceEnv = await asOnSupabase(db);
      // No ANALYZE will come: the tables keep no statistics, as in the first minute of a project.
      await db.sql.exec(`
        ALTER TABLE auth.users SET (autovacuum_enabled = false);
        ALTER TABLE public.users SET (autovacuum_enabled = false)`);
      await signUpMany(db, { count: PROFILES, label: 'before' });
      await db.sql.exec(`INSERT INTO public.users (id, email) SELECT id, email FROM auth.users`);
      const installer = await startApp(db, { ...serviceEnv, CAPTURE: 'on' });
      await installer.close();
      await db.sql.exec('ALTER TABLE user_sync.changes SET (autovacuum_enabled = false)');
      await signUpMany(db, { count: BATCH, label: 'queued' });
      expect(await count(db.sql, 'SELECT 1 FROM user_sync.changes')).toBe(BATCH);

      // The drain's own statement, with the drain's parameters, in a transaction rolled back.
      const table = await readProfileTable(db.sql, 'public.users');
      const mapping = resolveFieldMap(undefined, table);
      const statements = buildProfileStatements(table, mapping, profileRules(table, mapping, 'delete'));
      const plan = await db.sql
        .transaction(async (tx) => {
          const [row] = await tx.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
            `EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) ${statements.syncChanges}`,
            [BATCH, 'capture', 'capture', statements.tracked],
          );
          throw Object.assign(new Error('rollback'), { plan: row!['QUERY PLAN'][0].Plan });
        })
        .catch((error: { plan?: PlanNode }) => {
          if (error.plan === undefined) throw error;
          return error.plan;
        });

      // Once through the table (a sequential scan of it, or an index probe per user) at most.
      expect(rowsExamined(plan, 'public', 'users')).toBeLessThanOrEqual(PROFILES + BATCH);
    } finally {
      await db.close();
    }
  });
});

describe('the event loop while the capture drain works through a backlog', () => {
  it('is never held for long: other work (timers, HTTP) runs between batches', async () => {
    const BACKLOG = 20_000;
    const db = await createTestDatabase();
    let t: Awaited<ReturnType<typeof startApp>> | undefined;
    const gaps: number[] = [];
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      gaps.push(now - last);
      last = now;
    }, 10);
    try {
      const serviceEnv = await asOnSupabase(db);
      const env = { ...serviceEnv, CAPTURE: 'on', CAPTURE_BATCH_SIZE: '200' };
      const installer = await startApp(db, env);
      await installer.close();
      await signUpMany(db, { count: BACKLOG, label: 'backlog' });
      await db.sql.exec('ANALYZE auth.users, public.users, user_sync.changes');

      gaps.length = 0;
      last = performance.now();
      t = await startApp(db, env);
      await waitFor(async () => (await count(db.sql, 'SELECT 1 FROM user_sync.changes')) === 0, {
        timeoutMs: 60_000,
        what: 'the backlog to be drained',
      });
      expect(await count(db.sql, 'SELECT 1 FROM public.users')).toBe(BACKLOG);
      // A batch of 200 takes tens of milliseconds; the whole backlog, seconds.
      const longest = Math.max(...gaps, performance.now() - last);
      expect(longest).toBeLessThan(300);
    } finally {
      clearInterval(ticker);
      await t?.close();
      await db.close();
    }
  }, 90_000);
});
