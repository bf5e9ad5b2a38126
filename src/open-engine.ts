/**
 * Start-up of the data side, made once: open the database the configuration names, apply the
 * service's migrations, read the profile table, check the field map against it, and build the
 * engine. A wrong table or map stops start-up here, with a message naming the variable.
 */
import type { Log } from './logging.ts';
import { ConfigError, type Config } from './config/config.ts';
import { migrate } from './db/migrate.ts';
import { createPgClient } from './db/pg-client.ts';
import { readProfileTable } from './db/profile-table.ts';
import { SqlBackend } from './db/sql-backend.ts';
import type { SqlClient } from './db/sql-client.ts';
import { openEmbeddedDatabase } from './embedded/open-embedded.ts';
import type { SyncBackend } from './sync/backend.ts';
import { SyncEngine } from './sync/engine.ts';
import { resolveFieldMap } from './sync/field-map.ts';

export interface SyncRuntime {
  engine: SyncEngine;
  backend: SyncBackend;
  /** Where the data lives, for the start-up banner and /ready: never a password. */
  description: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** An already open database to use instead of the one the configuration names (tests). */
  sql?: SqlClient;
  logger?: Log;
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
      throw new ConfigError(
        'invalid configuration:\n  SUPABASE_URL: the Supabase API back end is not available yet; set DATABASE_URL to your project\'s database connection string',
      );
  }
}

export async function openSyncRuntime(config: Config, options: OpenOptions = {}): Promise<SyncRuntime> {
  const { sql, description, owned } = await openSql(config, options);
  try {
    const { applied } = await migrate(sql);
    if (applied.length > 0) options.logger?.info({ applied }, 'user_sync migrations applied');
    const table = await readProfileTable(sql, config.profile.table);
    const mapping = resolveFieldMap(config.profile.fieldMap, table);
    const backend = SqlBackend.create(sql, table, mapping, config.profile.deletePolicy);
    options.logger?.info(
      { table: table.name, columns: mapping.columns.map(({ column, sources }) => `${column} <- ${sources.join(' | ')}`) },
      'profile mapping',
    );
    return {
      engine: new SyncEngine(backend, mapping, config.profile.deletePolicy),
      backend,
      description,
      close: () => (owned ? sql.close() : Promise.resolve()),
    };
  } catch (error) {
    if (owned) await sql.close().catch(() => undefined);
    throw error;
  }
}
