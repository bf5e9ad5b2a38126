/**
 * Embedded mode: PGlite in process, laid out like a Supabase project on first start and seeded
 * with demo users, so the service runs with no database server and no configuration at all.
 */
import { createPgliteClient } from '../db/pglite-client.ts';
import type { SqlClient } from '../db/sql-client.ts';
import { seedDemoData } from './demo-seed.ts';
import { authSchemaSql, demoProfileTableSql, supabaseRolesSql } from './supabase-schema.ts';

export interface EmbeddedDatabase {
  sql: SqlClient;
  /** True when this start created the schema (and seeded it, if asked to). */
  created: boolean;
}

export async function openEmbeddedDatabase(options: { dataDir: string; seed: boolean }): Promise<EmbeddedDatabase> {
  const sql = await createPgliteClient(options.dataDir);
  try {
    const created = await sql.transaction(async (tx) => {
      const [existing] = await tx.query<{ users: string | null }>(`SELECT to_regclass('auth.users')::text AS users`);
      if (existing?.users) {
        // A data folder laid out by an older version: add what the layout gained since (every
        // statement of it is IF NOT EXISTS), such as auth.identities.
        await tx.exec(authSchemaSql);
        return false;
      }
      await tx.exec(supabaseRolesSql);
      await tx.exec(authSchemaSql);
      await tx.exec(demoProfileTableSql);
      if (options.seed) await seedDemoData(tx);
      return true;
    });
    return { sql, created };
  } catch (error) {
    await sql.close().catch(() => undefined);
    throw error;
  }
}
