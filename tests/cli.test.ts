/**
 * The command line: valid CSV, a sync, a reconcile that shows a bar on a terminal and plain lines
 * when piped, and the capture commands (status, install, uninstall).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteClient } from '../src/db/pglite-client.ts';
import type { Queryable } from '../src/db/sql-client.ts';
import { ADMIN_TOKEN } from './helpers/app.ts';
import { SERVICE_ROLE_KEY } from './helpers/backends.ts';
import { createTestDatabase, onPostgres, type TestDatabase } from './helpers/database.ts';
import { asOnSupabase, SERVICE_ROLE } from './helpers/supabase-roles.ts';
import { count } from './helpers/users.ts';
import { startServerProcess, type ServerProcess } from './helpers/server-process.ts';
import { startSupabaseStandIn } from './supabase-stand-in/index.ts';
import { csvField } from '../src/cli/csv.ts';

const run = promisify(execFile);
/** script(1), from util-linux: gives a command a pseudo-terminal, as an operator's shell would. */
const SCRIPT = '/usr/bin/script';
const tsx = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

describe('the CLI, on an embedded database with the demo users', () => {
  let dir: string;
  const env = () => ({ PATH: process.env.PATH, HOME: process.env.HOME, EMBEDDED_DATA_DIR: dir });
  const cliRun = (...args: string[]) => run(tsx, [cli, ...args], { env: env() });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'usersync-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('missing --format csv prints valid CSV: a header, then one row of three fields per user', async () => {
    const { stdout } = await cliRun('missing', '--format', 'csv');
    const [header, ...rows] = stdout.trim().split('\n');
    expect(header).toBe('id,email,createdAt');
    expect(rows).toHaveLength(15);
    for (const row of rows) {
      const fields = row.split(',');
      expect(fields).toHaveLength(3);
      expect(fields[0]).toMatch(/^[0-9a-f-]{36}$/);
      expect(Number.isNaN(Date.parse(fields[2]!))).toBe(false);
    }
  });

  it('sync <userId> syncs one user', async () => {
    const { stdout: csv } = await cliRun('missing', '--format', 'csv');
    const id = csv.trim().split('\n')[1]!.split(',')[0]!;
    const { stdout } = await cliRun('sync', id);
    expect(JSON.parse(stdout)).toMatchObject({ userId: id, action: 'created' });
  });

  it('reconcile, piped, prints plain progress lines and a summary', async () => {
    const { stdout } = await cliRun('reconcile', '--include', 'missing');
    expect(stdout).not.toContain('\r');
    expect(stdout).toMatch(/^progress \d+\/\d+ \(100%\)$/m);
    expect(stdout).toMatch(/^succeeded: 14 created, 0 updated, 0 unchanged, 0 deleted, 0 failed$/m);
  });

  it('reconcile, on a terminal, draws a progress bar', async ({ skip }) => {
    // Skipped, with this note in the report, only where the machine lacks it.
    skip(!existsSync(SCRIPT), `no ${SCRIPT} (util-linux) to give the CLI a pseudo-terminal`);
    const command = [tsx, cli, 'reconcile', '--dry-run'].map((part) => `'${part}'`).join(' ');
    const { stdout } = await run(SCRIPT, ['-qc', command, '/dev/null'], { env: env() });
    expect(stdout).toMatch(/\r\[#{30}\] [\d,]+\/[\d,]+ \(100%\)/);
    expect(stdout).toMatch(/succeeded: 0 created/);
  });

  it('refuses a bad command with its usage', async () => {
    await expect(cliRun('frobnicate')).rejects.toMatchObject({ code: 2, stdout: expect.stringContaining('usage:') });
  });
});

/**
 * `capture status|install|uninstall`. On PGlite the CLI opens an embedded data folder of its own
 * (the test opens it only between two runs: one process at a time); on PostgreSQL, a test
 * database, as the non-superuser Supabase gives a service (helpers/supabase-roles.ts).
 */
