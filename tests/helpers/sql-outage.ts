/**
 * The in-process counterpart of the TCP proxy (tcp-proxy.ts) for embedded PGlite, which has no
 * connection to cut: it stands between the app and a real PGlite database, and while `down`
 * every statement fails the way node-postgres fails on a reset connection, before reaching the
 * database. The database itself is untouched and answers again after `up`, which closing PGlite
 * (the only real outage it has) would never let it do.
 */
import type { Queryable, SqlClient } from '../../src/db/sql-client.ts';

export interface SqlOutage {
  client: SqlClient;
  down(): void;
  up(): void;
}

export function withSqlOutage(sql: SqlClient): SqlOutage {
  let isDown = false;
  const cut = () => {
    if (isDown) throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
  };
  const guarded = (db: Queryable): Queryable => ({
    async query(text, params, options) {
      cut();
      return db.query(text, params, options);
    },
    async exec(text) {
      cut();
      return db.exec(text);
    },
  });
  const client: SqlClient = {
    driver: sql.driver,
    ...guarded(sql),
    async transaction(work) {
      cut();
      return sql.transaction((tx) => work(guarded(tx)));
    },
    async withTryLock(key, work) {
      cut();
      return sql.withTryLock(key, work);
    },
    // In process, notifications cannot be cut; the drain's statements are.
    listen: (channel, handlers) => sql.listen(channel, handlers),
    close: () => sql.close(),
  };
  return {
    client,
    down: () => void (isDown = true),
    up: () => void (isDown = false),
  };
}
