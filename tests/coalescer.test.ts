/** The joining of concurrent items into batches (src/db/coalescer.ts), without a database. */
import { describe, expect, it } from 'vitest';
import { Coalescer, type CoalescerOptions, type Settled } from '../src/db/coalescer.ts';

/** A coalescer whose batches are held until released, recording each batch it ran. */
function held(options: Partial<CoalescerOptions> = {}, canJoin?: (batch: readonly number[], item: number) => boolean) {
  const runs: number[][] = [];
  const releases: (() => void)[] = [];
  const coalescer = new Coalescer<number, number>(
    (items) =>
      new Promise<Settled<number>[]>((resolve) => {
        runs.push(items);
        releases.push(() => resolve(items.map((item) => (item < 0 ? { error: new Error(`refused ${item}`) } : { value: item * 10 }))));
      }),
    { maxBatch: 100, maxInFlight: 1, ...options },
    canJoin,
  );
  const releaseNext = () => releases.shift()!();
  return { coalescer, runs, releaseNext };
}

/** Lets setImmediate callbacks (the batch start) run. */
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('Coalescer', () => {
  it('runs a lone item alone, on the next turn of the loop', async () => {
    const { coalescer, runs, releaseNext } = held();
    const answer = coalescer.submit(1);
    await turn();
    expect(runs).toEqual([[1]]);
    releaseNext();
    expect(await answer).toBe(10);
  });

  it('joins items submitted in the same turn, and items that wait behind a statement in flight', async () => {
    const { coalescer, runs, releaseNext } = held();
    const first = [coalescer.submit(1), coalescer.submit(2)];
    await turn();
    const waiting = [coalescer.submit(3), coalescer.submit(4), coalescer.submit(5)];
    await turn();
    expect(runs).toEqual([[1, 2]]);
    releaseNext();
    expect(await Promise.all(first)).toEqual([10, 20]);
    await turn();
    expect(runs).toEqual([[1, 2], [3, 4, 5]]);
    releaseNext();
    expect(await Promise.all(waiting)).toEqual([30, 40, 50]);
  });

  it('keeps to maxBatch and maxInFlight', async () => {
    const { coalescer, runs, releaseNext } = held({ maxBatch: 2, maxInFlight: 2 });
    const answers = [1, 2, 3, 4, 5].map((item) => coalescer.submit(item));
    await turn();
    expect(runs).toEqual([[1, 2], [3, 4]]);
    releaseNext();
    await answers[0];
    await turn();
    expect(runs).toEqual([[1, 2], [3, 4], [5]]);
    releaseNext();
    releaseNext();
    expect(await Promise.all(answers)).toEqual([10, 20, 30, 40, 50]);
  });

  it('answers each item on its own: one error rejects only its caller', async () => {
    const { coalescer, releaseNext } = held();
    const answers = [coalescer.submit(1), coalescer.submit(-2), coalescer.submit(3)].map((answer) =>
      answer.then(
        (value) => ({ value }),
        (error: Error) => ({ error: error.message }),
      ),
    );
    await turn();
    releaseNext();
    expect(await Promise.all(answers)).toEqual([{ value: 10 }, { error: 'refused -2' }, { value: 30 }]);
  });

  it('rejects every item of a batch whose run throws, and goes on with the next batch', async () => {
    let calls = 0;
    const coalescer = new Coalescer<number, number>(
      async (items) => {
        calls += 1;
        if (calls === 1) throw new Error('database away');
        return items.map((item) => ({ value: item }));
      },
      { maxBatch: 10, maxInFlight: 1 },
    );
    const failed = [coalescer.submit(1), coalescer.submit(2)].map((answer) => answer.catch((error: Error) => error.message));
    expect(await Promise.all(failed)).toEqual(['database away', 'database away']);
    expect(await coalescer.submit(3)).toBe(3);
  });

  it('leaves an item that may not join for the next batch', async () => {
    // Equal items may not share a batch (as one webhook delivery id may not).
    const { coalescer, runs, releaseNext } = held({}, (batch, item) => !batch.includes(item));
    const answers = [coalescer.submit(7), coalescer.submit(7), coalescer.submit(8)];
    await turn();
    expect(runs).toEqual([[7, 8]]);
    releaseNext();
    await answers[0];
    await turn();
    expect(runs).toEqual([[7, 8], [7]]);
    releaseNext();
    expect(await Promise.all(answers)).toEqual([70, 70, 80]);
  });
});