describe('the capture commands', () => {
  let dir: string;
  let db: TestDatabase | undefined;
  let connection: Record<string, string> = {};
  const env = () => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...(onPostgres ? { SERVICE_TOKENS: `admin:${ADMIN_TOKEN}`, ...connection } : { EMBEDDED_DATA_DIR: dir }),
  });
  const cliRun = (...args: string[]) => run(tsx, [cli, ...args], { env: env() });
  /** The CLI's database, while no CLI process holds it. */
  async function withDatabase<T>(work: (sql: Queryable) => Promise<T>): Promise<T> {
    if (db) return work(db.sql);
    const sql = await createPgliteClient(dir);
    try {
      return await work(sql);
    } finally {
      await sql.close();
    }
  }
  const status = async () => JSON.parse((await cliRun('capture', 'status', '--format', 'json')).stdout) as Record<string, unknown>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'usersync-cli-capture-'));
    if (onPostgres) {
      db = await createTestDatabase({ seed: true });
      connection = await asOnSupabase(db);
    }
  });
  afterAll(async () => {
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('status, before any install: the triggers are absent, and no command installed them', async () => {
    // The first run lays the embedded database out; CAPTURE is on (the default), yet the CLI installs nothing.
    const { stdout } = await cliRun('capture', 'status');
    expect(stdout).toMatch(/^capture: not installed$/m);
    expect(stdout).toMatch(/^ {2}trigger user_sync_capture_insert_delete \(AFTER INSERT OR DELETE ON auth\.users\): absent$/m);
    expect(stdout).toMatch(/^ {2}trigger user_sync_capture_update \(AFTER UPDATE ON auth\.users\): absent$/m);
    expect(stdout).toMatch(/^ {2}role: \S+, has the TRIGGER privilege on auth\.users$/m);
    expect(await status()).toMatchObject({
      triggers: { insertDelete: 'absent', update: 'absent' },
      current: false,
      canTrigger: true,
      ...(onPostgres ? { role: SERVICE_ROLE } : {}),
    });
  });

  it('install installs the triggers; status then says current, with an empty queue', async () => {
    const { stdout } = await cliRun('capture', 'install');
    expect(stdout).toMatch(/^capture installed: triggers user_sync_capture_insert_delete and user_sync_capture_update on auth\.users/m);
    expect(await status()).toEqual({
      role: expect.any(String),
      canTrigger: true,
      triggers: { insertDelete: 'current', update: 'current' },
      current: true,
      queueDepth: 0,
      oldestChangeAgeSeconds: null,
    });
    const { stdout: text } = await cliRun('capture', 'status');
    expect(text).toMatch(/^capture: installed and current/m);
    expect(text).toMatch(/^ {2}queue: 0 changes waiting$/m);
    expect((await cliRun('capture', 'install')).stdout).toMatch(/^capture was already installed and current: nothing to do$/m);
  });

  it('a change of auth.users is queued (nothing drains it here): status shows a depth of 1 and its age', async () => {
    const id = randomUUID();
    // One statement, so one change: an INSERT as Supabase Auth starts a sign-up.
    await withDatabase((sql) =>
      sql.query(
        `INSERT INTO auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
         VALUES ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', '', $2, '{}', '{}', now(), now())`,
        [id, `queued-${id}@example.com`],
      ),
    );
    const after = await status();
    expect(after).toMatchObject({ current: true, queueDepth: 1 });
    expect(after.oldestChangeAgeSeconds).toBeGreaterThanOrEqual(0);
    expect((await cliRun('capture', 'status')).stdout).toMatch(/^ {2}queue: 1 change\(s\) waiting, the oldest \d+\.\d s old$/m);
  });

  it('uninstall removes the triggers, the function, the queue and the drain\'s flag, and lists them; status says absent again', async () => {
    const { stdout } = await cliRun('capture', 'uninstall');
    expect(stdout.split('\n')).toEqual(
      expect.arrayContaining([
        'removed:',
        '  trigger user_sync_capture_insert_delete on auth.users',
        '  trigger user_sync_capture_update on auth.users',
        '  function user_sync.capture_auth_user_change()',
        '  table user_sync.changes',
        '  sequence user_sync.capture_wake_wanted',
      ]),
    );
    expect(await withDatabase((sql) => count(sql, `SELECT 1 WHERE to_regclass('user_sync.changes') IS NOT NULL`))).toBe(0);
    expect(await withDatabase((sql) => count(sql, `SELECT 1 WHERE to_regclass('user_sync.capture_wake_wanted') IS NOT NULL`))).toBe(0);
    expect(
      await withDatabase((sql) => count(sql, `SELECT 1 FROM pg_trigger WHERE tgrelid = 'auth.users'::regclass AND tgname LIKE 'user_sync_capture%'`)),
    ).toBe(0);
    expect(await status()).toMatchObject({ triggers: { insertDelete: 'absent', update: 'absent' }, current: false, queueDepth: null });
    expect((await cliRun('capture', 'uninstall')).stdout).toMatch(/^capture was not installed: nothing to remove$/m);
  });

  it('install lays the queue and the drain\'s flag out again after an uninstall', async () => {
    await cliRun('capture', 'install');
    expect(await status()).toMatchObject({ current: true, queueDepth: 0 });
    expect(await withDatabase((sql) => count(sql, `SELECT 1 WHERE to_regclass('user_sync.capture_wake_wanted') IS NOT NULL`))).toBe(1);
    await cliRun('capture', 'uninstall');
  });

  it('refuses an unknown capture command, or --format csv for status, with its usage', async () => {
    await expect(cliRun('capture', 'frobnicate')).rejects.toMatchObject({ code: 2, stdout: expect.stringContaining('capture install') });
    // A bad argument is the caller's mistake: exit 2, as for every other command.
    await expect(cliRun('capture', 'status', '--format', 'csv')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--format is table or json'),
    });
  });
});

