/**
 * Embedded PostgreSQL (PGlite, compiled to WASM, in process) behind `SqlClient`. PGlite runs
 * one statement at a time, so concurrency is serialised by PGlite itself; the SQL is the same.
 */
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import type { SqlClient } from './sql-client.ts';

/** `memory://` keeps everything in memory; anything else is a folder, created when missing. */
export async function createPgliteClient(dataDir: string): Promise<SqlClient & { pglite: PGlite }> {
  if (!dataDir.startsWith('memory://')) await mkdir(dataDir, { recursive: true });
  const pglite = await PGlite.create(dataDir);
  // PGlite is one session in one process: advisory locks there are re-entrant, so they would not
  // keep two runs apart. The process is the only user, so a set of held keys does the job.
  const held = new Set<number>();
  return {
    driver: 'pglite',
    pglite,
    query: async (sql, params) => (await pglite.query(sql, params as unknown[] | undefined)).rows as never,
    exec: async (sql) => void (await pglite.exec(sql)),
    transaction: (work) =>
      pglite.transaction((tx) =>
        work({
          query: async (sql, params) => (await tx.query(sql, params as unknown[] | undefined)).rows as never,
          exec: async (sql) => void (await tx.exec(sql)),
        }),
      ),
    async withTryLock(key, work) {
      if (held.has(key)) return { acquired: false };
      held.add(key);
      try {
        return { acquired: true, value: await work() };
      } finally {
        held.delete(key);
      }
    },
    async listen(channel, { notified, connected }) {
      // In process: PGlite delivers a notification after the statement that committed it.
      const unlisten = await pglite.listen(channel, () => notified());
      connected();
      return { close: () => unlisten() };
    },
    close: () => pglite.close(),
  };
}
