/**
 * Opaque cursors for `GET /users/missing`: base64url of a versioned wrapper around the back end's
 * own position (a last id for SQL, a page and offset for the Supabase API), so either can change
 * without breaking clients that only pass cursors back.
 */
import { ProblemError } from '../errors/problems.ts';

const PREFIX = 'v1:';

export const encodeCursor = (position: string): string => Buffer.from(PREFIX + position, 'utf8').toString('base64url');

/** The back end's position; it checks the position itself. */
export function decodeCursor(cursor: string): string {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!decoded.startsWith(PREFIX) || decoded.length === PREFIX.length) {
    throw new ProblemError('invalid_cursor', 'The cursor was not issued by this service; pass nextCursor as it came.');
  }
  return decoded.slice(PREFIX.length);
}
