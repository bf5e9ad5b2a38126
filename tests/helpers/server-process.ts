/**
 * The real server (`src/server.ts`, through the project's tsx and Node) as a child process, on the
 * test database: PostgreSQL when TEST_DATABASE=postgres (a fresh database, seeded with the demo
 * users), else embedded PGlite in memory (seeded the same way on start). For tests that need a
 * process of its own: signals, memory, a loop no test code shares.
 */
import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ADMIN_TOKEN } from './app.ts';
import { createTestDatabase, onPostgres, type TestDatabase } from './database.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const serverTs = fileURLToPath(new URL('../../src/server.ts', import.meta.url));

/**
 * Spawns the server with the tests' defaults (the admin token, any port, no background work) under
 * `env`, the database left to `env`. Node itself with tsx's loader (as `npm start` runs it, minus
 * the tsx wrapper process), so the child's pid is the server's own: signals reach it directly and
 * /proc shows its memory.
 */
export function spawnServer(env: Record<string, string>): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(process.execPath, ['--import', 'tsx', serverTs], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: '0',
      SERVICE_TOKENS: `admin:${ADMIN_TOKEN}`,
      RECONCILE_INTERVAL_SECONDS: '0',
      DEFERRED_SYNC_INTERVAL_SECONDS: '0',
      CAPTURE: 'off',
      RATE_LIMIT_MAX: '0',
      RATE_LIMIT_USER_MAX: '0',
      AUTH_FAILURE_LIMIT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote, stdout and stderr (JSON log lines and the banner). */
  output(): string;
  /** Resolves when the process exits, with its code and the time it did. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Sends SIGTERM (if still running) and waits for the exit; then drops the test database. */
  stop(): Promise<void>;
}

export interface ServerProcessOptions {
  /** Keep only the last this many bytes of output (a long run's logs need not fill the test's memory). */
  outputLimitBytes?: number;
}

export async function startServerProcess(
  env: Record<string, string> = {},
  options: ServerProcessOptions = {},
): Promise<ServerProcess> {
  const db: TestDatabase | undefined = onPostgres ? await createTestDatabase({ seed: true }) : undefined;
  const child = spawnServer({ ...(db?.url ? { DATABASE_URL: db.url } : { EMBEDDED_DATA_DIR: 'memory://' }), ...env });
  const limit = options.outputLimitBytes ?? Number.POSITIVE_INFINITY;
  let chunks: string[] = [];
  let kept = 0;
  const keep = (chunk: Buffer) => {
    chunks.push(chunk.toString());
    kept += chunk.length;
    if (kept > 2 * limit) {
      const tail = chunks.join('').slice(-limit);
      chunks = [tail];
      kept = tail.length;
    }
  };
  const output = () => chunks.join('');
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await db?.close();
  };

  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner in 60 s:\n${output()}`)), 60_000);
      child.stdout.on('data', () => {
        const match = /Swagger UI: (http:\/\/[^/\s]+)\/docs/.exec(output());
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      void exited.then(({ code }) => {
        clearTimeout(timer);
        reject(new Error(`the server exited (${code}) before listening:\n${output()}`));
      });
    });
    return { child, url, output, exited, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The process's resident set size in bytes, from /proc (Linux). */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) * 1024;
}
