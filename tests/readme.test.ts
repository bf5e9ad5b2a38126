/**
 * The README is where operators look up a variable or an error code: each the service has must be
 * there (an error code with its HTTP status), and nothing the service no longer has.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../src/config/config.ts';
import { problemCatalogue } from '../src/errors/problems.ts';

const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');

/**
 * The table rows whose first cell holds only `code` spans (one or more, as in
 * "| `SUPABASE_SECRET_KEY` / `SUPABASE_SERVICE_ROLE_KEY` |"), each name with the row's second cell.
 */
const rows = [...readme.matchAll(/^\| ((?:`[A-Za-z0-9_]+`(?:, | \/ )?)+) \|([^|]*)\|/gm)].flatMap((match) =>
  [...match[1]!.matchAll(/`([A-Za-z0-9_]+)`/g)].map((name, index) => ({ name: name[1]!, index, second: match[2]!.trim() })),
);
const named = new Set(rows.map((row) => row.name));

/** A code's HTTP status as its row gives it: "401", or the nth of "413, 415" for the nth code. */
function statusOf(code: string): number | undefined {
  const row = rows.find((candidate) => candidate.name === code);
  if (row === undefined) return undefined;
  const statuses = row.second.split(',').map((status) => Number(status.trim()));
  return statuses.length === 1 ? statuses[0] : statuses[row.index];
}

describe('the README', () => {
  it('has a row for every configuration variable', () => {
    expect(CONFIG_VARIABLES.filter((variable) => !named.has(variable))).toEqual([]);
  });

  it('has a row for every error code, with its HTTP status', () => {
    const documented = Object.keys(problemCatalogue).map((code) => [code, statusOf(code)]);
    expect(documented).toEqual(Object.entries(problemCatalogue).map(([code, { status }]) => [code, status]));
  });

  it('documents no variable or error code the service does not have', () => {
    const known = new Set([...CONFIG_VARIABLES, ...Object.keys(problemCatalogue)]);
    const looksLikeOne = (name: string) => /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/.test(name) || /^[a-z]+(_[a-z]+)+$/.test(name);
    expect([...named].filter((name) => looksLikeOne(name) && !known.has(name))).toEqual([]);
  });
});
