/**
 * Overload: while the event loop cannot keep up, requests get a quick 503 `overloaded` with
 * Retry-After (problem+json) instead of waiting until their callers give up; `/health` still
 * answers 200; once the load passes, requests succeed again without a restart.
 *
 * The app runs in this test's process; a worker thread sends requests at a steady pace while the
 * main thread saturates its own event loop (busy-waits with one loop turn between them), so the
 * requests really queue up behind a loaded loop.
 */
import { describe, expect, it } from 'vitest';
import { auth, useTestApp } from './helpers/app.ts';
import { runRequestLoop, saturateEventLoop, type LoopOutcome } from './helpers/busy.ts';
import { insertAuthUser } from './helpers/users.ts';
import { waitFor } from './helpers/wait-for.ts';

/**
 * Shed above 300 ms of mean delay, well above what a busy shared test machine shows (tens of ms);
 * the saturation delays every loop turn by about 700 ms.
 */
const THRESHOLD_MS = 300;
const CHUNK_MS = 700;
/** How long the loop stays saturated: the load itself, not a wait for anything. */
const SATURATED_MS = 4_500;
/** Pressure is sampled once a second: allow a few samples, on a loaded machine, to see it clear. */
const RECOVERY_MS = 4_000;
/** Rounds (one request of each kind) answered while calm, before the load and once it has passed. */
const ROUNDS_BEFORE = 15;
const ROUNDS_AFTER = 20;
/** An answer counts as before the load only if it came this long before the load began. */
const BEFORE_MARGIN_MS = 200;

const isOverloaded = (outcome: LoopOutcome) =>
  outcome.status === 503 &&
  outcome.code === 'overloaded' &&
  /^application\/problem\+json/.test(outcome.contentType ?? '') &&
  Number(outcome.retryAfter) > 0;

describe('an overloaded event loop', () => {
  const ctx = useTestApp({ env: { OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: String(THRESHOLD_MS) } });

  it('sheds requests with 503 overloaded while saturated, keeps /health up, and recovers', async () => {
    const id = await insertAuthUser(ctx.db.sql);
    const round = [
      { method: 'POST', path: `/sync/${id}`, headers: auth },
      { method: 'GET', path: '/users/missing?limit=1', headers: auth },
      { method: 'GET', path: '/health' },
      { method: 'GET', path: '/ready' },
    ] as const;
    const loop = runRequestLoop({ url: ctx.url, round: [...round], everyMs: 100, timeoutMs: 15_000 });
    /** Whole rounds among `list`: the fewest answers any one kind of request has there. */
    const rounds = (list: readonly LoopOutcome[]) => Math.min(...round.map(({ path }) => list.filter((o) => o.path === path).length));

    await loop.started;
    // Calm first: rounds answered (far enough before the load to count as before it).
    await waitFor(() => rounds(loop.answered().filter((o) => o.receivedAt < Date.now() - BEFORE_MARGIN_MS)) >= ROUNDS_BEFORE, {
      timeoutMs: 20_000,
      what: `${ROUNDS_BEFORE} rounds answered before the load`,
    });
    const saturatedFrom = Date.now();
    await saturateEventLoop(SATURATED_MS, CHUNK_MS);
    const saturatedUntil = Date.now();
    // Then calm again: rounds sent once the load has passed and the recovery allowance with it, answered.
    await waitFor(() => rounds(loop.answered().filter((o) => o.sentAt > saturatedUntil + RECOVERY_MS)) >= ROUNDS_AFTER, {
      timeoutMs: RECOVERY_MS + 20_000,
      what: `${ROUNDS_AFTER} rounds sent after the load (and ${RECOVERY_MS} ms to recover) answered`,
    });
    const outcomes = await loop.stop();
    // Compact, for readable failures: what, how it ended, and when (ms from the saturation's start).
    const show = (list: LoopOutcome[]) =>
      list.map((o) => `${o.path} ${o.status ?? o.error} ${o.code ?? ''} sent ${o.sentAt - saturatedFrom} got ${o.receivedAt - saturatedFrom}`);

    // Every request got an answer: none timed out, none lost its connection.
    expect(show(outcomes.filter((outcome) => outcome.error !== undefined))).toEqual([]);
    // Each is served or shed; nothing else (no 500, no 503 of another kind).
    for (const outcome of outcomes) {
      if (outcome.status !== 200) expect(outcome, JSON.stringify(outcome)).toSatisfy(isOverloaded);
    }

    // Liveness never fails for being busy.
    const health = outcomes.filter((outcome) => outcome.path === '/health');
    expect(health.map((outcome) => outcome.status)).toEqual(health.map(() => 200));

    // Requests answered while the loop was saturated were shed: syncs, reads and readiness alike.
    const duringPressure = outcomes.filter(
      (outcome) => outcome.receivedAt > saturatedFrom && outcome.receivedAt <= saturatedUntil,
    );
    for (const path of [`/sync/${id}`, '/users/missing?limit=1', '/ready']) {
      expect(duringPressure.filter((outcome) => outcome.path === path).some(isOverloaded), path).toBe(true);
    }

    // Before the load, and once it has passed, everything is served.
    const before = outcomes.filter((outcome) => outcome.receivedAt < saturatedFrom - BEFORE_MARGIN_MS);
    const after = outcomes.filter((outcome) => outcome.sentAt > saturatedUntil + RECOVERY_MS);
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    expect(show(before.filter((outcome) => outcome.status !== 200))).toEqual([]);
    expect(show(after.filter((outcome) => outcome.status !== 200))).toEqual([]);
  }, 60_000);
});
