/**
 * A bench database filled by seed:big: users 1..missing lack a profile, the next `stale` have a
 * stale one. Seeding a million users takes tens of seconds, so the size is logged as it goes.
 */
import { bigUserId, seedBig, type BigSeedOptions } from '../../scripts/seed-big.ts';
import { createBenchDatabase, type BenchDatabase } from './database.ts';
import type { BenchContext } from './section.ts';

export async function createBigDatabase(context: BenchContext, options: BigSeedOptions): Promise<BenchDatabase> {
  const database = await createBenchDatabase(context.adminUrl);
  try {
    context.log(`seeding ${database.name}: ${options.users} users, ${options.missing} missing, ${options.stale} stale`);
    await seedBig(database.url, options, (line) => context.log(line));
    return database;
  } catch (error) {
    await database.drop();
    throw error;
  }
}

/** The ids of the users without a profile, in the order keyset pages list them (uuid order is hex order). */
export function missingIdsInPageOrder(missing: number): string[] {
  return Array.from({ length: missing }, (_, index) => bigUserId(index + 1)).sort();
}
