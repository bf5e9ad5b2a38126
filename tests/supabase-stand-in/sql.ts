/**
 * Helpers for the SQL text the stand-in writes, the way PostgREST and GoTrue do: identifiers are
 * quoted by hand, and every value from a request travels as a `$n` parameter.
 */

/** A PostgreSQL identifier, always quoted (so case and odd characters survive). */
export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/**
 * Parameters of one statement. Every value goes to PostgreSQL as text and is cast where it is used:
 * node-postgres and PGlite then see the same statement, and PostgreSQL itself refuses a value its
 * type does not accept (22P02 and the like), as it does for PostgREST's untyped literals.
 */
export class SqlParams {
  readonly values: string[] = [];

  /** A new parameter, typed text. */
  text(value: string): string {
    this.values.push(value);
    return `$${this.values.length}::text`;
  }

  /**
   * A new parameter of `type` (a type name as format_type() prints it). Typed at the parameter,
   * so PostgreSQL parses it once: a cast around a text parameter inside `= ANY(…)` would be
   * evaluated again for every row.
   */
  cast(value: string, type: string): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
}

/**
 * A PostgreSQL array literal of text elements, each quoted and escaped, as PostgREST builds the
 * right-hand side of `in.(…)` and `eq(any).{…}`.
 */
export function arrayLiteral(values: readonly string[]): string {
  const quoted = values.map((value) => `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`);
  return `{${quoted.join(',')}}`;
}

/** The PostgreSQL error fields both drivers expose (node-postgres and PGlite share pg-protocol's). */
export interface PgError {
  code: string;
  message: string;
  detail?: string | undefined;
  hint?: string | undefined;
}

export function isPgError(error: unknown): error is PgError {
  const code = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}
