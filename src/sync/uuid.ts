/**
 * The one test of "is this a user id": any 8-4-4-4-12 hex id, as PostgreSQL's uuid type accepts
 * it (Supabase issues v4 ids, but ids made by other tools need not carry an RFC 9562 version).
 * It is zod's `guid` pattern, the one the HTTP schemas validate route params with
 * (http/schemas.ts), so keyset cursors, the CLI and token subjects accept exactly what routes do.
 */
import { z } from 'zod';

export const isUuid = (value: string): boolean => z.regexes.guid.test(value);
