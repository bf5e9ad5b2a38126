/**
 * Property-based fuzzing of every route: path params, query strings, headers (credentials,
 * signatures, content types, origins) and bodies, 10,000 cases a run, through `app.inject()`.
 *
 * For every case, whatever the input:
 * - no 5xx (the only documented 5xx are outages, and nothing here takes the database away);
 * - every non-2xx answer is RFC 9457 problem+json with a catalogued `code` (helpers/problem-response.ts);
 * - a rejected request (4xx) writes nothing: triggers on every table the service can write count
 *   committed row writes (helpers/snapshot.ts, `installWriteProbe`), and a rejected request must
 *   not move the count. A request that succeeds may write (a valid sync of a seeded user, a
 *   webhook, a reconcile job). A full snapshot (row counts and md5s) around each property
 *   cross-checks the probe wherever it counted nothing.
 *
 * Deterministic: a fixed seed. On a failure fast-check prints the seed, the path to the failing
 * case and the shrunk input; rerun one property with `{ seed, path }` to replay it.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { demoUserId } from '../src/embedded/demo-seed.ts';
import { ADMIN_TOKEN, OTHER_TOKEN, READER_TOKEN, useTestApp } from './helpers/app.ts';
import { expectProblem } from './helpers/problem-response.ts';
import { installWriteProbe, snapshotDatabase, type WriteProbe } from './helpers/snapshot.ts';
import { waitFor } from './helpers/wait-for.ts';

/** Fixed, so every run tries the same cases; FUZZ_SEED explores others locally (and replays CI's). */
const SEED = process.env.FUZZ_SEED === undefined ? 0x5eed_2026 : Number(process.env.FUZZ_SEED);
/** Cases per property; they add up to the 10,000 a run promises. */
const RUNS = {
  public: 1_000,
  syncUser: 1_600,
  syncMe: 1_200,
  missing: 1_400,
  inspect: 1_000,
  webhooks: 2_000,
  reconcileStart: 900,
  reconcileJob: 900,
} as const;

const WEBHOOK_TOKEN = 'test-webhook-token-0123456789abcdefghijklmn';
const JWT_SECRET = 'fuzz-jwt-secret-with-at-least-32-characters-0123';
const ISSUER = 'https://fuzzfuzzfuzzfuzz.supabase.co/auth/v1';
const WEBHOOK_KEY = Buffer.from('fuzz-webhook-signing-key-32-bytes!!').toString('base64');
const WEBHOOK_SECRET = `v1,whsec_${WEBHOOK_KEY}`;
const FRONTEND = 'https://app.example.com';

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

const b64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');

/** Any text: full Unicode (lone surrogates included), NUL and control characters. */
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((code) => String.fromCharCode(code)), maxLength: 10 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', ' ', '\0', '%00', '\u202e', '\uffff', '\ud800', '💥', 'null', 'undefined', 'NaN', '[]', '{}', "' OR 1=1 --", '../..'),
);

/** The ids that exist in the seeded database: in sync, stale, missing, soft-deleted, orphaned. */
const SEEDED_IDS = [1, 5, 21, 22, 30, 36, 37, 38].map(demoUserId);

/** User ids: real ones, random valid UUIDs, near misses and junk. */
const userIdArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SEEDED_IDS) },
  { weight: 3, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: fc.uuid().map((id) => id.toUpperCase()) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.constantFrom('00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'me', 'missing'),
      fc.uuid().map((id) => id.replaceAll('-', '')),
      fc.uuid().map((id) => `{${id}}`),
      fc.uuid().map((id) => id.slice(0, -1)),
      fc.uuid().map((id) => `${id}0`),
      fc.uuid().map((id) => `${id.slice(0, -1)}g`),
      fc.uuid().map((id) => `${id}%00`),
    ),
  },
  { weight: 2, arbitrary: anyText },
);

