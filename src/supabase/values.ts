/**
 * Profile values over PostgREST. In SQL mode PostgreSQL casts and compares values; over HTTP
 * this module stands in: what to send for a column type (PostgREST casts JSON to the column), and
 * whether a value read back equals the one the field map gives, as the column would hold it.
 */
const TEXT_TYPES = new Set(['text', 'character varying', 'character', 'citext', 'name']);
const JSON_TYPES = new Set(['json', 'jsonb']);
const TIME_TYPES = new Set(['timestamp with time zone', 'timestamp without time zone', 'date']);
const NUMBER_TYPES = new Set(['smallint', 'integer', 'bigint', 'numeric', 'real', 'double precision']);

/** A JSON value with object keys sorted, so equal values compare equal as text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonical(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A scalar as text, anything else as canonical JSON. */
function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return value.toString();
  return canonical(value);
}

/** The JSON to send for `value` in a column of `type`. */
export function toRestValue(value: unknown, type: string): unknown {
  if (value === undefined || value === null) return null;
  if (JSON_TYPES.has(type)) return value;
  if (typeof value === 'object') return JSON.stringify(value);
  if (TEXT_TYPES.has(type)) return asText(value);
  return value;
}

/** Whether a column of `type` holding `current` already holds `expected`. */
export function sameValue(type: string, current: unknown, expected: unknown): boolean {
  const a = current ?? null;
  const b = expected ?? null;
  if (a === null || b === null) return a === b;
  if (JSON_TYPES.has(type)) return canonical(a) === canonical(b);
  if (TIME_TYPES.has(type)) {
    const [ta, tb] = [Date.parse(asText(a)), Date.parse(asText(b))];
    if (!Number.isNaN(ta) && !Number.isNaN(tb)) return ta === tb;
  }
  if (NUMBER_TYPES.has(type)) return Number(a) === Number(b);
  if (type === 'uuid') return asText(a).toLowerCase() === asText(b).toLowerCase();
  return asText(a) === asText(b);
}
