/**
 * Start-up of the data side, made once: open the database (or the Supabase APIs) the
 * configuration names, apply the service's migrations, read the profile table, check the field
 * map against it, and build the engine. A wrong table, map or key stops start-up here, with a
 * message naming the variable.
 */
import { createClient } from '@supabase/supabase-js';
import { ProblemError } from './errors/problems.ts';
import type { Log } from './logging.ts';
import { ConfigError, type Config } from './config/config.ts';
import { migrate } from './db/migrate.ts';
import { createPgClient } from './db/pg-client.ts';
import { readProfileTable } from './db/profile-table.ts';
import { SqlBackend } from './db/sql-backend.ts';
import { SqlJobStore } from './db/sql-job-store.ts';
import type { SqlClient } from './db/sql-client.ts';
import { openEmbeddedDatabase } from './embedded/open-embedded.ts';
import type { JobStore } from './reconcile/job-store.ts';
import { MemoryJobStore } from './reconcile/memory-job-store.ts';
import type { SyncBackend } from './sync/backend.ts';
import { SyncEngine, type SyncObserver } from './sync/engine.ts';
import { resolveFieldMap, type FieldMapping } from './sync/field-map.ts';
import { readProfileTableOverRest } from './supabase/profile-table.ts';
import { SupabaseBackend } from './supabase/supabase-backend.ts';

export interface SyncRuntime {
  engine: SyncEngine;
  backend: SyncBackend;
  /** Where reconcile jobs are kept. */
  jobs: JobStore;
  /** Where the data lives, for the start-up banner: never a password. */
  description: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** An already open database to use instead of the one the configuration names (tests). */
  sql?: SqlClient;
  logger?: Log;
  /** Told of every sync that ran, for metrics. */
  observe?: SyncObserver;
}

async function openSql(config: Config, options: OpenOptions): Promise<{ sql: SqlClient; description: string; owned: boolean }> {
  if (options.sql) return { sql: options.sql, description: `${options.sql.driver} (provided)`, owned: false };
  switch (config.mode) {
    case 'embedded': {
      const { sql, created } = await openEmbeddedDatabase(config.embedded);
      if (created) options.logger?.info({ dataDir: config.embedded.dataDir }, 'embedded database laid out and seeded');
      return { sql, description: `embedded (${config.embedded.dataDir})`, owned: true };
    }
    case 'postgres': {
      const url = new URL(config.database.url!);
      const sql = createPgClient({ connectionString: config.database.url!, max: config.database.poolMax, logger: options.logger });
      return { sql, description: `postgres (${url.hostname}:${url.port || 5432}${url.pathname})`, owned: true };
    }
    case 'supabase':
      throw new Error('unreachable: the Supabase API back end opens no SQL connection');
  }
}

/**
 * Supabase API mode: supabase-js for auth users, PostgREST for the profile table. The key is
 * tried at once, so a wrong one stops start-up with a message naming its variable.
 */
async function openSupabaseRuntime(config: Config, options: OpenOptions): Promise<SyncRuntime> {
  const { url, serviceKey, keyVariable, idChunkSize } = config.supabase;
  const refused = (error: unknown) =>
    error instanceof ProblemError && error.code === 'supabase_unauthorized'
      ? new ConfigError(`invalid configuration:\n  ${keyVariable}: ${error.message}`)
      : error;
  const client = createClient(url!, serviceKey!, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
  const table = await readProfileTableOverRest(url!, serviceKey!, config.profile.table).catch((error: unknown) => {
    throw refused(error);
  });
  const mapping = resolveFieldMap(config.profile.fieldMap, table);
  if (config.profile.deletePolicy === 'soft' && !table.columns.some((column) => column.name === 'deleted_at')) {
    throw new ConfigError(
      `invalid configuration:\n  DELETE_POLICY: "soft" sets the profile's deleted_at, but ${table.name} has no deleted_at column`,
    );
  }
  const backend = new SupabaseBackend({
    client,
    table,
    mapping,
    policy: config.profile.deletePolicy,
    log: options.logger ?? { info: () => undefined, warn: () => undefined, error: () => undefined },
    idChunkSize,
  });
  await backend.ping().catch((error: unknown) => {
    throw refused(error);
  });
  logMapping(options, table.name, mapping);
  return {
    engine: new SyncEngine(backend, mapping, config.profile.deletePolicy, options.observe),
    backend,
    jobs: new MemoryJobStore(),
    description: `supabase (${new URL(url!).host})`,
    close: async () => undefined,
  };
}

function logMapping(options: OpenOptions, table: string, mapping: FieldMapping): void {
  options.logger?.info(
    { table, columns: mapping.columns.map(({ column, sources }) => `${column} <- ${sources.join(' | ')}`) },
    'profile mapping',
  );
}

export async function openSyncRuntime(config: Config, options: OpenOptions = {}): Promise<SyncRuntime> {
  if (config.mode === 'supabase' && options.sql === undefined) return openSupabaseRuntime(config, options);
  const { sql, description, owned } = await openSql(config, options);
  try {
    const { applied } = await migrate(sql);
    if (applied.length > 0) options.logger?.info({ applied }, 'user_sync migrations applied');
    const table = await readProfileTable(sql, config.profile.table);
    const mapping = resolveFieldMap(config.profile.fieldMap, table);
    const backend = SqlBackend.create(sql, table, mapping, config.profile.deletePolicy);
    logMapping(options, table.name, mapping);
    return {
      engine: new SyncEngine(backend, mapping, config.profile.deletePolicy, options.observe),
      backend,
      jobs: new SqlJobStore(sql),
      description,
      close: () => (owned ? sql.close() : Promise.resolve()),
    };
  } catch (error) {
    if (owned) await sql.close().catch(() => undefined);
    throw error;
  }
}