/** A path segment as a client would send it: percent-encoded, or raw (bad escapes included). */
const pathSegment = (value: fc.Arbitrary<string>) =>
  fc.oneof(
    { weight: 4, arbitrary: value.map((text) => encodeURIComponent(text.replace(/[\ud800-\udfff]/g, '?'))) },
    { weight: 1, arbitrary: value.map((text) => text.replace(/[^\x21-\x7e]|[?#/]/g, '')) },
    { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%c3%28', '%ff', '%2e%2e%2f', '..%252f', '%E0%A4%A', '%00') },
  );

/** Numbers as a query string carries them: fine, out of range, fractional, huge, not numbers. */
const numberText = fc.oneof(
  fc.integer({ min: -2_000, max: 2_000 }).map(String),
  fc.constantFrom('1', '1000', '1001', '0', '-0', '-1', 'NaN', 'Infinity', '-Infinity', '1e3', '1e309', '0x10', ' 5', '5 ', '', '1.5',
    '99999999999999999999999999999', '9007199254740993', '١٠', 'true', '[]', '%00'),
  fc.double().map(String),
  fc.bigInt().map(String),
  anyText,
);

/** Cursors: real ones (base64url of "v1:<id>"), valid-looking base64 of anything, and junk. */
const cursorArb = fc.oneof(
  fc.constantFrom(...SEEDED_IDS).map((id) => b64url(`v1:${id}`)),
  fc.uuid().map((id) => b64url(`v1:${id}`)),
  anyText.map((text) => b64url(`v1:${text}`)),
  anyText.map((text) => b64url(text)),
  fc.uint8Array({ maxLength: 60 }).map((bytes) => b64url(Buffer.from(bytes))),
  fc.constantFrom('v1:', b64url('v1:'), '====', '-_-_', 'djE6', 'x'.repeat(201), b64url(`v1:${'a'.repeat(300)}`)),
  anyText,
);

/** A query string from `pairs`; a key may repeat, and either part may be raw or encoded. */
const queryString = (pairs: fc.Arbitrary<[string, string][]>) =>
  pairs.map((entries) =>
    entries.length === 0
      ? ''
      : '?' + entries.map(([key, value]) => `${key}=${encodeURIComponent(value.replace(/[\ud800-\udfff]/g, '?'))}`).join('&'),
  );

/** Query params no route declares, and some that poison naive parsers. */
const strayParam = fc.tuple(
  fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'x', 'limit[]', 'a.b', '%00'), fc.string({ maxLength: 8 }).map(encodeURIComponent)),
  anyText,
);

/** HS256 JWTs signed with the project's secret, with any claims: jose must judge, not us. */
function signJwt(header: object, payload: object, secret = JWT_SECRET): string {
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

const jwtArb = fc.oneof(
  // Well formed and valid, for seeded users and unknown ones (200, 404 or 403 for anonymous).
  {
    weight: 4,
    arbitrary: fc
      .record({ sub: fc.oneof(fc.constantFrom(...SEEDED_IDS), fc.uuid()), anonymous: fc.boolean() })
      .map(({ sub, anonymous }) =>
        signJwt({ alg: 'HS256', typ: 'JWT' }, { sub, aud: 'authenticated', iss: ISSUER, role: 'authenticated', exp: nowSeconds() + 3600, is_anonymous: anonymous }),
      ),
  },
  // Signed correctly, claims anything.
  fc
    .record(
      {
        sub: fc.oneof(fc.uuid(), anyText, fc.integer(), fc.constant(null)),
        aud: fc.oneof(fc.constant('authenticated'), anyText, fc.array(anyText, { maxLength: 3 })),
        iss: fc.oneof(fc.constant(ISSUER), anyText, fc.integer()),
        role: fc.oneof(fc.constantFrom('authenticated', 'anon', 'service_role'), anyText, fc.constant(null)),
        exp: fc.oneof(fc.constant(nowSeconds() + 3600), fc.integer(), fc.double(), anyText, fc.constant(1e308)),
        nbf: fc.oneof(fc.integer(), anyText),
        iat: fc.oneof(fc.integer(), anyText),
        is_anonymous: fc.jsonValue({ maxDepth: 1 }),
      },
      { requiredKeys: [] },
    )
    .map((claims) => signJwt({ alg: 'HS256', typ: 'JWT' }, claims)),
  // Any header: other algorithms, `none`, `crit`, a `kid`, `jwk` and `b64` tricks.
  fc
    .record({
      header: fc.oneof(
        fc.constantFrom(
          { alg: 'none' },
          { alg: 'RS256' },
          { alg: 'ES256', kid: 'x' },
          { alg: 'HS512' },
          { alg: 'HS256', crit: ['b64'], b64: false },
          { alg: 'HS256', jwk: { kty: 'oct', k: 'AAAA' } },
        ),
        fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
      ),
      sub: fc.uuid(),
    })
    .map(({ header, sub }) => signJwt(header, { sub, aud: 'authenticated', exp: nowSeconds() + 3600 })),
  // Signed with another secret, expired, or not JWTs at all.
  fc.uuid().map((sub) => signJwt({ alg: 'HS256' }, { sub, aud: 'authenticated', exp: nowSeconds() + 3600 }, 'another-secret-of-at-least-32-characters!!')),
  fc.uuid().map((sub) => signJwt({ alg: 'HS256' }, { sub, aud: 'authenticated', exp: nowSeconds() - 3600 })),
  fc.tuple(anyText, anyText, anyText).map((parts) => parts.map((part) => b64url(part)).join('.')),
  fc.array(fc.base64String({ maxLength: 40 }), { maxLength: 5 }).map((parts) => parts.join('.')),
);

/**
 * Header values as they can arrive over a socket (Node's parser takes visible ASCII, obs-text
 * bytes, spaces and tabs; nothing else reaches the app).
 */
const headerValue = fc.oneof(
  fc.string({ unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }), fc.constant(9)).map((code) => String.fromCharCode(code)), maxLength: 60 }),
  fc.constantFrom('', ' ', 'null', '0', '-1', '1e309', "' OR 1=1 --", '../../etc/passwd'),
);
const asHeaderValue = (text: string) => text.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?').trim();

/** Authorization header values: none, each real token, near misses, other schemes, JWTs, junk. */
const authorizationArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 4, arbitrary: fc.constantFrom(ADMIN_TOKEN, OTHER_TOKEN, READER_TOKEN, WEBHOOK_TOKEN).map((token) => `Bearer ${token}`) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.constantFrom(
        `bearer ${ADMIN_TOKEN}`,
        `Bearer  ${ADMIN_TOKEN}  `,
        `Bearer ${ADMIN_TOKEN} ${ADMIN_TOKEN}`,
        `Bearer ${ADMIN_TOKEN}, Bearer ${READER_TOKEN}`,
        `Basic ${ADMIN_TOKEN}`,
        `Token ${ADMIN_TOKEN}`,
        ADMIN_TOKEN,
        'Bearer',
        'Bearer ',
        `Bearer ${ADMIN_TOKEN.slice(0, -1)}`,
        `Bearer ${ADMIN_TOKEN}x`,
        `Bearer ${ADMIN_TOKEN.toUpperCase()}`,
      ),
      headerValue,
      headerValue.map((value) => `Bearer ${value}`),
    ),
  },
  { weight: 2, arbitrary: jwtArb.map((jwt) => `Bearer ${jwt}`) },
);

const contentTypeArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      undefined,
      'application/json; charset=utf-8',
      'application/json; charset=utf-16',
      'application/json; charset=latin1',
      'Application/JSON',
      'application/json;',
      'application/json, text/plain',
      'application/problem+json',
      'application/vnd.api+json',
      'text/plain',
      'text/plain; charset=utf-8',
      'multipart/form-data; boundary=----x',
      'application/x-www-form-urlencoded',
      'application/xml',
      'application/octet-stream',
      '*/*',
      'json',
      '',
      ';',
    ),
  },
  { weight: 1, arbitrary: headerValue },
);

/** Deeply nested arrays and objects, in the text of the body (no need to build them). */
const nestedJsonText = fc
  .record({ depth: fc.integer({ min: 1, max: 5_000 }), kind: fc.constantFrom('array', 'object', 'mixed') })
  .map(({ depth, kind }) => {
    if (kind === 'array') return '['.repeat(depth) + ']'.repeat(depth);
    if (kind === 'object') return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    return '{"record":{"id":'.repeat(depth) + '[]' + '}}'.repeat(depth);
  });

/** Bodies of any kind; `shaped` adds bodies near the route's real schema. */
const bodyArb = (shaped: fc.Arbitrary<unknown>[] = []) =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)) },
    { weight: 1, arbitrary: fc.object({ maxDepth: 3, withNullPrototype: false }).map((value) => JSON.stringify(value) ?? 'null') },
    { weight: 1, arbitrary: nestedJsonText },
    { weight: 1, arbitrary: anyText },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"x":1}}}', '{"a":', '{"a":1}{"b":2}', 'null', '""', '0', '\uFEFF{}', '{"a":"\\ud800"}'),
    },
    ...shaped.map((arbitrary) => ({ weight: 4, arbitrary: arbitrary.map((value) => JSON.stringify(value)) })),
  );