describe('capture commands a role may not run', () => {
  it.skipIf(!onPostgres)(
    'uninstall by a role that owns neither the function nor its schema exits 1 with what to run instead (PostgreSQL only: the embedded database has one role, a superuser)',
    async () => {
      const db = await createTestDatabase();
      try {
        const asService = await asOnSupabase(db);
        const env = (connection: Record<string, string>) => ({
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          SERVICE_TOKENS: `admin:${ADMIN_TOKEN}`,
          ...connection,
        });
        // A superuser lays out user_sync and installs capture, so owns the schema and the function
        // (the owner of either may drop it); the service's role may use the schema, not drop in it.
        await run(tsx, [cli, 'capture', 'install'], { env: env({ DATABASE_URL: db.url! }) });
        await db.sql.exec(`
          GRANT USAGE, CREATE ON SCHEMA user_sync TO ${SERVICE_ROLE};
          GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA user_sync TO ${SERVICE_ROLE};
        `);
        const failed = run(tsx, [cli, 'capture', 'uninstall'], { env: env(asService) });
        await expect(failed).rejects.toMatchObject({
          code: 1,
          stderr: expect.stringMatching(/this role may not remove capture: .*DROP FUNCTION user_sync\.capture_auth_user_change\(\) CASCADE/),
        });
        expect(await count(db.sql, `SELECT 1 FROM pg_trigger WHERE tgrelid = 'auth.users'::regclass AND tgname LIKE 'user_sync_capture%'`)).toBe(2);
      } finally {
        await db.close();
      }
    },
  );

  it('without the TRIGGER privilege, install exits 1 naming the grant', async ({ skip }) => {
    skip(!onPostgres, 'PostgreSQL only: the embedded database connects as a superuser, which holds every privilege');
    const db = await createTestDatabase();
    try {
      const connection = await asOnSupabase(db, { withoutTrigger: true });
      const failed = run(tsx, [cli, 'capture', 'install'], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, SERVICE_TOKENS: `admin:${ADMIN_TOKEN}`, ...connection },
      });
      await expect(failed).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringContaining(`capture could not be installed: the role ${SERVICE_ROLE} lacks the TRIGGER privilege on auth.users`),
      });
    } finally {
      await db.close();
    }
  });

  it('in Supabase API mode, every capture command exits 2: capture needs a SQL back end', async () => {
    const db = await createTestDatabase();
    const standIn = await startSupabaseStandIn({ sql: db.sql, serviceKey: SERVICE_ROLE_KEY });
    try {
      const failed = run(tsx, [cli, 'capture', 'status'], {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          SERVICE_TOKENS: `admin:${ADMIN_TOKEN}`,
          SUPABASE_URL: standIn.url,
          SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY,
        },
      });
      await expect(failed).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('capture needs a SQL back end') });
    } finally {
      await standIn.close();
      await db.close();
    }
  });
});

