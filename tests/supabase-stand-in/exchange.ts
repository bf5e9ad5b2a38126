/**
 * The request and response shapes the stand-in's handlers work with, kept apart from Fastify so
 * each API is a plain function of a request.
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface StandInRequest {
  method: string;
  /** The path below the API's prefix, still percent-encoded: `/admin/users`, `/users`, `/`. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The raw body text; undefined when there was none. */
  body: string | undefined;
}

export interface StandInResponse {
  status: number;
  headers: Record<string, string>;
  body?: string;
}

/** Every value of a header, split headers joined back as Node splits them. */
export function headerValues(request: StandInRequest, name: string): string[] {
  const value = request.headers[name.toLowerCase()];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

export function header(request: StandInRequest, name: string): string | undefined {
  const values = headerValues(request, name);
  return values.length === 0 ? undefined : values.join(', ');
}

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): StandInResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}
