import type { Comparison } from './report.ts';

export interface BenchContext {
  /** Maintenance database URL on the PostgreSQL server; sections create their own databases through it. */
  adminUrl: string;
  /** Smaller sizes and shorter runs: checks the benchmark still works, measures nothing worth keeping. */
  quick: boolean;
  /** Progress lines, to stderr, so stdout holds only the table. */
  log(line: string): void;
}

/** One benchmark: measures the service and its baseline, returns the comparisons. */
export type Section = (context: BenchContext) => Promise<Comparison[]>;
