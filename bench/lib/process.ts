/**
 * HTTP servers under test, each in a child process of its own, so the load generator (autocannon,
 * in the bench process) never shares an event loop with the server it measures. Children are
 * killed when the bench exits, however it exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface ServerProcess {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  /**
   * CPU time the process has used so far, ms (user + system, from /proc; undefined elsewhere).
   * Per request, it shows what a server costs even when a busy machine blurs its throughput.
   */
  cpuMs(): number | undefined;
  /** SIGTERM, then wait for the exit (a --cpu-prof profile is written on that exit). */
  stop(): Promise<void>;
}

export interface ServerOptions {
  /** A name for messages. */
  name: string;
  /** The entry point, relative to the repository root, run through tsx. */
  script: string;
  env: Record<string, string>;
  /** A path answering 200 once the server can take load (the service's /ready checks the database). */
  readyPath: string;
  /**
   * A directory for a V8 CPU profile of the child (`--cpu-prof`), written when it stops; set
   * BENCH_CPU_PROF=<dir> to get one per server started.
   */
  cpuProfileDir?: string | undefined;
}

const root = fileURLToPath(new URL('../../', import.meta.url));
const running = new Set<ChildProcess>();

// 'exit' handlers must be synchronous: a plain kill is all that can be done there. It also runs
// after an uncaught error, so a failed run leaves no server holding a port or the database.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(130));
}

/** utime + stime of a process, fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second on Linux). */
function cpuMsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** A port free right now: the OS picks it, we release it, the child binds it. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

async function waitUntilReady(url: string, child: ChildProcess, name: string, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} before it was ready:\n${stderr()}`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${name} was not ready within 60 s:\n${stderr()}`);
}

export async function startServer(options: ServerOptions): Promise<ServerProcess> {
  const port = await freePort();
  const nodeArgs = ['--import', 'tsx'];
  if (options.cpuProfileDir !== undefined) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir);
  const child = spawn(process.execPath, [...nodeArgs, options.script], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...options.env, HOST: '127.0.0.1', PORT: String(port) },
    // stdout is the request log at production level: writing it costs the server what it costs in
    // production, but nobody reads it here. stderr is kept to explain a failed start.
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.add(child);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = once(child, 'exit');
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(`${url}${options.readyPath}`, child, options.name, () => stderr);
  } catch (error) {
    child.kill('SIGKILL');
    running.delete(child);
    throw error;
  }
  return {
    url,
    cpuMs: () => cpuMsOf(child.pid),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      running.delete(child);
    },
  };
}
