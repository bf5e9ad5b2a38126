/**
 * `npm run bench [-- --quick] [-- --only name,name]`: runs every benchmark section against the
 * local PostgreSQL server, prints a table of ratios (service / baseline, measured in the same
 * run) and writes them with the machine's description to bench/results.json (bench/results.quick.json
 * with --quick, so a smoke run never overwrites the figures the README quotes; with --only,
 * bench/results.<sections>.json, so a partial run never replaces the full run's figures).
 *
 * BENCH_DATABASE_URL names the maintenance database (default postgres://postgres@127.0.0.1:5432/postgres).
 */
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { sections as captureSections } from './capture.ts';
import { sections as dataSections } from './data.ts';
import { sections as embeddedSections } from './embedded.ts';
import { sections as httpSections } from './http.ts';
import { formatTable, type Comparison } from './lib/report.ts';
import type { BenchContext, Section } from './lib/section.ts';

const all: Record<string, Section> = { ...httpSections, ...dataSections, ...embeddedSections, ...captureSections };

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const chosen = values.only ? values.only.split(',').map((name) => name.trim()) : Object.keys(all);
const unknown = chosen.filter((name) => !(name in all));
if (unknown.length > 0) {
  console.error(`unknown section(s): ${unknown.join(', ')}; known: ${Object.keys(all).join(', ')}`);
  process.exit(2);
}

async function serverVersion(): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0]!.server_version;
  } finally {
    await client.end();
  }
}

const context: BenchContext = {
  adminUrl,
  quick: values.quick,
  log: (line) => process.stderr.write(`[bench] ${line}\n`),
};

const machine = {
  cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  os: `${os.type()} ${os.release()}`,
  node: process.version,
  postgres: await serverVersion(),
};
context.log(`machine: ${machine.cpus}, ${machine.memoryGiB} GiB, node ${machine.node}, PostgreSQL ${machine.postgres}`);

const rows: Comparison[] = [];
const started = Date.now();
for (const name of chosen) {
  context.log(`section ${name}`);
  const sectionStarted = Date.now();
  rows.push(...(await all[name]!(context)));
  context.log(`section ${name} done in ${((Date.now() - sectionStarted) / 1000).toFixed(1)} s`);
}

console.log(formatTable(rows));
// Rows without a target (met null) are for information and never missed.
const missed = rows.filter((row) => row.met === false);
console.log(missed.length === 0 ? '\nevery target met' : `\n${missed.length} target(s) missed`);

// A run of chosen sections writes a file of its own (results.capture.json), so it never replaces
// the full run's figures with a part of them.
const file = new URL(
  values.quick ? './results.quick.json' : values.only ? `./results.${chosen.join('+')}.json` : './results.json',
  import.meta.url,
);
await writeFile(
  file,
  `${JSON.stringify({ date: new Date().toISOString(), quick: values.quick, seconds: Math.round((Date.now() - started) / 1000), machine, results: rows }, null, 2)}\n`,
);
context.log(`wrote ${file.pathname}`);
