/**
 * Keyset pages one after another, each next page read while the caller works on the current one.
 * For the reconcile batches that are a page read and then a write (orphans, dry runs, the
 * Supabase back end; a SQL back end's sync batch reads its page in the statement that writes it,
 * see batch.ts): on PostgreSQL the two run on two pool connections at once, so the read costs no
 * wall time (on PGlite they simply queue, as before). A page that starts after the current one's
 * last id cannot see the current batch's writes, so reading it early changes nothing it returns.
 */
import type { Paged } from '../sync/profile-store.ts';

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
