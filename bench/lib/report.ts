/**
 * What every benchmark section returns, and how the runner prints and saves it. Each figure is
 * a ratio of the service's measurement to a baseline measured in the same run on the same
 * database, so the machine's speed cancels out; the target is on that ratio (or, for memory
 * growth, on the absolute figure, where saying so in `target.of`). A row without a target is
 * there for information (a figure the issue sets no bar for) and is never counted as missed.
 */
export interface Target {
  of: 'ratio' | 'value';
  op: '>=' | '<=';
  value: number;
}

export interface Comparison {
  /** What is measured, e.g. `POST /sync/:userId`. */
  section: string;
  /** e.g. `throughput`, `p50`, `p99`, `time`, `peak RSS`. */
  metric: string;
  /** Unit of `service` and `baseline`, e.g. `req/s`, `ms`, `MB`. */
  unit: string;
  /** The service's figure. */
  service: number;
  /** The baseline's figure, and what the baseline was. */
  baseline: number;
  baselineName: string;
  /** service / baseline. */
  ratio: number;
  /** The target, on the ratio unless `of` says `value` (then on `service`, in `unit`); null: none, for information. */
  target: Target | null;
  /** Null where there is no target. */
  met: boolean | null;
  /** Anything a reader needs to make sense of the row (sample sizes, rounds, spread). */
  notes?: string;
}

export function compare(
  row: Omit<Comparison, 'ratio' | 'met'>,
): Comparison {
  const ratio = row.baseline === 0 ? Number.NaN : row.service / row.baseline;
  return { ...row, ratio, met: row.target === null ? null : meets(row.target, row.target.of === 'ratio' ? ratio : row.service) };
}

const meets = (target: Target, measured: number) => (target.op === '>=' ? measured >= target.value : measured <= target.value);

const describe = (target: Target | null, unit: string) =>
  target === null
    ? 'none (information)'
    : `${target.of === 'ratio' ? 'ratio' : 'value'} ${target.op} ${target.value}${target.of === 'ratio' ? '×' : ` ${unit}`}`;

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

export function formatTable(rows: readonly Comparison[]): string {
  const header = ['section', 'metric', 'service', 'baseline', 'ratio', 'target', 'met'];
  const lines = rows.map((row) => [
    row.section,
    row.metric,
    `${fixed(row.service, row.unit === 'req/s' ? 0 : 1)} ${row.unit}`,
    `${fixed(row.baseline, row.unit === 'req/s' ? 0 : 1)} ${row.unit}`,
    `${fixed(row.ratio, 2)}×`,
    describe(row.target, row.unit),
    row.met === null ? '–' : row.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((line) => line[i]!.length)));
  const render = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  return [render(header), render(widths.map((w) => '-'.repeat(w))), ...lines.map(render)].join('\n');
}
