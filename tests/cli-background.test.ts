/**
 * The CLI's read-only commands do their one thing: they never start the server's background work
 * (the periodic reconcile, deferred syncs, the job queue), so they cannot take up a reconcile job
 * that a running service (or an operator) queued.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteClient } from '../src/db/pglite-client.ts';

const run = promisify(execFile);
const tsx = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

describe('the CLI\'s read-only commands, with a reconcile job queued', () => {
  let dir: string;
  const cliRun = (...args: string[]) =>
    run(tsx, [cli, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, EMBEDDED_DATA_DIR: dir } });
  /** The embedded database, opened while no CLI process holds it (PGlite takes one process at a time). */
  async function withDatabase<T>(work: (sql: Awaited<ReturnType<typeof createPgliteClient>>) => Promise<T>): Promise<T> {
    const sql = await createPgliteClient(dir);
    try {
      return await work(sql);
    } finally {
      await sql.close();
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'usersync-cli-bg-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('missing and sync leave the queued job queued and write only what they were asked to', async () => {
    // The first run lays out and seeds the embedded database.
    const { stdout } = await cliRun('missing', '--format', 'json');
    const missing = JSON.parse(stdout) as { id: string }[];
    expect(missing.length).toBeGreaterThan(1);

    const jobId = randomUUID();
    await withDatabase((sql) =>
      sql.query(
        `INSERT INTO user_sync.reconcile_jobs (id, status, dry_run, include, requested_by, counts)
         VALUES ($1, 'queued', false, '{missing}', 'operator', '{"created":0,"updated":0,"unchanged":0,"deleted":0,"failed":0}')`,
        [jobId],
      ),
    );

    await cliRun('missing');
    await cliRun('sync', missing[0]!.id);

    await withDatabase(async (sql) => {
      const [job] = await sql.query<{ status: string; started_at: string | null }>(
        'SELECT status, started_at FROM user_sync.reconcile_jobs WHERE id = $1',
        [jobId],
      );
      expect(job).toEqual({ status: 'queued', started_at: null });
      // The one user synced; no other missing user got a profile behind the operator's back.
      const audited = await sql.query<{ user_id: string }>('SELECT user_id::text AS user_id FROM user_sync.audit_log');
      expect(audited.map((row) => row.user_id)).toEqual([missing[0]!.id]);
    });
  });
});
