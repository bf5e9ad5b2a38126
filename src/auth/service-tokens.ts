/**
 * Service tokens: `SERVICE_TOKENS=name:token,name[scope+scope]:token`. A token names its caller in
 * logs and audit rows; its value is never logged. A token with no scopes listed may do everything;
 * one with scopes may do only those (a Database Webhook's token, say, only `webhook`).
 * Comparison is constant-time over every configured token, so neither a match's position nor a
 * near miss shows in the response time.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

export const MIN_TOKEN_LENGTH = 32;

/** What a token may do: `sync` profiles, `read` users, post `webhook`s, run `admin` jobs. */
export const SCOPES = ['sync', 'read', 'webhook', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ServiceToken {
  name: string;
  scopes: readonly Scope[];
  /** SHA-256 of the token: fixed length, so `timingSafeEqual` applies whatever the input's length. */
  digest: Buffer;
}

export type ParsedTokens = { ok: true; tokens: ServiceToken[] } | { ok: false; error: string };

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const NAME_WITH_SCOPES = /^([^[\]]*)(?:\[([^\]]*)\])?$/;

/** One-shot: no Hash object per call, on the path of every service-token request. */
const sha256 = (value: string): Buffer => hash('sha256', value, 'buffer');

export function parseServiceTokens(raw: string): ParsedTokens {
  const tokens: ServiceToken[] = [];
  const entries = raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (entries.length === 0) return { ok: false, error: 'expected at least one name:token pair' };
  for (const [index, entry] of entries.entries()) {
    const colon = entry.indexOf(':');
    if (colon <= 0) return { ok: false, error: `entry ${index + 1} is not of the form name:token` };
    const [, name = '', scopeList] = NAME_WITH_SCOPES.exec(entry.slice(0, colon)) ?? [];
    const token = entry.slice(colon + 1);
    if (!NAME.test(name)) {
      return { ok: false, error: `entry ${index + 1}: the name must be 1-64 letters, digits, '.', '_' or '-'` };
    }
    const scopes = scopeList === undefined ? [...SCOPES] : scopeList.split('+').map((scope) => scope.trim());
    const unknown = scopes.find((scope) => !(SCOPES as readonly string[]).includes(scope));
    if (unknown !== undefined || scopes.length === 0) {
      return {
        ok: false,
        error: `the token named "${name}" has scope "${unknown ?? ''}"; scopes are ${SCOPES.join(', ')}, joined with +`,
      };
    }
    if (token.length < MIN_TOKEN_LENGTH) {
      return {
        ok: false,
        error: `the token named "${name}" is ${token.length} characters; tokens must be at least ${MIN_TOKEN_LENGTH}`,
      };
    }
    if (tokens.some((existing) => existing.name === name)) {
      return { ok: false, error: `the name "${name}" is used twice` };
    }
    tokens.push({ name, scopes: scopes as Scope[], digest: sha256(token) });
  }
  return { ok: true, tokens };
}

/** Returns the token presented, or undefined. Always checks every token. */
export function matchServiceToken(tokens: readonly ServiceToken[], presented: string): ServiceToken | undefined {
  const digest = sha256(presented);
  let match: ServiceToken | undefined;
  for (const token of tokens) {
    if (timingSafeEqual(token.digest, digest) && match === undefined) match = token;
  }
  return match;
}

/** A random token for embedded mode's generated admin: 32 bytes, base64url (43 characters). */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}
