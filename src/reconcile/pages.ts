/**
 * Keyset pages one after another, each next page read while the caller works on the current one.
 * A reconcile batch is a page read and a write; on PostgreSQL they run on two pool connections at
 * once, so the read costs no wall time (on PGlite they simply queue, as before). A page that
 * starts after the current one's last id cannot see the current batch's writes, so reading it
 * early changes nothing it returns.
 */
import type { Paged } from '../sync/backend.ts';

export async function* prefetchedPages<T>(
  read: (cursor: string | null) => Promise<Paged<T>>,
  cursor: string | null,
): AsyncGenerator<Paged<T>> {
  let next = read(cursor);
  for (;;) {
    const page = await next;
    if (page.nextCursor !== null) {
      next = read(page.nextCursor);
      // Awaited on the next turn; if the caller stops first, its failure must not go unhandled.
      next.catch(() => undefined);
    }
    yield page;
    if (page.nextCursor === null) return;
  }
}