const originArb = fc.oneof(
  { weight: 8, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom(FRONTEND, 'https://evil.example.net', 'null', 'http://localhost:80', '*') },
  { weight: 1, arbitrary: headerValue },
);

/** Headers besides the main ones: request ids, stray ones, and names a server may trust too much. */
const extraHeadersArb = fc.dictionary(
  fc.oneof(
    fc.constantFrom('x-request-id', 'x-forwarded-for', 'x-forwarded-host', 'host', 'accept', 'accept-version', 'content-encoding', 'transfer-encoding-x', 'expect-x', 'x-http-method-override', 'webhook-id', 'prefer'),
    fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_!#$%&\'*+.^`|~'), minLength: 1, maxLength: 12 }),
  ),
  headerValue,
  { maxKeys: 4 },
);

interface FuzzRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS';
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
}

interface RequestParts {
  method: FuzzRequest['method'];
  url: string;
  authorization?: string | undefined;
  contentType?: string | undefined;
  origin?: string | undefined;
  extra?: Record<string, string>;
  body?: string | Buffer | undefined;
}

function toRequest(parts: RequestParts): FuzzRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(parts.extra ?? {})) {
    // `content-length` is the transport's to set; a wrong one only makes inject hang or cut.
    if (name.toLowerCase() !== 'content-length') headers[name.toLowerCase()] = asHeaderValue(value);
  }
  if (parts.authorization !== undefined) headers.authorization = asHeaderValue(parts.authorization);
  if (parts.origin !== undefined) headers.origin = asHeaderValue(parts.origin);
  if (parts.contentType !== undefined) headers['content-type'] = asHeaderValue(parts.contentType);
  // `host` decides same-origin for CORS; keep the server's own unless a case sets another.
  headers.host ??= 'localhost:80';
  return { method: parts.method, url: parts.url, headers, ...(parts.body === undefined ? {} : { payload: parts.body }) };
}

