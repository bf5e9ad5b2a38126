/**
 * Opaque keyset cursors for `GET /users/missing`: base64url of a versioned payload, so the format
 * can change without breaking clients that only pass cursors back.
 */
import { ProblemError } from '../errors/problems.ts';

const PREFIX = 'v1:';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const encodeCursor = (lastId: string): string => Buffer.from(PREFIX + lastId, 'utf8').toString('base64url');

export function decodeCursor(cursor: string): string {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = decoded.startsWith(PREFIX) ? decoded.slice(PREFIX.length) : '';
  if (!UUID.test(id)) {
    throw new ProblemError('invalid_cursor', 'The cursor was not issued by this service; pass nextCursor as it came.');
  }
  return id.toLowerCase();
}
