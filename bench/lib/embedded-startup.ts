/**
 * Embedded mode's first start: the service spawned with no database settings on a fresh data
 * folder, until /ready answers, against a child that only creates PGlite on a fresh folder and
 * lays out the same schema and demo users. Both are timed from spawn, through Node's and tsx's own
 * start, so the ratio is what the service adds: its modules, migrations and HTTP server.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { alternate, median } from './alternate.ts';
import { compare, type Comparison } from './report.ts';
import type { BenchContext } from './section.ts';
import { spawnTsx, startService } from './service-child.ts';

async function withFreshFolder<T>(work: (folder: string) => Promise<T>): Promise<T> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'usersync-bench-embedded-'));
  try {
    return await work(folder);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

const serviceStart = () =>
  withFreshFolder(async (folder) => {
    const service = await startService({ EMBEDDED_DATA_DIR: folder });
    await service.stop();
    return service.startMs;
  });

const pgliteStart = () =>
  withFreshFolder(async (folder) => {
    const started = performance.now();
    const child = spawnTsx('bench/lib/pglite-alone.ts', [folder], {});
    const exited = once(child, 'exit');
    let output = '';
    child.stderr!.resume();
    child.stdout!.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: string) => {
        output += chunk;
        if (output.includes('ready\n')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`pglite-alone exited with code ${code} before it was ready`)));
    });
    const ms = performance.now() - started;
    await exited;
    return ms;
  });

export async function embeddedStartup(context: BenchContext): Promise<Comparison> {
  const rounds = context.quick ? 2 : 5;
  const times = await alternate(rounds, serviceStart, pgliteStart);
  return compare({
    section: 'embedded mode',
    metric: 'first start, to ready (median)',
    unit: 'ms',
    service: median(times.service),
    baseline: median(times.baseline),
    baselineName: 'PGlite.create + the Supabase schema and demo seed, in a child',
    // The service adds its modules (Fastify, zod, swagger), its migrations and a listening socket
    // to what PGlite itself needs: at most as much again.
    target: { of: 'ratio', op: '<=', value: 2 },
    notes: `fresh data folder each time, from spawn (node + tsx) to GET /ready = 200 or the child's "ready"; ${rounds} starts each, alternating`,
  });
}
