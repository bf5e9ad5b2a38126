/**
 * Capture (src/capture/) on real PostgreSQL, each figure against a baseline measured in the same run:
 *
 * - what its triggers cost a sign-up written as Supabase Auth writes it, against no trigger and
 *   against the usual synchronous handle_new_user trigger (lib/capture-signup-cost.ts);
 * - how long from a sign-up's commit until its profile is visible, the service draining, at a
 *   steady rate and in a burst (lib/capture-latency.ts);
 * - how fast the drain empties a large queue, against one INSERT … SELECT (lib/capture-drain.ts).
 *
 * bench/README.md describes each method.
 */
import { captureLatency } from './lib/capture-latency.ts';
import { createCaptureDatabase, openCaptureRuntime, type CaptureDatabase } from './lib/capture-database.ts';
import { drainThroughput } from './lib/capture-drain.ts';
import { signUpCost } from './lib/capture-signup-cost.ts';
import { handleNewUserSql } from './lib/capture-signups.ts';
import { runOn } from './lib/database.ts';
import type { Comparison } from './lib/report.ts';
import type { Section } from './lib/section.ts';

const capture: Section = async (context) => {
  const users = context.quick ? 10_000 : 100_000;
  const rows: Comparison[] = [];
  const created: CaptureDatabase[] = [];
  try {
    // Three databases alike but for their triggers on auth.users.
    for (let i = 0; i < 3; i++) created.push(await createCaptureDatabase(context, users));
    const [none, captured, synchronous] = created as [CaptureDatabase, CaptureDatabase, CaptureDatabase];
    // Capture installed by the service's own start-up path (migrations, then the triggers), then closed.
    await (await openCaptureRuntime(context, captured)).close();
    await runOn(synchronous.serviceUrl, handleNewUserSql);

    rows.push(...(await signUpCost(context, { none, captured, synchronous })));
    await none.drop();
    created.shift();
    rows.push(...(await captureLatency(context, { captured, synchronous })));
  } finally {
    for (const database of created) await database.drop();
  }
  rows.push(...(await drainThroughput(context)));
  return rows;
};

export const sections: Record<string, Section> = { capture };
