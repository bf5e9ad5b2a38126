/**
 * The one thing the SQL back end needs from a driver: run a parameterised statement and get its
 * rows, alone or inside a transaction. Embedded PGlite and node-postgres both fit behind it, so
 * the same SQL serves both modes.
 */
export interface QueryOptions {
  /**
   * Keep the statement prepared on each connection, so PostgreSQL parses and plans it once rather
   * than on every call. Only for statements whose best plan does not depend on the parameters'
   * values (a sync of given ids is index probes whatever the ids); never for the keyset pages,
   * whose `$2 IS NULL OR id > $2` must be folded for the value at hand. Drivers without a
   * statement cache (PGlite) ignore it.
   */
  prepared?: boolean;
}

export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<Row[]>;
  /** Runs a script of several statements without parameters (migrations, schema set-up). */
  exec(sql: string): Promise<void>;
}

/** A LISTEN in progress; `close` ends it. */
export interface Listening {
  close(): Promise<void>;
}

export interface ListenHandlers {
  /** A notification arrived on the channel (several may be folded into one call). */
  notified: () => void;
  /**
   * The listening connection is (again) established. Notifications sent while it was down are
   * lost, so whatever they announce must be looked for now.
   */
  connected: () => void;
}

export type LockedRun<T> = { acquired: true; value: T } | { acquired: false };

export interface SqlClient extends Queryable {
  readonly driver: 'pglite' | 'pg';
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs `work` only while holding the advisory lock `key`, held by no other session (so by no
   * other replica); when someone else holds it, returns at once without running `work`.
   */
  withTryLock<T>(key: number, work: () => Promise<T>): Promise<LockedRun<T>>;
  /**
   * LISTENs on `channel` on a connection of its own, outside any transaction, reconnecting by
   * itself when the connection is lost. Resolves at once, even if the first connect fails.
   */
  listen(channel: string, handlers: ListenHandlers): Promise<Listening>;
  close(): Promise<void>;
}
