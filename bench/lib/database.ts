/**
 * The benchmark's own database on the local PostgreSQL server, Supabase-shaped (the layout the
 * tests and embedded mode use), created fresh for a run and dropped after it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { authSchemaSql, demoProfileTableSql, supabaseRolesSql } from '../../src/embedded/supabase-schema.ts';

export interface BenchDatabase {
  name: string;
  /** Connection URL of the bench database. */
  url: string;
  drop(): Promise<void>;
}

export async function createBenchDatabase(adminUrl: string): Promise<BenchDatabase> {
  const name = `usersync_bench_${randomBytes(4).toString('hex')}`;
  await runOn(adminUrl, `CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await runOn(url.toString(), supabaseRolesSql + authSchemaSql + demoProfileTableSql);
  return {
    name,
    url: url.toString(),
    drop: () => runOn(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

export async function runOn(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
