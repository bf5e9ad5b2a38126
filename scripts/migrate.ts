/**
 * `npm run migrate`: applies the service's own migrations (schema `user_sync`) and exits, for
 * deployments that migrate before rolling out. The server also migrates at start-up, so this is
 * optional; both are safe to run while replicas start.
 */
import { ConfigError, loadConfig } from '../src/config/config.ts';
import { migrate } from '../src/db/migrate.ts';
import { createPgClient } from '../src/db/pg-client.ts';
import { openEmbeddedDatabase } from '../src/embedded/open-embedded.ts';

try {
  const config = loadConfig(process.env);
  if (config.mode === 'supabase') {
    throw new ConfigError('invalid configuration:\n  DATABASE_URL: migrations need a database connection');
  }
  const sql =
    config.mode === 'postgres'
      ? createPgClient({ connectionString: config.database.url!, max: 1 })
      : (await openEmbeddedDatabase(config.embedded)).sql;
  try {
    const { applied } = await migrate(sql);
    process.stdout.write(applied.length ? `applied migrations ${applied.join(', ')}\n` : 'nothing to migrate\n');
  } finally {
    await sql.close();
  }
} catch (error) {
  process.stderr.write(`supabase-user-sync migrate: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
