/**
 * Joins concurrent one-user writes into one statement, as a database's group commit joins
 * concurrent commits into one flush.
 *
 * Under load, dozens of requests wait for a sync at the same moment; each paying for a statement
 * of its own (a round trip, a parse and execution start-up in PostgreSQL, a result to read in
 * Node) costs more than the work itself. Items submitted while the event loop handles the same
 * batch of I/O, or while `maxInFlight` statements are already running, are run together, up to
 * `maxBatch` at a time. A lone item is run on the next turn of the loop, alone: at low load
 * latency is what it was.
 *
 * `run` answers each item on its own (a value or an error), so one caller's refusal is not
 * another's; if `run` itself throws, every item of the batch gets that error.
 */
export type Settled<T> = { value: T } | { error: unknown };

export interface CoalescerOptions {
  /** Items in one statement at most; 1 turns joining off (each item runs alone). */
  maxBatch: number;
  /** Statements running at once; further items wait and join the next one. */
  maxInFlight: number;
  /** Told the size of each batch as it starts (metrics). */
  onBatch?: (size: number) => void;
}

interface Waiting<Item, Result> {
  item: Item;
  resolve: (value: Result) => void;
  reject: (error: unknown) => void;
}

export class Coalescer<Item, Result> {
  readonly #run: (items: Item[]) => Promise<Settled<Result>[]>;
  readonly #options: CoalescerOptions;
  /** Whether `item` may go in a batch already holding `batch` (else it waits for the next one). */
  readonly #canJoin: (batch: readonly Item[], item: Item) => boolean;
  #waiting: Waiting<Item, Result>[] = [];
  #inFlight = 0;
  #scheduled = false;

  constructor(
    run: (items: Item[]) => Promise<Settled<Result>[]>,
    options: CoalescerOptions,
    canJoin: (batch: readonly Item[], item: Item) => boolean = () => true,
  ) {
    this.#run = run;
    this.#options = options;
    this.#canJoin = canJoin;
  }

  submit(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  /**
   * Starts the batch on the loop's check phase (setImmediate): requests whose bytes arrived in the
   * same poll phase are all parsed by then, and join it.
   */
  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#options.maxInFlight) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    while (this.#waiting.length > 0 && this.#inFlight < this.#options.maxInFlight) {
      const batch = this.#take();
      this.#options.onBatch?.(batch.length);
      this.#inFlight += 1;
      void this.#settle(batch).finally(() => {
        this.#inFlight -= 1;
        // Whatever waited behind the statements in flight goes now: it has waited long enough.
        this.#flush();
      });
    }
  }

  /** The next batch: the oldest items, in order, up to `maxBatch`, skipping those that may not join. */
  #take(): Waiting<Item, Result>[] {
    const batch: Waiting<Item, Result>[] = [];
    const items: Item[] = [];
    const left: Waiting<Item, Result>[] = [];
    for (const waiting of this.#waiting) {
      if (batch.length < this.#options.maxBatch && this.#canJoin(items, waiting.item)) {
        batch.push(waiting);
        items.push(waiting.item);
      } else {
        left.push(waiting);
      }
    }
    this.#waiting = left;
    return batch;
  }

  async #settle(batch: Waiting<Item, Result>[]): Promise<void> {
    let results: Settled<Result>[];
    try {
      results = await this.#run(batch.map(({ item }) => item));
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
      return;
    }
    batch.forEach((waiting, index) => {
      const result = results[index];
      if (result === undefined) waiting.reject(new Error('a coalesced batch returned fewer results than it had items'));
      else if ('error' in result) waiting.reject(result.error);
      else waiting.resolve(result.value);
    });
  }
}
