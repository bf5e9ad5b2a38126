/**
 * Failed authentication, counted per client address. Every 401 (a bad or missing service token,
 * user token or webhook signature) counts against the address it came from; an address over
 * AUTH_FAILURE_LIMIT in its window gets 429 `rate_limited` with Retry-After on every request until
 * the window ends, before its credentials are looked at or any other work is done. Guessing a
 * token then costs the guesser time, not us. A success does not reset the count (a guesser that
 * holds one good credential could otherwise keep guessing), and one address's failures never
 * count against another. Behind a proxy the address is the client's only when TRUST_PROXY says
 * which proxies to believe (Fastify's `trustProxy`); otherwise it is the proxy's.
 */
import type { FastifyInstance } from 'fastify';
import { ProblemError } from '../errors/problems.ts';

/** Addresses tracked at most; past it, expired windows are dropped, then the oldest. */
const MAX_ADDRESSES = 100_000;

interface Window {
  failures: number;
  /** When the window ends (ms since the epoch). */
  endsAt: number;
}

export class AuthFailureLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();

  constructor(limit: number, windowSeconds: number, now: () => number = Date.now) {
    this.#limit = limit;
    this.#windowMs = windowSeconds * 1000;
    this.#now = now;
  }

  /** Whole seconds until `address` may try again; 0 if it may now. */
  blockedFor(address: string): number {
    const window = this.#current(address);
    if (window === undefined || window.failures < this.#limit) return 0;
    return Math.max(1, Math.ceil((window.endsAt - this.#now()) / 1000));
  }

  fail(address: string): void {
    const window = this.#current(address);
    if (window !== undefined) {
      window.failures += 1;
      return;
    }
    if (this.#windows.size >= MAX_ADDRESSES) this.#makeRoom();
    this.#windows.set(address, { failures: 1, endsAt: this.#now() + this.#windowMs });
  }

  #current(address: string): Window | undefined {
    const window = this.#windows.get(address);
    if (window !== undefined && window.endsAt <= this.#now()) {
      this.#windows.delete(address);
      return undefined;
    }
    return window;
  }

  #makeRoom(): void {
    const now = this.#now();
    for (const [address, window] of this.#windows) if (window.endsAt <= now) this.#windows.delete(address);
    // Still full: windows are in the order they started, so the first is the oldest.
    if (this.#windows.size >= MAX_ADDRESSES) this.#windows.delete(this.#windows.keys().next().value!);
  }
}

/** The hooks: refuse a blocked address first thing, count each 401 once it is sent. */
export function registerAuthFailureLimit(app: FastifyInstance, limit: number, windowSeconds: number): void {
  if (limit === 0) return;
  const limiter = new AuthFailureLimiter(limit, windowSeconds);
  app.addHook('onRequest', (request, _reply, done) => {
    const wait = limiter.blockedFor(request.ip);
    if (wait === 0) {
      done();
      return;
    }
    done(
      new ProblemError('rate_limited', `More than ${limit} failed authentications from this address in ${windowSeconds} s; retry in ${wait} s.`, {
        retryAfter: wait,
      }),
    );
  });
  app.addHook('onResponse', (request, reply, done) => {
    if (reply.statusCode === 401) limiter.fail(request.ip);
    done();
  });
}
