/**
 * Supabase user access tokens, for `POST /sync/me`: verified here with jose, never by asking
 * Supabase. HS256 with the project's legacy JWT secret, or ES256/RS256 against the project's
 * JWKS (fetched, cached, and fetched again when a token names a key id it has not seen).
 * supabase-js's getClaims() checks neither `iss` nor `aud`; this does, and requires `exp`, `sub`,
 * `aud` = authenticated, `iss` = the project's Auth URL and `role` = authenticated (a project's
 * anon or service_role key is also a JWT signed with its secret, with role anon or service_role:
 * no user's token). It refuses `alg: none` and an HS256 token when only asymmetric keys are
 * configured. Keys it cannot fetch are a 503 to retry, never the caller's bad token.
 * @see docs/supabase-access-tokens.md
 */
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type CryptoKey, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ProblemError } from '../errors/problems.ts';
import { isUuid } from '../sync/uuid.ts';

export interface UserClaims {
  userId: string;
  isAnonymous: boolean;
}

export interface UserTokenOptions {
  hsSecret?: string | undefined;
  jwksUrl?: string | undefined;
  /** Checked against `iss`; configuration requires one whenever keys are given. */
  issuer?: string | undefined;
  /** Least time between two JWKS fetches for an unknown `kid` (default 30 s). */
  jwksCooldownSeconds?: number | undefined;
}

const AUDIENCE = 'authenticated';
const ROLE = 'authenticated';
const ASYMMETRIC = ['ES256', 'RS256'];
const REQUIRED_CLAIMS = ['exp', 'sub', 'aud', 'iss'];

const invalid = (detail: string) => new ProblemError('invalid_token', detail);

/**
 * Whether a verification failed because the JWKS could not be had: the network (a non-JOSE
 * error), a timeout, an answer other than 200 or not JSON (jose's generic error), or not a key set.
 */
const isKeyFetchFailure = (error: unknown) =>
  !(error instanceof errors.JOSEError) ||
  error instanceof errors.JWKSTimeout ||
  error instanceof errors.JWKSInvalid ||
  error.code === errors.JOSEError.code;

export class UserTokenVerifier {
  /** The HS256 key, imported once: handing jose the raw bytes makes it import them again on every verification. */
  readonly #secret: Promise<CryptoKey> | undefined;
  readonly #jwks: JWTVerifyGetKey | undefined;
  readonly #issuer: string | undefined;

  constructor(options: UserTokenOptions) {
    this.#secret =
      options.hsSecret === undefined
        ? undefined
        : crypto.subtle.importKey('raw', new TextEncoder().encode(options.hsSecret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
    // Supabase caches its JWKS for 10 minutes; so do we. An unknown `kid` refetches, at most
    // every 30 s by default, so a key rotation is picked up without letting tokens force a fetch each.
    this.#jwks =
      options.jwksUrl === undefined
        ? undefined
        : createRemoteJWKSet(new URL(options.jwksUrl), {
            cacheMaxAge: 600_000,
            cooldownDuration: (options.jwksCooldownSeconds ?? 30) * 1000,
          });
    this.#issuer = options.issuer;
  }

  /** Whether any way of checking user tokens is configured. */
  get configured(): boolean {
    return this.#secret !== undefined || this.#jwks !== undefined;
  }

  async verify(token: string): Promise<UserClaims> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw invalid('The token is not a JWT.');
    }
    const options = { audience: AUDIENCE, requiredClaims: REQUIRED_CLAIMS, ...(this.#issuer ? { issuer: this.#issuer } : {}) };
    let payload: JWTPayload;
    try {
      if (alg === 'HS256') {
        if (this.#secret === undefined) throw invalid('HS256 tokens are not accepted: this service checks the project\'s asymmetric keys.');
        ({ payload } = await jwtVerify(token, await this.#secret, { ...options, algorithms: ['HS256'] }));
      } else if (alg !== undefined && ASYMMETRIC.includes(alg)) {
        if (this.#jwks === undefined) throw invalid(`${alg} tokens are not accepted: no JWKS is configured (SUPABASE_URL or SUPABASE_JWKS_URL).`);
        try {
          ({ payload } = await jwtVerify(token, this.#jwks, { ...options, algorithms: ASYMMETRIC }));
        } catch (error) {
          // Our key fetch failed: nobody's fault here, so a 503 to retry, not a 401.
          if (isKeyFetchFailure(error)) {
            throw new ProblemError('auth_keys_unavailable', 'The project\'s signing keys (JWKS) could not be fetched; retry shortly.', {
              retryAfter: 5,
              cause: error,
            });
          }
          throw error;
        }
      } else {
        throw invalid(`Tokens signed with "${alg ?? 'nothing'}" are not accepted.`);
      }
    } catch (error) {
      if (error instanceof ProblemError) throw error;
      if (error instanceof errors.JWTExpired) throw new ProblemError('token_expired', 'The access token has expired; refresh the session and retry.');
      if (error instanceof errors.JWTClaimValidationFailed) throw invalid(`The token's "${error.claim}" claim is not accepted (${error.reason}).`);
      if (error instanceof errors.JOSEError) throw invalid('The token\'s signature does not verify with the project\'s keys.');
      throw error;
    }
    if (typeof payload.sub !== 'string' || !isUuid(payload.sub)) throw invalid('The token names no user (sub).');
    if (payload.role !== ROLE) {
      throw invalid(`The token's role is ${JSON.stringify(payload.role ?? null)}, not "${ROLE}": only a signed-in user's access token is accepted here.`);
    }
    return { userId: payload.sub.toLowerCase(), isAnonymous: payload.is_anonymous === true };
  }
}
