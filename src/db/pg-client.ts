/**
 * node-postgres behind `SqlClient`: a pool, so concurrent requests run on separate connections.
 * Connection failures surface as errors the HTTP layer turns into 503 (see db/errors.ts); the
 * pool reconnects by itself once the server is back.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Log } from '../logging.ts';
import { listenWithReconnect } from './pg-listen.ts';
import type { Queryable, QueryOptions, SqlClient } from './sql-client.ts';

export interface PgClientOptions {
  connectionString: string;
  max: number;
  logger?: Log | undefined;
  applicationName?: string;
}

/**
 * A prepared statement's name, the same for the same text on every connection (node-postgres
 * prepares a name once per connection and reuses it), and never the same for two texts.
 */
const statementNames = new Map<string, string>();
function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (name === undefined) {
    name = `user_sync_${createHash('sha256').update(sql).digest('hex').slice(0, 32)}`;
    statementNames.set(sql, name);
  }
  return name;
}

export function createPgClient(options: PgClientOptions): SqlClient {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max,
    application_name: options.applicationName ?? 'supabase-user-sync',
    // Fail fast when the server is down, so callers get a 503 to retry instead of a hung request.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // A runaway statement must not pin a connection for ever.
    statement_timeout: 30_000,
  });
  // An idle client losing its connection emits 'error' on the pool; unhandled, it would crash
  // the process. The pool discards that client and opens a new one on demand.
  pool.on('error', (error) => options.logger?.warn({ err: error }, 'idle database connection lost'));

  /**
   * A connection checked out of the pool (a transaction, a lock) that the server drops emits
   * 'error' on the client, not the pool: unheard, that would crash the process. Heard, the
   * statement in flight fails (a 503 to its caller) and the connection is discarded on release.
   */
  const checkOut = async () => {
    const client = await pool.connect();
    let lost: Error | undefined;
    const onError = (error: Error) => {
      lost = error;
      options.logger?.warn({ err: error }, 'database connection lost while in use');
    };
    client.on('error', onError);
    return {
      client,
      release: (broken?: Error) => {
        client.off('error', onError);
        client.release(broken ?? lost);
      },
    };
  };

  const run = async <Row>(client: pg.Pool | pg.PoolClient, sql: string, params?: readonly unknown[], options?: QueryOptions) => {
    const values = params as unknown[] | undefined;
    const result = options?.prepared
      ? await client.query({ name: statementName(sql), text: sql, values })
      : await client.query(sql, values);
    return result.rows as Row[];
  };

  return {
    driver: 'pg',
    query: (sql, params, options) => run(pool, sql, params, options),
    exec: async (sql) => void (await pool.query(sql)),
    async transaction(work) {
      const { client, release } = await checkOut();
      let broken: unknown;
      try {
        await client.query('BEGIN');
        const tx: Queryable = {
          query: (sql, params, options) => run(client, sql, params, options),
          exec: async (sql) => void (await client.query(sql)),
        };
        const result = await work(tx);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: unknown) => {
          broken = rollbackError;
        });
        throw error;
      } finally {
        // A connection whose ROLLBACK failed is in an unknown state: destroy it, don't reuse it.
        release(broken instanceof Error ? broken : undefined);
      }
    },
    async withTryLock(key, work) {
      // A session-level lock on a connection of its own, held for the whole run: it is released
      // by the unlock below, or by PostgreSQL when the connection (or the process) dies.
      const { client, release } = await checkOut();
      let broken: Error | undefined;
      try {
        const [row] = (await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key])).rows;
        if (!row?.locked) return { acquired: false };
        try {
          return { acquired: true, value: await work() };
        } finally {
          await client.query('SELECT pg_advisory_unlock($1)', [key]).catch((error: unknown) => {
            broken = error instanceof Error ? error : new Error(String(error));
          });
        }
      } finally {
        release(broken);
      }
    },
    listen: async (channel, handlers) =>
      listenWithReconnect(
        { connectionString: options.connectionString, applicationName: `${options.applicationName ?? 'supabase-user-sync'} (listen)` },
        channel,
        handlers,
        options.logger,
      ),
    close: () => pool.end(),
  };
}
