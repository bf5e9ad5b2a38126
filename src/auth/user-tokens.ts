/**
 * Supabase user access tokens, for `POST /sync/me`: verified here with jose, never by asking
 * Supabase. HS256 with the project's legacy JWT secret, or ES256/RS256 against the project's
 * JWKS (fetched, cached, and fetched again when a token names a key id it has not seen).
 * supabase-js's getClaims() checks neither `iss` nor `aud`; this does, and refuses `alg: none`
 * and an HS256 token when only asymmetric keys are configured.
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
  issuer?: string | undefined;
}

const AUDIENCE = 'authenticated';
const ASYMMETRIC = ['ES256', 'RS256'];

const invalid = (detail: string) => new ProblemError('invalid_token', detail);

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
    // every 30 s, so a key rotation is picked up without letting tokens force a fetch each.
    this.#jwks =
      options.jwksUrl === undefined
        ? undefined
        : createRemoteJWKSet(new URL(options.jwksUrl), { cacheMaxAge: 600_000, cooldownDuration: 30_000 });
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
    const options = { audience: AUDIENCE, ...(this.#issuer ? { issuer: this.#issuer } : {}) };
    let payload: JWTPayload;
    try {
      if (alg === 'HS256') {
        if (this.#secret === undefined) throw invalid('HS256 tokens are not accepted: this service checks the project\'s asymmetric keys.');
        ({ payload } = await jwtVerify(token, await this.#secret, { ...options, algorithms: ['HS256'] }));
      } else if (alg !== undefined && ASYMMETRIC.includes(alg)) {
        if (this.#jwks === undefined) throw invalid(`${alg} tokens are not accepted: no JWKS is configured (SUPABASE_URL or SUPABASE_JWKS_URL).`);
        ({ payload } = await jwtVerify(token, this.#jwks, { ...options, algorithms: ASYMMETRIC }));
      } else {
        throw invalid(`Tokens signed with "${alg ?? 'nothing'}" are not accepted.`);
      }
    } catch (error) {
      if (error instanceof ProblemError) throw error;
      // The keys could not be fetched: nobody's fault here, so a 503 to retry, not a 401.
      if (error instanceof errors.JWKSTimeout || !(error instanceof errors.JOSEError)) {
        throw new ProblemError('supabase_unavailable', 'The project\'s signing keys (JWKS) could not be fetched.', {
          retryAfter: 5,
          cause: error,
        });
      }
      if (error instanceof errors.JWTExpired) throw new ProblemError('token_expired', 'The access token has expired; refresh the session and retry.');
      if (error instanceof errors.JWTClaimValidationFailed) throw invalid(`The token's "${error.claim}" claim is not accepted (${error.reason}).`);
      if (error instanceof errors.JOSEError) throw invalid('The token\'s signature does not verify with the project\'s keys.');
      throw error;
    }
    if (typeof payload.sub !== 'string' || !isUuid(payload.sub)) throw invalid('The token names no user (sub).');
    return { userId: payload.sub.toLowerCase(), isAnonymous: payload.is_anonymous === true };
  }
}
