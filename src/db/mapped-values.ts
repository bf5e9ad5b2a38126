/**
 * FIELD_MAP in SQL: the expressions that give a profile column its value, either from an auth
 * user read in the same statement (the one-round-trip sync, reconcile batches) or from a value
 * `mapUser` computed in JavaScript (dry runs, inspections, a refused batch retried one by one). Both kinds of value go through the same
 * `columnValue`, so the two paths cannot disagree about how a value is written.
 *
 * `sourceValue` and `chosenValue` mirror `mapUser` (src/sync/field-map.ts) and
 * `normalizeAuthUser` (src/sync/auth-user.ts) exactly; tests/sql-mapping.test.ts compares them.
 */
import type { MappedColumn } from '../sync/field-map.ts';

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/**
 * Each top-level `AuthUser` field as jsonb over `auth.users u`, as `normalizeAuthUser` makes it
 * from the row `to_jsonb` renders (so timestamps are the same ISO text, in the session's zone).
 */
const AUTH_USER_FIELD_SQL: Readonly<Record<string, string>> = {
  id: 'to_jsonb(u.id)',
  // The admin API returns "" for a NULL email or phone; both mean "none".
  email: "to_jsonb(NULLIF(u.email, ''))",
  phone: "to_jsonb(NULLIF(u.phone, ''))",
  user_metadata: "CASE jsonb_typeof(u.raw_user_meta_data) WHEN 'object' THEN u.raw_user_meta_data ELSE '{}'::jsonb END",
  app_metadata: "CASE jsonb_typeof(u.raw_app_meta_data) WHEN 'object' THEN u.raw_app_meta_data ELSE '{}'::jsonb END",
  created_at: 'to_jsonb(u.created_at)',
  updated_at: 'to_jsonb(u.updated_at)',
  last_sign_in_at: 'to_jsonb(u.last_sign_in_at)',
  email_confirmed_at: 'to_jsonb(u.email_confirmed_at)',
  deleted_at: 'to_jsonb(u.deleted_at)',
  is_anonymous: 'to_jsonb(COALESCE(u.is_anonymous, false))',
  banned_until: 'to_jsonb(u.banned_until)',
};

const METADATA_COLUMN: Readonly<Record<string, string>> = {
  user_metadata: 'u.raw_user_meta_data',
  app_metadata: 'u.raw_app_meta_data',
};

/**
 * One source as jsonb (SQL NULL when absent). A metadata path walks with `->` and text keys,
 * which yields NULL on anything but an object (an array, a scalar, null): like `readSource`,
 * which never indexes into arrays. (`#>` would: '{tags,0}' reads an array's first element.)
 */
export function sourceValue(source: string): string {
  const [head, ...path] = source.split('.');
  if (path.length === 0) return AUTH_USER_FIELD_SQL[head!]!;
  return `(${METADATA_COLUMN[head!]!}${path.map((key) => ` -> ${literal(key)}`).join('')})`;
}

/** The first present source (not absent, not null, not ""), as `mapUser`'s fallback chain picks it. */
export const chosenValue = (sources: readonly string[]): string =>
  `COALESCE(${sources.map((source) => `NULLIF(NULLIF(${sourceValue(source)}, 'null'::jsonb), '""'::jsonb)`).join(', ')})`;

/**
 * The bounds of a double: beyond the first, JavaScript reads a JSON number as ±Infinity (which
 * JSON.stringify writes as null); below the second, as 0. PostgreSQL refuses both as float8, so
 * they are answered before the cast (each a hair inside the exact bound, on the safe side).
 */
const DOUBLE_OVERFLOW = '1.797693134862315807e308';
const DOUBLE_UNDERFLOW = '2.4703282292062328e-324';

/**
 * A JSON number as JavaScript's String(number) writes it, after JSON.parse made it a double:
 * `1.0` → "1", `1e15` → "1000000000000000", `1e21` → "1e+21", `1e-7` → "1e-7". float8's text
 * (shortest round-trip digits, PostgreSQL ≥ 12 with the default extra_float_digits) has the same
 * digits; only its choice of exponent form and its two-digit exponents differ.
 */
const numberText = (n: string) =>
  `CASE WHEN abs(${n}::numeric) >= ${DOUBLE_OVERFLOW} THEN NULL WHEN abs(${n}::numeric) < ${DOUBLE_UNDERFLOW} THEN '0' ` +
  `WHEN abs(${n}::float8) >= 1e21 OR abs(${n}::float8) < 1e-6 THEN regexp_replace(${n}::float8::text, 'e([+-])0(\\d)$', 'e\\1\\2') ` +
  `ELSE trim_scale(${n}::float8::text::numeric)::text END`;

/**
 * A mapped column's value from a JSON value (jsonb, SQL NULL for none): json/jsonb columns take
 * it as it is; any other column takes its text (a string's content, a number as JavaScript prints
 * it, anything else its JSON text) cast to the column's type, so the database decides what the
 * column can hold and a value it cannot is refused (class 22/23: 422 or 409).
 */
export function columnValue(json: string, { type, sources }: Pick<MappedColumn, 'type' | 'sources'>): string {
  const value = `(${json})`;
  if (type === 'jsonb') return value;
  if (type === 'json') return `${value}::json`;
  // No top-level AuthUser field is a number: only a metadata path can give one.
  const mayBeNumber = sources.some((source) => source.includes('.'));
  const text = mayBeNumber ? `CASE jsonb_typeof(${value}) WHEN 'number' THEN ${numberText(value)} ELSE ${value} #>> '{}' END` : `${value} #>> '{}'`;
  return `(${text})::${type}`;
}
