/**
 * The real server (`src/server.ts`) as a child process, on a database the test laid out itself,
 * handed over the moment it is spawned. server-process.ts makes a database of its own and returns
 * only once the server listens; a test that must act before that (on an embedded database, the
 * server drains a capture backlog before it listens) or that restarts the server on the same
 * database uses this instead. Its environment is server-process.ts's, with the database left to
 * the caller (DATABASE_URL or EMBEDDED_DATA_DIR).
 */
import type { ChildProcess } from 'node:child_process';
import { auth } from './app.ts';
import { spawnServer } from './server-process.ts';


export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServiceProcess {
  child: ChildProcess;
  /** Everything the process wrote, stdout and stderr. */
  output(): string;
  /** Resolves once the output contains `text`; rejects if the process exits first. */
  printed(text: string): Promise<void>;
  /** Resolves with the base URL once the banner is out; rejects if the process exits first. */
  listening: Promise<string>;
  exited: Promise<Exit>;
  /** Sends `signal` (SIGTERM unless told) if the process still runs, and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

export function spawnService(env: Record<string, string>): ServiceProcess {
  const child = spawnServer({
    // Load shedding is not what these tests watch: an embedded database blocks the event loop for
    // as long as a statement runs, and a test's GET /metrics must not be shed for it.
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    ...env,
  });
  const chunks: string[] = [];
  const output = () => chunks.join('');
  const watchers = new Set<() => void>();
  const keep = (chunk: Buffer) => {
    chunks.push(chunk.toString());
    for (const watcher of watchers) watcher();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  /** Resolves with what `found` finds in the output, as soon as it finds it. */
  const watch = <T>(found: (text: string) => T | undefined, what: string) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const value = found(output());
        if (value === undefined) return;
        watchers.delete(check);
        resolve(value);
      };
      watchers.add(check);
      check();
      void exited.then(({ code, signal }) => {
        if (!watchers.has(check)) return;
        watchers.delete(check);
        reject(new Error(`the server exited (${code ?? signal}) before ${what}:\n${output()}`));
      });
    });

  const listening = watch((text) => /Swagger UI: (http:\/\/[^/\s]+)\/docs/.exec(text)?.[1], 'listening');
  // A test that never awaits it (it kills the process first) must not see an unhandled rejection.
  listening.catch(() => undefined);
  return {
    child,
    output,
    printed: (text) => watch((all) => (all.includes(text) ? true : undefined), `printing ${text}`).then(() => undefined),
    listening,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** The value of one sample of a counter on the server's GET /metrics (0 when it has none yet). */
export async function metricValue(url: string, sample: string): Promise<number> {
  const response = await fetch(`${url}/metrics`, { headers: auth, signal: AbortSignal.timeout(30_000) });
  if (response.status !== 200) throw new Error(`GET /metrics: ${response.status}`);
  const text = await response.text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}
