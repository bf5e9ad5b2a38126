/**
 * The real service (`src/server.ts`) in a child process, for the database-heavy and embedded
 * benches: they need what the HTTP benches' server helper does not give, the time from spawn to
 * ready (measured at a fine grain) and the child's pid, for its peak memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** One token with every scope; 32+ characters as the service requires. */
export const BENCH_TOKEN = 'bench-token-0123456789abcdefghijklmnopqrstuvwxyz';

export interface ServiceChild {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  /** Milliseconds from spawn to the first 200 from /ready. */
  startMs: number;
  /** The process's peak resident memory so far (VmHWM), in MiB. */
  peakRssMiB(): Promise<number>;
  /** GET or POST with the bench token, JSON in and out. */
  request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
  /** SIGTERM, then wait for the exit. */
  stop(): Promise<void>;
}

export const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));

const running = new Set<ChildProcess>();
// Synchronous by necessity: a failed bench run must not leave a server holding the database.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Node with tsx, as `npm start` runs the service; the pid is the server's own process. */
export function spawnTsx(script: string, args: readonly string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: repositoryRoot,
    // Only what is given: a DATABASE_URL in the bench's own environment must not pick the mode.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** The last few KB of a stream, to explain a child that failed. */
function tail(stream: NodeJS.ReadableStream): () => string {
  let kept = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    kept = (kept + chunk).slice(-4000);
  });
  return () => kept;
}

export async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(kib) / 1024;
}

/**
 * Starts the service with `env` (plus host, port and the bench token); request logs are off
 * (LOG_LEVEL=warn unless given), as the baselines log nothing either.
 */
export async function startService(env: Record<string, string>): Promise<ServiceChild> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = spawnTsx('src/server.ts', [], {
    LOG_LEVEL: 'warn',
    SERVICE_TOKENS: `bench:${BENCH_TOKEN}`,
    ...env,
    HOST: '127.0.0.1',
    PORT: String(port),
  });
  const stderr = tail(child.stderr!);
  child.stdout!.resume();
  const exited = once(child, 'exit');

  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited with code ${child.exitCode} before it was ready:\n${stderr()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the service was not ready within 120 s:\n${stderr()}`);
    }
    const ready = await fetch(`${url}/ready`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) break;
    // Fine-grained, since start-up time is measured with it; a refused connect costs little.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const startMs = performance.now() - started;

  return {
    url,
    startMs,
    peakRssMiB: () => peakRssMiB(child.pid!),
    async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${BENCH_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
      return JSON.parse(text) as T;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** Postgres mode on a bench database, with nothing running on its own: no periodic reconcile, no deferred syncs, no rate limit in the way. */
export const startPostgresService = (databaseUrl: string): Promise<ServiceChild> =>
  startService({
    DATABASE_URL: databaseUrl,
    RECONCILE_INTERVAL_SECONDS: '0',
    DEFERRED_SYNC_INTERVAL_SECONDS: '0',
    CAPTURE: 'off',
    RATE_LIMIT_MAX: '1000000',
  });
