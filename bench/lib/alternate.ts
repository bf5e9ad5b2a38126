/**
 * Runs the service's measurement and the baseline's in alternation (A B B A A B …), so drift in
 * the machine's speed (another process, thermal limits, PostgreSQL's cache warming) lands on
 * both sides equally instead of on whichever ran second.
 */
export async function alternate<T>(
  rounds: number,
  service: () => Promise<T>,
  baseline: () => Promise<T>,
): Promise<{ service: T[]; baseline: T[] }> {
  const results = { service: [] as T[], baseline: [] as T[] };
  for (let round = 0; round < rounds; round++) {
    // ABBA order: each side goes first in half the rounds.
    if (round % 2 === 0) {
      results.service.push(await service());
      results.baseline.push(await baseline());
    } else {
      results.baseline.push(await baseline());
      results.service.push(await service());
    }
  }
  return results;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