const mostlyPost = fc.oneof(
  { weight: 9, arbitrary: fc.constant('POST' as const) },
  { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS') },
);
const mostlyGet = fc.oneof(
  { weight: 9, arbitrary: fc.constant('GET' as const) },
  { weight: 1, arbitrary: fc.constantFrom('HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS') },
);

const commonParts = {
  authorization: authorizationArb,
  origin: originArb,
  extra: extraHeadersArb,
};

// ---------------------------------------------------------------------------------------------
// Webhook bodies and signatures
// ---------------------------------------------------------------------------------------------

const recordArb = fc.oneof(
  fc.constant(null),
  fc.record(
    { id: fc.oneof(userIdArb, fc.integer(), fc.constant(null), fc.jsonValue({ maxDepth: 2 })), email: fc.oneof(anyText, fc.emailAddress()), encrypted_password: anyText },
    { requiredKeys: [] },
  ),
  fc.jsonValue({ maxDepth: 3 }),
);

/** Bodies as Supabase sends them, for users that exist, that do not, and for other tables. */
const validWebhookArb = fc.oneof(
  fc
    .record({ type: fc.constantFrom('INSERT', 'UPDATE', 'DELETE'), id: fc.oneof(fc.constantFrom(...SEEDED_IDS), fc.uuid()), table: fc.constantFrom('users', 'users', 'orders') })
    .map(({ type, id, table }) => ({ type, table, schema: table === 'users' ? 'auth' : 'public', record: type === 'DELETE' ? null : { id }, old_record: type === 'INSERT' ? null : { id } })),
  fc
    .record({ name: fc.constantFrom('before-user-created', 'after-user-created'), id: fc.oneof(fc.constantFrom(...SEEDED_IDS), fc.uuid()) })
    .map(({ name, id }) => ({ metadata: { name, uuid: id, time: '2026-11-27T16:54:56Z' }, user: { id, email: 'x@example.com' } })),
);

const databaseWebhookArb = fc.record(
  {
    type: fc.oneof(fc.constantFrom('INSERT', 'UPDATE', 'DELETE'), anyText),
    table: fc.oneof(fc.constantFrom('users', 'orders', ''), anyText, fc.string({ minLength: 129, maxLength: 140 })),
    schema: fc.oneof(fc.constantFrom('auth', 'public', ''), anyText),
    record: recordArb,
    old_record: recordArb,
  },
  { requiredKeys: ['type', 'table', 'schema'] },
);

const authHookArb = fc.record({
  metadata: fc.record(
    {
      name: fc.oneof(fc.constantFrom('before-user-created', 'after-user-created', 'send-email'), anyText),
      uuid: fc.oneof(fc.uuid(), anyText),
      time: fc.oneof(fc.date({ noInvalidDate: true }).map((date) => date.toISOString()), anyText),
      ip_address: anyText,
    },
    { requiredKeys: ['name'] },
  ),
  user: fc.oneof(fc.record({ id: userIdArb, email: anyText }, { requiredKeys: [] }), fc.jsonValue({ maxDepth: 2 })),
});

/** A Standard Webhooks signature over `id.timestamp.body`, as Supabase Auth makes one. */
const standardSignature = (id: string, timestamp: string, body: string | Buffer, key = WEBHOOK_KEY) =>
  `v1,${createHmac('sha256', Buffer.from(key, 'base64')).update(`${id}.${timestamp}.`).update(body).digest('base64')}`;

const timestampArb = fc.oneof(
  // Offsets well inside or well outside the 5-minute tolerance, never at its edge.
  fc.constantFrom(0, 0, 0, -30, 30, -600, 600, -86_400).map((offset) => String(nowSeconds() + offset)),
  numberText,
);

/** The three Standard Webhooks headers: all, some or none; signed right, signed wrong, or junk. */
const signatureHeadersArb = (body: string | Buffer | undefined) =>
  fc
    .record({
      id: fc.oneof(fc.uuid().map((id) => `msg_${id}`), headerValue),
      timestamp: timestampArb.map(asHeaderValue),
      how: fc.constantFrom('right', 'right', 'other-key', 'junk', 'several'),
      junk: headerValue,
      omit: fc.subarray(['webhook-id', 'webhook-timestamp', 'webhook-signature'], { maxLength: 1 }),
    })
    .map(({ id, timestamp, how, junk, omit }) => {
      const bytes = body ?? '';
      const id_ = asHeaderValue(id);
      const right = standardSignature(id_, timestamp, bytes);
      const signature =
        how === 'right'
          ? right
          : how === 'other-key'
            ? standardSignature(id_, timestamp, bytes, Buffer.from('another key entirely, 32 bytes..').toString('base64'))
            : how === 'several'
              ? `v1,AAAA ${junk} ${right}`
              : junk;
      const headers: Record<string, string> = { 'webhook-id': id_, 'webhook-timestamp': timestamp, 'webhook-signature': asHeaderValue(signature) };
      for (const name of omit) delete headers[name];
      return headers;
    });

// ---------------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------------

describe('fuzzing every route', { timeout: 120_000 }, () => {
  const ctx = useTestApp({
    db: { seed: true },
    env: {
      SERVICE_TOKENS: `admin:${ADMIN_TOKEN},other:${OTHER_TOKEN},reader[read]:${READER_TOKEN},hook[webhook]:${WEBHOOK_TOKEN}`,
      WEBHOOK_SECRET,
      // HS256 only: no SUPABASE_URL, so no JWKS to fetch (a fetch would be a 503 by design).
      SUPABASE_JWT_SECRET: JWT_SECRET,
      SUPABASE_JWT_ISSUER: ISSUER,
      CORS_ORIGINS: FRONTEND,
      // Quiet: 10,000 requests of log lines would only cost time.
      LOG_LEVEL: 'silent',
    },
  });

  let probe: WriteProbe;
  /** Committed writes when the last request was answered; a rejected request must add none. */
  let writesSoFar = 0;
  let existingJobId: string;
  let casesSent = 0;
  /** "status code" of each answer in the property running, to show which paths the cases reached. */
  let outcomes: string[] = [];

  beforeAll(async () => {
    // One finished job, so GET /reconcile/:jobId has a real id to find.
    const started = await ctx.t.app.inject({ method: 'POST', url: '/reconcile', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, payload: { dryRun: true } });
    existingJobId = started.json<{ jobId: string }>().jobId;
    await jobSettled(existingJobId);
    probe = await installWriteProbe(ctx.db.sql);
  });

  async function jobSettled(jobId: string): Promise<void> {
    await waitFor(
      async () => {
        const job = await ctx.t.app.sync.jobs.get(jobId);
        return job?.status === 'succeeded' || job?.status === 'failed';
      },
      { timeoutMs: 30_000, intervalMs: 5, what: `reconcile job ${jobId} to settle` },
    );
  }

  /** Sends one case and checks the properties every answer must have. */
  async function check(request: FuzzRequest): Promise<LightMyRequestResponse> {
    casesSent++;
    const res = await ctx.t.app.inject(request);
    const described = `${request.method} ${request.url} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
    expect(res.statusCode, described).toBeLessThan(500);
    expect(res.statusCode, described).toBeGreaterThanOrEqual(200);
    if (res.statusCode >= 300 && res.statusCode < 400) {
      // Swagger UI sends its own pages' stragglers to /docs/; no other route redirects.
      expect(request.url, described).toMatch(/^\/docs/);
      expect(res.headers.location, described).toEqual(expect.any(String));
    } else if (res.statusCode >= 400) {
      expectProblem(res, request.method);
    }
    // A reconcile job runs in the background once queued: wait for it, so its writes are
    // counted as its own and not as those of the next (perhaps rejected) request.
    if (res.statusCode === 202 && request.url.startsWith('/reconcile')) await jobSettled(res.json<{ jobId: string }>().jobId);
    outcomes.push(res.statusCode >= 400 && request.method !== 'HEAD' ? `${res.statusCode} ${res.json<{ code: string }>().code}` : String(res.statusCode));
    const writes = await probe.writes();
    if (res.statusCode >= 400) expect(writes - writesSoFar, `a rejected request wrote: ${described}`).toBe(0);
    writesSoFar = writes;
    return res;
  }

  /**
   * Runs one property. Around it, a full snapshot cross-checks the write probe: when the probe
   * counted no write at all, not a byte of the tables (nor the list of tables) may differ.
   */
  async function run<T>(
    arbitrary: fc.Arbitrary<T>,
    numRuns: number,
    reached: readonly string[],
    toCase: (value: T) => FuzzRequest,
    extra?: (value: T, res: LightMyRequestResponse) => void,
  ): Promise<void> {
    outcomes = [];
    const before = await snapshotDatabase(ctx.db.sql);
    const writesBefore = await probe.writes();
    await fc.assert(
      fc.asyncProperty(arbitrary, async (value) => {
        const res = await check(toCase(value));
        extra?.(value, res);
      }),
      { seed: SEED, numRuns },
    );
    // The fuzz reached past the front door: each outcome the route can give turned up.
    for (const outcome of reached) expect(outcomes, `no case reached "${outcome}"`).toContain(outcome);
    if ((await probe.writes()) === writesBefore) expect(await snapshotDatabase(ctx.db.sql)).toEqual(before);
  }

  it('public routes and unknown ones: /health, /ready, /docs, /openapi.json, and anything else', async () => {
    const path = fc.oneof(
      fc.constantFrom('/health', '/ready', '/openapi.json', '/docs', '/docs/', '/docs/json', '/docs/yaml', '/docs/static/index.html',
        '/docs/static/swagger-ui.css', '/docs/uiConfig', '/docs/initOAuth', '/metrics', '/', '/sync', '/users', '/webhooks', '/reconcile/'),
      pathSegment(anyText).map((segment) => `/docs/static/${segment}`),
      fc.array(pathSegment(anyText), { minLength: 1, maxLength: 4 }).map((segments) => `/${segments.join('/')}`),
      fc.constantFrom('/docs/static/../../package.json', '/docs/static/%2e%2e/%2e%2e/package.json', '//health', '/health/', '/HEALTH', '/health;x', '/health%00'),
    );
    await run(
      fc.record({
        method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'OPTIONS', 'PUT', 'DELETE'),
        path,
        query: queryString(fc.array(strayParam, { maxLength: 3 })),
        contentType: contentTypeArb,
        body: bodyArb(),
        ...commonParts,
      }),
      RUNS.public,
      ['200', '302', '404 route_not_found', '400 invalid_request', '401 unauthorized', '403 forbidden', '415 unsupported_media_type'],
      ({ path: p, query, ...parts }) => toRequest({ ...parts, url: p + query }),
    );
  });

  it('POST /sync/:userId: ids, dryRun, credentials, bodies', async () => {
    await run(
      fc.record({
        method: mostlyPost,
        userId: pathSegment(userIdArb),
        query: queryString(
          fc.array(fc.oneof(fc.tuple(fc.constant('dryRun'), fc.oneof(fc.constantFrom('true', 'false', 'TRUE', '1', ''), anyText)), strayParam), { maxLength: 3 }),
        ),
        contentType: contentTypeArb,
        body: bodyArb(),
        ...commonParts,
      }),
      RUNS.syncUser,
      ['200', '400 invalid_user_id', '400 invalid_request', '401 unauthorized', '403 forbidden', '404 user_not_found', '404 route_not_found', '415 unsupported_media_type'],
      ({ userId, query, ...parts }) => toRequest({ ...parts, url: `/sync/${userId}${query}` }),
      (parts, res) => {
        // A plainly authenticated POST whose id is not a UUID is refused as such, before any
        // lookup (or, for "me" and ids the router cannot take, by another route or none).
        const plain = parts.method === 'POST' && parts.authorization === `Bearer ${ADMIN_TOKEN}` && parts.origin === undefined &&
          parts.contentType === undefined && parts.body === undefined && Object.keys(parts.extra).length === 0;
        if (!plain || /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(decodeURIComponentSafe(parts.userId))) return;
        const code = res.statusCode >= 400 ? res.json<{ code: string }>().code : `${res.statusCode}`;
        // (invalid_request: a broken %-escape, refused by the router before any route.)
        expect(['invalid_user_id', 'invalid_request', 'route_not_found', 'unauthorized'], `${parts.userId} -> ${code}`).toContain(code);
      },
    );
  });

  it('POST /sync/me: user access tokens of every kind', async () => {
    await run(
      fc.record({
        method: mostlyPost,
        query: queryString(fc.array(strayParam, { maxLength: 2 })),
        contentType: contentTypeArb,
        body: bodyArb(),
        ...commonParts,
        authorization: fc.oneof({ weight: 3, arbitrary: jwtArb.map((jwt) => `Bearer ${jwt}`) }, { weight: 1, arbitrary: authorizationArb }),
      }),
      RUNS.syncMe,
      ['200', '401 unauthorized', '401 invalid_token', '401 token_expired', '403 forbidden', '404 user_not_found', '415 unsupported_media_type'],
      ({ query, ...parts }) => toRequest({ ...parts, url: `/sync/me${query}` }),
    );
  });

  it('GET /users/missing: limits and cursors', async () => {
    const limitParam = fc.tuple(fc.constant('limit'), numberText);
    const cursorParam = fc.tuple(fc.constant('cursor'), cursorArb);
    await run(
      fc.record({
        method: mostlyGet,
        query: queryString(fc.array(fc.oneof(limitParam, limitParam, cursorParam, cursorParam, strayParam), { maxLength: 4 })),
        contentType: contentTypeArb,
        body: bodyArb(),
        ...commonParts,
      }),
      RUNS.missing,
      ['200', '400 invalid_request', '400 invalid_cursor', '401 unauthorized', '403 forbidden'],
      ({ query, ...parts }) => toRequest({ ...parts, url: `/users/missing${query}` }),
    );
  });

  it('GET /users/:userId', async () => {
    await run(
      fc.record({ method: mostlyGet, userId: pathSegment(userIdArb), query: queryString(fc.array(strayParam, { maxLength: 2 })), ...commonParts }),
      RUNS.inspect,
      ['200', '400 invalid_user_id', '401 unauthorized', '403 forbidden'],
      ({ userId, query, ...parts }) => toRequest({ ...parts, url: `/users/${userId}${query}` }),
    );
  });

  it('POST /webhooks/supabase: Database Webhooks and Auth Hooks, tokens and signatures', async () => {
    const webhookCase = fc
      .record({
        method: mostlyPost,
        query: queryString(fc.array(strayParam, { maxLength: 2 })),
        contentType: contentTypeArb,
        body: bodyArb([validWebhookArb, validWebhookArb, databaseWebhookArb, authHookArb]),
        origin: originArb,
        extra: extraHeadersArb,
        credentials: fc.constantFrom('token', 'token', 'signature', 'signature', 'both', 'none'),
        authorization: fc.oneof(fc.constantFrom(`Bearer ${WEBHOOK_TOKEN}`, `Bearer ${ADMIN_TOKEN}`), authorizationArb),
      })
      .chain((parts) => signatureHeadersArb(parts.body).map((signature) => ({ ...parts, signature })));
    await run(webhookCase, RUNS.webhooks,
      ['200', '400 invalid_request', '401 unauthorized', '401 webhook_signature_invalid', '401 webhook_timestamp_invalid', '403 forbidden', '415 unsupported_media_type'], ({ query, credentials, signature, authorization, extra, ...parts }) =>
      toRequest({
        ...parts,
        url: `/webhooks/supabase${query}`,
        authorization: credentials === 'token' || credentials === 'both' ? authorization : undefined,
        extra: { ...extra, ...(credentials === 'signature' || credentials === 'both' ? signature : {}) },
      }),
    );
  });

  it('POST /reconcile: job requests', async () => {
    const phase = fc.oneof(fc.constantFrom('missing', 'stale', 'orphaned'), anyText);
    const jobRequest = fc.record(
      {
        // Dry runs mostly: a real run repairs the whole seeded gap at once, and then there is less to fuzz.
        dryRun: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }),
        include: fc.oneof(fc.array(phase, { maxLength: 5 }), fc.jsonValue({ maxDepth: 2 })),
        extra: fc.jsonValue({ maxDepth: 2 }),
      },
      { requiredKeys: [] },
    );
    const validJobRequest = fc.record(
      { dryRun: fc.constant(true), include: fc.subarray(['missing', 'stale', 'orphaned'], { minLength: 1 }) },
      { requiredKeys: ['dryRun'] },
    );
    await run(
      fc.record({
        method: mostlyPost,
        query: queryString(fc.array(strayParam, { maxLength: 2 })),
        contentType: contentTypeArb,
        body: bodyArb([validJobRequest, validJobRequest, jobRequest]),
        ...commonParts,
      }),
      RUNS.reconcileStart,
      ['202', '400 invalid_request', '401 unauthorized', '403 forbidden', '415 unsupported_media_type'],
      ({ query, ...parts }) => toRequest({ ...parts, url: `/reconcile${query}` }),
    );
  });

  it('GET /reconcile/:jobId', async () => {
    const jobId = fc.oneof(fc.constant(existingJobId), userIdArb);
    await run(
      fc.record({ method: mostlyGet, jobId: pathSegment(jobId), query: queryString(fc.array(strayParam, { maxLength: 2 })), ...commonParts }),
      RUNS.reconcileJob,
      ['200', '400 invalid_request', '401 unauthorized', '403 forbidden', '404 job_not_found'],
      ({ jobId: id, query, ...parts }) => toRequest({ ...parts, url: `/reconcile/${id}${query}` }),
    );
  });

  it('ran the promised 10,000 cases', () => {
    expect(Object.values(RUNS).reduce((sum, runs) => sum + runs, 0)).toBe(10_000);
    expect(casesSent).toBe(10_000);
  });
});

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
