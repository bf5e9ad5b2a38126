/**
 * The one thing the SQL back end needs from a driver: run a parameterised statement and get its
 * rows, alone or inside a transaction. Embedded PGlite and node-postgres both fit behind it, so
 * the same SQL serves both modes.
 */
export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs a script of several statements without parameters (migrations, schema set-up). */
  exec(sql: string): Promise<void>;
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
  close(): Promise<void>;
}
