/**
 * The embedded start-up baseline, run as a child process like the service: PGlite created on a
 * fresh folder, the Supabase layout and the demo users the service lays out on a first start, and
 * nothing else. Prints `ready` when done, then exits.
 *
 * Usage: node --import tsx bench/lib/pglite-alone.ts <data folder>
 */
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { seedDemoData } from '../../src/embedded/demo-seed.ts';
import { authSchemaSql, demoProfileTableSql, supabaseRolesSql } from '../../src/embedded/supabase-schema.ts';

const dataDir = process.argv[2];
if (dataDir === undefined) throw new Error('usage: pglite-alone.ts <data folder>');
await mkdir(dataDir, { recursive: true });
const pglite = await PGlite.create(dataDir);
await pglite.transaction(async (tx) => {
  await tx.exec(supabaseRolesSql + authSchemaSql + demoProfileTableSql);
  await seedDemoData({
    query: async (sql, params) => (await tx.query(sql, params as unknown[] | undefined)).rows as never,
    exec: async (sql) => void (await tx.exec(sql)),
  });
});
process.stdout.write('ready\n');
await pglite.close();
