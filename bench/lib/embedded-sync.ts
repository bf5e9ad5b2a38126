/**
 * Single syncs in embedded mode: `POST /sync/:userId` over HTTP, one at a time, against the
 * statements one sync runs (read the auth user, upsert the profile with its audit row) issued to
 * PGlite directly in this process. Both cycle through the demo users, which after the first round
 * are in sync, so this is the steady state of repeated syncs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { migrate } from '../../src/db/migrate.ts';
import { createPgliteClient } from '../../src/db/pglite-client.ts';
import { buildProfileStatements } from '../../src/db/profile-statements.ts';
import { profileRules } from '../../src/sync/profile-rules.ts';
import { readProfileTable } from '../../src/db/profile-table.ts';
import { DEMO, demoUserId, seedDemoData } from '../../src/embedded/demo-seed.ts';
import { authSchemaSql, demoProfileTableSql, supabaseRolesSql } from '../../src/embedded/supabase-schema.ts';
import { normalizeAuthUser } from '../../src/sync/auth-user.ts';
import { mapUser, resolveFieldMap } from '../../src/sync/field-map.ts';
import { alternate, median } from './alternate.ts';
import { compare, type Comparison } from './report.ts';
import type { BenchContext } from './section.ts';
import { startService } from './service-child.ts';

const USER_IDS = Array.from({ length: DEMO.users }, (_, index) => demoUserId(index + 1));

/** Syncs per second over a window of `ms`, one sync at a time. */
async function throughput(ms: number, syncOne: (userId: string) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  let done = 0;
  while (performance.now() - started < ms) await syncOne(USER_IDS[done++ % USER_IDS.length]!);
  return done / ((performance.now() - started) / 1000);
}

/** PGlite on its own folder, laid out as embedded mode lays it out, and a function running one sync's statements. */
async function directPglite(folder: string) {
  const sql = await createPgliteClient(folder);
  await sql.exec(supabaseRolesSql + authSchemaSql + demoProfileTableSql);
  await seedDemoData(sql);
  await migrate(sql);
  const table = await readProfileTable(sql, 'public.users');
  const mapping = resolveFieldMap(undefined, table);
  const { upsert, tracked, authUser: readUser } = buildProfileStatements(table, mapping, profileRules(table, mapping, 'delete'));
  const { pglite } = sql;
  const syncOne = async (userId: string) => {
    const { rows } = await pglite.query<{ user: Record<string, unknown> }>(readUser, [userId]);
    const values = mapUser(normalizeAuthUser(rows[0]!.user), mapping);
    const row: Record<string, string | null> = { id: userId };
    // The demo users' mapped values are strings or null, sent as the back end sends them: as text.
    for (const { column } of mapping.columns) {
      const value = values[column];
      row[column] = typeof value === 'string' ? value : null;
    }
    await pglite.query(upsert, [JSON.stringify([row]), 'bench', 'api', tracked]);
  };
  return { syncOne, close: () => sql.close() };
}

export async function embeddedSync(context: BenchContext): Promise<Comparison> {
  const rounds = context.quick ? 2 : 5;
  const windowMs = context.quick ? 1000 : 3000;
  const serviceFolder = await mkdtemp(path.join(os.tmpdir(), 'usersync-bench-embedded-'));
  const directFolder = await mkdtemp(path.join(os.tmpdir(), 'usersync-bench-pglite-'));
  const service = await startService({ EMBEDDED_DATA_DIR: serviceFolder, RECONCILE_INTERVAL_SECONDS: '0', CAPTURE: 'off', RATE_LIMIT_MAX: '1000000' });
  const direct = await directPglite(directFolder);
  try {
    const viaHttp = (userId: string) => service.request('POST', `/sync/${userId}`);
    // Warm both (and bring every demo user in sync) before measuring.
    await throughput(500, viaHttp);
    await throughput(500, direct.syncOne);
    const rates = await alternate(
      rounds,
      () => throughput(windowMs, viaHttp),
      () => throughput(windowMs, direct.syncOne),
    );
    return compare({
      section: 'embedded mode',
      metric: 'POST /sync/:userId, one at a time',
      unit: 'req/s',
      service: median(rates.service),
      baseline: median(rates.baseline),
      baselineName: "one sync's two statements on PGlite, in process",
      // Each sync is two PGlite statements on the service's one thread; HTTP, auth, validation
      // and serialisation come on top on that same thread: they may cost as much as PGlite does.
      target: { of: 'ratio', op: '>=', value: 0.5 },
      notes: `${DEMO.users} demo users in turn (steady state: unchanged); ${rounds} windows of ${windowMs} ms each, alternating; client in the bench process`,
    });
  } finally {
    await service.stop();
    await direct.close();
    await rm(serviceFolder, { recursive: true, force: true });
    await rm(directFolder, { recursive: true, force: true });
  }
}
