/**
 * `GET /users/missing` over HTTP against the keyset query a DBA would write by hand, on the
 * first, a middle and the last page of a large population: each page must cost about what its
 * one query costs, wherever it falls.
 */
import pg from 'pg';
import { encodeCursor } from '../../src/http/cursor.ts';
import { alternate, median } from './alternate.ts';
import { createBigDatabase, missingIdsInPageOrder } from './big-database.ts';
import { compare, type Comparison } from './report.ts';
import type { BenchContext } from './section.ts';
import { startPostgresService } from './service-child.ts';

const PAGE_SIZE = 1000;

/**
 * The baseline: the back end's keyset query, with the cursor's bound on both keys (without it on
 * the profiles' key, a merge anti-join reads that key from its start: 167 ms for a middle page of
 * a million users instead of 60), written out with the cursor inlined rather than OR'ed with NULL.
 */
const baselineSql = (afterId: boolean) => `
  SELECT u.id, u.email, u.created_at
    FROM auth.users u
   WHERE u.deleted_at IS NULL ${afterId ? 'AND u.id > $2' : ''}
     AND NOT EXISTS (SELECT 1 FROM public.users p WHERE p.id = u.id ${afterId ? 'AND p.id > $2' : ''})
   ORDER BY u.id
   LIMIT $1`;

interface MissingPage {
  users: { id: string }[];
  nextCursor: string | null;
}

export async function missingPages(context: BenchContext): Promise<Comparison[]> {
  const users = context.quick ? 100_000 : 1_000_000;
  const missing = users / 10;
  const rounds = context.quick ? 10 : 40;
  const database = await createBigDatabase(context, { users, missing, stale: users / 100 });
  const service = await startPostgresService(database.url);
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const ids = missingIdsInPageOrder(missing);
    // A page starts after its cursor, the last id of the page before it.
    const pages = [
      { name: 'first page', after: null },
      { name: 'middle page', after: ids[missing / 2 - 1]! },
      { name: 'last page', after: ids[missing - PAGE_SIZE - 1]! },
    ];
    const rows: Comparison[] = [];
    for (const { name, after } of pages) {
      const path = `/users/missing?limit=${PAGE_SIZE}${after === null ? '' : `&cursor=${encodeCursor(after)}`}`;
      const params = after === null ? [PAGE_SIZE] : [PAGE_SIZE, after];
      const sql = baselineSql(after !== null);

      // Both must list the same users (this also warms the pool and the cache).
      const page = await service.request<MissingPage>('GET', path);
      const { rows: expected } = await client.query<{ id: string }>(sql, params);
      if (page.users.map((user) => user.id).join() !== expected.map((row) => row.id).join()) {
        throw new Error(`GET /users/missing and the baseline list different users on the ${name}`);
      }
      if ((page.nextCursor === null) !== (name === 'last page')) throw new Error(`unexpected nextCursor on the ${name}`);

      const timed = async (work: () => Promise<unknown>) => {
        const started = performance.now();
        await work();
        return performance.now() - started;
      };
      const times = await alternate(
        rounds,
        () => timed(() => service.request('GET', path)),
        () => timed(() => client.query(sql, params)),
      );
      rows.push(
        compare({
          section: 'GET /users/missing',
          metric: `${name} (median)`,
          unit: 'ms',
          service: median(times.service),
          baseline: median(times.baseline),
          baselineName: 'the keyset query alone (node-postgres)',
          target: { of: 'ratio', op: '<=', value: 1.5 },
          notes: `${users} users, ${missing} without a profile, pages of ${PAGE_SIZE}; ${rounds} requests each, alternating`,
        }),
      );
    }
    return rows;
  } finally {
    await client.end();
    await service.stop();
    await database.drop();
  }
}