describe('the CLI over HTTP (--url, --token), beside a running server', () => {
  let server: ServerProcess;
  let dir: string;
  const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH, HOME: process.env.HOME, ...extra });
  const overHttp = (...args: string[]) => run(tsx, [cli, '--url', server.url, '--token', ADMIN_TOKEN, ...args], { env: env() });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'usersync-cli-http-'));
    // Embedded on a data folder (postgres mode on the real server): the folder is the server's
    // alone while it runs, so only the HTTP form of the CLI can work beside it.
    server = await startServerProcess(onPostgres ? {} : { EMBEDDED_DATA_DIR: dir, CAPTURE: 'off' });
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('missing, sync, status and reconcile call the service, while it holds the embedded data folder', async () => {
    const { stdout: csv } = await overHttp('missing', '--format', 'csv');
    const [header, ...rows] = csv.trim().split('\n');
    expect(header).toBe('id,email,createdAt');
    expect(rows.length).toBeGreaterThan(1);
    const id = rows[0]!.split(',')[0]!;

    const { stdout: synced } = await overHttp('sync', id);
    expect(JSON.parse(synced)).toMatchObject({ userId: id, action: 'created' });
    const { stdout: status } = await overHttp('status', id);
    expect(JSON.parse(status)).toMatchObject({ userId: id, state: 'in_sync' });

    const { stdout: reconciled } = await run(tsx, [cli, 'reconcile', '--include', 'missing'], {
      env: env({ USER_SYNC_URL: server.url, USER_SYNC_TOKEN: ADMIN_TOKEN }),
    });
    expect(reconciled).toMatch(/^succeeded: \d+ created, 0 updated/m);
    const { stdout: after } = await overHttp('missing', '--format', 'json');
    expect(JSON.parse(after)).toEqual([]);
  });

  it('capture status reads GET /capture: the database\'s side, and whether the service drains the queue', async () => {
    // The server runs with CAPTURE=off (helpers/server-process.ts): nothing is installed.
    const { stdout } = await overHttp('capture', 'status');
    expect(stdout).toMatch(/^capture: not installed$/m);
    expect(stdout).toMatch(/^ {2}service: not draining the queue \(CAPTURE=off\)$/m);
    expect(stdout).toMatch(/^ {2}trigger user_sync_capture_update \(AFTER UPDATE ON auth\.users\): absent$/m);
    const { stdout: json } = await overHttp('capture', 'status', '--format', 'json');
    expect(JSON.parse(json)).toMatchObject({ service: { state: 'off', reason: 'CAPTURE=off' }, current: false, queueDepth: 0 });
  });

  it('a wrong token exits 2 with the service\'s problem; capture install and uninstall are refused over HTTP', async () => {
    await expect(run(tsx, [cli, '--url', server.url, '--token', 'x'.repeat(40), 'missing'], { env: env() })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('401 unauthorized'),
    });
    await expect(run(tsx, [cli, '--url', server.url, 'missing'], { env: env() })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--url needs --token'),
    });
    for (const subcommand of ['install', 'uninstall']) {
      await expect(overHttp('capture', subcommand)).rejects.toMatchObject({
        code: 2,
        stderr: expect.stringContaining(`capture ${subcommand} changes the database's schema, so it is not an API call`),
      });
    }
  });
});

describe('CSV for spreadsheets', () => {
  it('a field that a spreadsheet would run as a formula stays text', () => {
    expect(['=HYPERLINK("http://evil.example")', '+1', '-2+3', '@SUM(A1)', '\tx', 'plain@example.com', 'a,b'].map(csvField)).toEqual([
      `"'=HYPERLINK(""http://evil.example"")"`,
      "'+1",
      "'-2+3",
      "'@SUM(A1)",
      "'\tx",
      'plain@example.com',
      '"a,b"',
    ]);
  });
});
