/**
 * Hostile input, table-driven: SQL-injection and path-traversal strings in every parameter
 * (path, query, headers, JSON body fields), bodies over the limits, deeply nested JSON, wrong
 * content types, and header floods over a real socket. Every case gets a 4xx, never a 5xx;
 * problem+json wherever the app answers (Node's own 431 and 400 from its HTTP parser cannot be);
 * and writes nothing: no row written after any request (a trigger-counted probe), the full
 * database fingerprint (helpers/snapshot.ts) the same after every test, and every table still there.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { SignJWT } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoUserId } from '../src/embedded/demo-seed.ts';
import { ADMIN_TOKEN, auth, useTestApp } from './helpers/app.ts';
import { expectProblem } from './helpers/problem-response.ts';
import { installWriteProbe, rowCounts, snapshotDatabase, type DatabaseSnapshot, type WriteProbe } from './helpers/snapshot.ts';
import { newWebhookSecret, sign } from './helpers/webhooks.ts';

const JWT_SECRET = 'hostile-jwt-secret-with-at-least-32-characters';
const ISSUER = 'https://hostilehostilehost.supabase.co/auth/v1';
const WEBHOOK_SECRET = newWebhookSecret();
const FRONTEND = 'https://app.example.com';
/** Fastify's limit for every route but the webhook (src/app.ts). */
const BODY_LIMIT = 1024 * 1024;
/** The webhook's own limit, set above the others here so each is seen to apply on its own. */
const WEBHOOK_BODY_LIMIT = 2 * 1024 * 1024;

const SQL_INJECTION = [
  "' OR 1=1 --",
  "' OR '1'='1",
  "'; DROP TABLE public.users; --",
  "1; DROP TABLE auth.users CASCADE",
  "'); DELETE FROM user_sync.audit_log; --",
  "\\'; TRUNCATE auth.users CASCADE; --",
  "' UNION SELECT encrypted_password FROM auth.users --",
  "' || pg_sleep(10) || '",
  "00000000-0000-0000-0000-000000000000' OR '1'='1",
  "3f1c0e5e-8d3a-4b7e-9a51-2c9d7e4b6a10'; DROP TABLE public.users; --",
  '$1',
  '$1::text); DROP TABLE public.users; --',
  '\\x00',
  '\0',
  'a\0b',
  '%27%20OR%201%3D1',
  '"; DROP TABLE "users"; --',
  '*/; DROP TABLE public.users; /*',
];

const PATH_TRAVERSAL = [
  '../../etc/passwd',
  '..%2f..%2fetc%2fpasswd',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '..%252f..%252fetc%252fpasswd',
  '....//....//etc/passwd',
  '..\\..\\windows\\win.ini',
  '/etc/passwd',
  '../../etc/passwd%00.json',
  '%00',
  '%2500',
  'file:///etc/passwd',
];

const HOSTILE = [...SQL_INJECTION, ...PATH_TRAVERSAL];

/** What a header can carry over the wire: no NUL, CR, LF or other control characters but tab. */
const sendableInHeader = (value: string) => /^[\t\x20-\x7e\x80-\xff]*$/.test(value);

const b64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

/** A user that does not exist, so a request that passes every check still writes nothing. */
const NOBODY = '5b0d8a4e-7c1f-4e2a-9d3b-6f8e1a2c4b7d';
/** Seeded, with a profile in sync. */
const IN_SYNC_USER = demoUserId(1);

interface Case {
  method: 'GET' | 'POST' | 'OPTIONS';
  url: string;
  headers?: Record<string, string>;
  payload?: string | Buffer;
}

const json = { 'content-type': 'application/json' };
const adminJson = { ...auth, ...json };
const dbWebhook = (fields: Record<string, unknown>) =>
  JSON.stringify({ type: 'UPDATE', table: 'users', schema: 'auth', record: { id: NOBODY }, old_record: null, ...fields });
const authHook = (user: Record<string, unknown>, name = 'after-user-created') =>
  JSON.stringify({ metadata: { name, uuid: randomUUID(), time: new Date().toISOString() }, user });
const signed = (body: string): Case => {
  const { headers } = sign(WEBHOOK_SECRET, body);
  return { method: 'POST', url: '/webhooks/supabase', headers, payload: body };
};

/** Every parameter a hostile string can go in; each makes a request that must be refused. */
const PLACES: [string, (value: string) => Case | undefined][] = [
  ['POST /sync/:userId path', (v) => ({ method: 'POST', url: `/sync/${encodeURIComponent(v)}`, headers: auth })],
  ['POST /sync/:userId path, unencoded', (v) => (/^[\x21-\x7e]+$/.test(v) ? { method: 'POST', url: `/sync/${v}`, headers: auth } : undefined)],
  ['GET /users/:userId path', (v) => ({ method: 'GET', url: `/users/${encodeURIComponent(v)}`, headers: auth })],
  ['GET /users/:userId path, unencoded', (v) => (/^[\x21-\x7e]+$/.test(v) ? { method: 'GET', url: `/users/${v}`, headers: auth } : undefined)],
  ['GET /reconcile/:jobId path', (v) => ({ method: 'GET', url: `/reconcile/${encodeURIComponent(v)}`, headers: auth })],
  ['POST /sync/:userId ?dryRun', (v) => ({ method: 'POST', url: `/sync/${NOBODY}?dryRun=${encodeURIComponent(v)}`, headers: auth })],
  ['GET /users/missing ?limit', (v) => ({ method: 'GET', url: `/users/missing?limit=${encodeURIComponent(v)}`, headers: auth })],
  ['GET /users/missing ?cursor', (v) => ({ method: 'GET', url: `/users/missing?cursor=${encodeURIComponent(v)}`, headers: auth })],
  // A cursor of the right form whose position is the hostile string: it reaches the back end.
  ['GET /users/missing ?cursor=base64url("v1:…")', (v) => ({ method: 'GET', url: `/users/missing?cursor=${b64url(`v1:${v}`)}`, headers: auth })],
  ['Authorization: Bearer …', (v) => (sendableInHeader(v) ? { method: 'GET', url: '/users/missing', headers: { authorization: `Bearer ${v}` } } : undefined)],
  ['Authorization: …', (v) => (sendableInHeader(v) ? { method: 'POST', url: `/sync/${NOBODY}`, headers: { authorization: v } } : undefined)],
  ['POST /sync/me Authorization', (v) => (sendableInHeader(v) ? { method: 'POST', url: '/sync/me', headers: { authorization: `Bearer ${v}` } } : undefined)],
  ['Origin', (v) => (sendableInHeader(v) ? { method: 'GET', url: '/users/missing', headers: { ...auth, origin: v } } : undefined)],
  ['Content-Type', (v) => (sendableInHeader(v) ? { method: 'POST', url: '/reconcile', headers: { ...auth, 'content-type': v }, payload: '{}' } : undefined)],
  // Unauthenticated, so refused; the request id must not be taken when it is not a plain token.
  ['X-Request-Id', (v) => (sendableInHeader(v) ? { method: 'GET', url: '/users/missing', headers: { 'x-request-id': v } } : undefined)],
  ['webhook-id', (v) => (sendableInHeader(v) ? { ...signed(authHook({ id: NOBODY })), headers: { ...signed(authHook({ id: NOBODY })).headers, 'webhook-id': v } } : undefined)],
  ['webhook-timestamp', (v) => {
    if (!sendableInHeader(v)) return undefined;
    const request = signed(authHook({ id: NOBODY }));
    return { ...request, headers: { ...request.headers, 'webhook-timestamp': v } };
  }],
  ['webhook-signature', (v) => {
    if (!sendableInHeader(v)) return undefined;
    const request = signed(authHook({ id: NOBODY }));
    return { ...request, headers: { ...request.headers, 'webhook-signature': v } };
  }],
  // The one route that serves files (Swagger UI's assets).
  ['GET /docs/static/* path', (v) => ({ method: 'GET', url: `/docs/static/${encodeURIComponent(v)}` })],
  ['GET /docs/static/* path, unencoded', (v) => (/^[\x21-\x7e]+$/.test(v) ? { method: 'GET', url: `/docs/static/${v}` } : undefined)],
  ['POST /reconcile body dryRun', (v) => ({ method: 'POST', url: '/reconcile', headers: adminJson, payload: JSON.stringify({ dryRun: v }) })],
  ['POST /reconcile body include[]', (v) => ({ method: 'POST', url: '/reconcile', headers: adminJson, payload: JSON.stringify({ dryRun: true, include: [v] }) })],
  ['POST /reconcile body key', (v) => ({ method: 'POST', url: '/reconcile', headers: adminJson, payload: JSON.stringify({ dryRun: true, [v]: true }) })],
  ['Database Webhook record.id', (v) => ({ method: 'POST', url: '/webhooks/supabase', headers: adminJson, payload: dbWebhook({ record: { id: v, email: v } }) })],
  ['Database Webhook old_record.id (DELETE)', (v) => ({ method: 'POST', url: '/webhooks/supabase', headers: adminJson, payload: dbWebhook({ type: 'DELETE', record: null, old_record: { id: v } }) })],
  ['Database Webhook type', (v) => ({ method: 'POST', url: '/webhooks/supabase', headers: adminJson, payload: dbWebhook({ type: v }) })],
  ['Auth Hook user.id (signed)', (v) => signed(authHook({ id: v, email: v }))],
  ['Auth Hook metadata.name (signed)', (v) => signed(authHook({ id: NOBODY }, v))],
];

describe('hostile input', () => {
  const ctx = useTestApp({
    db: { seed: true },
    env: {
      WEBHOOK_SECRET,
      WEBHOOK_BODY_LIMIT: String(WEBHOOK_BODY_LIMIT),
      SUPABASE_JWT_SECRET: JWT_SECRET,
      SUPABASE_JWT_ISSUER: ISSUER,
      CORS_ORIGINS: FRONTEND,
      LOG_LEVEL: 'warn',
    },
  });

  /** The database before any hostile request; every case must leave it exactly so. */
  let untouched: DatabaseSnapshot;
  /** Counts committed row writes, cheaply enough to check after each of the ~700 requests. */
  let probe: WriteProbe;
  /** A valid access token of a user that does not exist: POST /sync/me gets past its check. */
  let nobodyToken: string;

  beforeAll(async () => {
    untouched = await snapshotDatabase(ctx.db.sql);
    probe = await installWriteProbe(ctx.db.sql);
    nobodyToken = await new SignJWT({ sub: NOBODY, aud: 'authenticated', role: 'authenticated' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(JWT_SECRET));
  });

  // After each test, the full comparison: every row of every table, and the list of tables.
  afterEach(async () => {
    expect(await snapshotDatabase(ctx.db.sql), 'the database changed').toEqual(untouched);
  });

  /** After each request: not one row written (the probe), so a failure names the request. */
  async function expectNothingWritten(what: string): Promise<void> {
    expect(await probe.writes(), `${what} wrote to the database`).toBe(0);
  }

  /** A 4xx problem (or, for HEAD-less cases, at least its status), and the database as it was. */
  async function expectRefused(request: Case, what: string): Promise<LightMyRequestResponse> {
    const res = await ctx.t.app.inject(request);
    const described = `${what}: ${request.method} ${request.url} -> ${res.statusCode} ${res.body.slice(0, 200)}`;
    expect(res.statusCode, described).toBeGreaterThanOrEqual(400);
    expect(res.statusCode, described).toBeLessThan(500);
    expectProblem(res, request.method);
    // Nothing read from disk came back (/etc/passwd, the package's own files).
    expect(res.body, described).not.toMatch(/root:x?:0:0|"name": "supabase-user-sync"|\[extensions\]/);
    await expectNothingWritten(described);
    return res;
  }

  describe('injection and traversal strings in every parameter', () => {
    it.each(PLACES)('%s', async (place, build) => {
      let sent = 0;
      for (const value of HOSTILE) {
        const request = build(value);
        if (request === undefined) continue;
        const res = await expectRefused(request, `${place} = ${JSON.stringify(value)}`);
        // A request id that is not a plain token is replaced, never echoed into logs or headers.
        if (place === 'X-Request-Id' && !/^[A-Za-z0-9._:-]{1,128}$/.test(value)) expect(res.headers['x-request-id']).not.toBe(value);
        sent++;
      }
      // Unencoded paths and header values take only what can be sent that way; most strings can.
      expect(sent).toBeGreaterThanOrEqual(10);
    });

    it('every table is still there, with the rows it had', async () => {
      const now = await snapshotDatabase(ctx.db.sql);
      expect(now.catalog).toBe(untouched.catalog);
      expect(rowCounts(now)).toEqual(rowCounts(untouched));
      const [users] = await ctx.db.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM public.users');
      expect(users!.n).toBe(rowCounts(untouched)['public.users']);
      expect(users!.n).toBeGreaterThan(0);
    });

    it('hostile schema and table names in a Database Webhook are acknowledged and ignored, writing nothing', async () => {
      for (const value of HOSTILE) {
        for (const fields of [{ schema: value }, { table: value }]) {
          const res = await ctx.t.app.inject({ method: 'POST', url: '/webhooks/supabase', headers: adminJson, payload: dbWebhook(fields) });
          const described = `${JSON.stringify(fields)} -> ${res.statusCode} ${res.body.slice(0, 200)}`;
          // An empty name, or one over 128 characters, is refused; any other is another table's event.
          if (res.statusCode === 200) expect(res.json(), described).toMatchObject({ outcome: 'ignored' });
          else expectProblem(res);
          expect(res.statusCode, described).toBeLessThan(500);
        }
      }
      await expectNothingWritten('a Database Webhook on another table');
    });
  });

  describe('bodies over the limit', () => {
    /** A JSON body of exactly `bytes` bytes. */
    const bodyOf = (bytes: number) => {
      const shell = JSON.stringify({ type: 'INSERT', table: 'orders', schema: 'public', record: { pad: '' }, old_record: null });
      return shell.replace('"pad":""', `"pad":"${'x'.repeat(bytes - shell.length)}"`);
    };
    const routes: [string, (body: string) => Case, number][] = [
      ['POST /sync/:userId', (body) => ({ method: 'POST', url: `/sync/${NOBODY}`, headers: adminJson, payload: body }), BODY_LIMIT],
      ['POST /sync/me', (body) => ({ method: 'POST', url: '/sync/me', headers: { ...json, authorization: `Bearer ${nobodyToken}` }, payload: body }), BODY_LIMIT],
      ['POST /reconcile', (body) => ({ method: 'POST', url: '/reconcile', headers: adminJson, payload: body }), BODY_LIMIT],
      ['POST /webhooks/supabase with a token', (body) => ({ method: 'POST', url: '/webhooks/supabase', headers: adminJson, payload: body }), WEBHOOK_BODY_LIMIT],
      ['POST /webhooks/supabase signed', (body) => signed(body), WEBHOOK_BODY_LIMIT],
    ];

    it.each(routes)('%s: 413 just over its limit and far over it', async (name, build, limit) => {
      for (const bytes of [limit + 1, 8 * limit]) {
        const res = await expectRefused(build(bodyOf(bytes)), `${name}, ${bytes} bytes`);
        expect(res.statusCode).toBe(413);
        expect(res.json().code).toBe('body_too_large');
      }
      // A Content-Length over the limit is refused on the header alone.
      const small = build('{}');
      await expectRefused({ ...small, headers: { ...small.headers, 'content-length': String(limit + 1) } }, `${name}, Content-Length ${limit + 1}`);
    });

    it('the webhook has its own limit: a body over the others\' limit but under its own is read', async () => {
      const res = await ctx.t.app.inject({ method: 'POST', url: '/webhooks/supabase', headers: adminJson, payload: bodyOf(BODY_LIMIT + 1) });
      expect(res.statusCode, res.body.slice(0, 200)).toBe(200);
      expect(res.json()).toMatchObject({ outcome: 'ignored' });
      await expectNothingWritten('an ignored webhook');
    });
  });

  describe('deeply nested JSON', () => {
    const nested = {
      arrays: (depth: number) => '['.repeat(depth) + ']'.repeat(depth),
      objects: (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth),
      // A key secure-json-parse must look for makes it walk the whole tree, not just parse it.
      'objects ending in __proto__': (depth: number) => '{"a":'.repeat(depth) + '{"__proto__":{"admin":true}}' + '}'.repeat(depth),
      'objects ending in constructor.prototype': (depth: number) => '{"a":'.repeat(depth) + '{"constructor":{"prototype":{"admin":true}}}' + '}'.repeat(depth),
      'a webhook record.id': (depth: number) => dbWebhook({ record: { id: '$DEEP' } }).replace('"$DEEP"', '['.repeat(depth) + ']'.repeat(depth)),
      'a reconcile include': (depth: number) => JSON.stringify({ dryRun: true, include: '$DEEP' }).replace('"$DEEP"', '['.repeat(depth) + ']'.repeat(depth)),
    };
    const routes: [string, (body: string) => Case][] = [
      ['POST /sync/:userId', (body) => ({ method: 'POST', url: `/sync/${NOBODY}`, headers: adminJson, payload: body })],
      ['POST /sync/me', (body) => ({ method: 'POST', url: '/sync/me', headers: { ...json, authorization: `Bearer ${nobodyToken}` }, payload: body })],
      ['POST /reconcile', (body) => ({ method: 'POST', url: '/reconcile', headers: adminJson, payload: body })],
      ['POST /webhooks/supabase with a token', (body) => ({ method: 'POST', url: '/webhooks/supabase', headers: adminJson, payload: body })],
      ['POST /webhooks/supabase signed', (body) => signed(body)],
    ];

    // How fast each is refused is not asserted: that would be a speed claim, on a shared machine.
    // A walk of the tree costing quadratic time in its depth would still show, as minutes on the
    // ~524,000-level body below, far past the test's timeout.
    it.each(routes)('%s: depth 10,000 and 100,000, every shape, a 4xx', async (name, build) => {
      for (const depth of [10_000, 100_000]) {
        for (const [shape, make] of Object.entries(nested)) {
          await expectRefused(build(make(depth)), `${name}, ${shape} ${depth} deep`);
        }
      }
      // The deepest array that fits in the body limit: about 524,000 levels.
      const deepest = Math.floor((BODY_LIMIT - 1) / 2);
      await expectRefused(build(nested.arrays(deepest)), `${name}, arrays ${deepest} deep`);
    });
  });

  describe('wrong content types', () => {
    const bodies: [string, string, string | Buffer][] = [
      ['text/plain', 'text/plain', '{"dryRun":true}'],
      ['multipart/form-data', 'multipart/form-data; boundary=xyz', '--xyz\r\nContent-Disposition: form-data; name="dryRun"\r\n\r\ntrue\r\n--xyz--\r\n'],
      ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded', 'dryRun=true&include=missing'],
      ['application/json; charset=utf-16', 'application/json; charset=utf-16', Buffer.from('{"dryRun":true}', 'utf16le')],
      ['application/json with invalid UTF-8', 'application/json', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
      ['application/xml', 'application/xml', '<dryRun>true</dryRun>'],
      ['no content type, with a body', '', '{"dryRun":true}'],
    ];
    const routes: [string, (headers: Record<string, string>, body: string | Buffer) => Case][] = [
      ['POST /sync/:userId', (headers, body) => ({ method: 'POST', url: `/sync/${NOBODY}`, headers: { ...auth, ...headers }, payload: body })],
      ['POST /sync/me', (headers, body) => ({ method: 'POST', url: '/sync/me', headers: { authorization: `Bearer ${nobodyToken}`, ...headers }, payload: body })],
      ['POST /reconcile', (headers, body) => ({ method: 'POST', url: '/reconcile', headers: { ...auth, ...headers }, payload: body })],
      ['POST /webhooks/supabase with a token', (headers, body) => ({ method: 'POST', url: '/webhooks/supabase', headers: { ...auth, ...headers }, payload: body })],
      ['POST /webhooks/supabase signed', (headers, body) => {
        const request = signed(Buffer.isBuffer(body) ? body.toString('latin1') : body);
        return { ...request, headers: { ...request.headers, ...headers }, payload: body };
      }],
    ];

    it.each(routes)('%s', async (name, build) => {
      for (const [label, contentType, body] of bodies) {
        const request = build(contentType === '' ? {} : { 'content-type': contentType }, body);
        if (contentType === '') delete request.headers!['content-type'];
        await expectRefused(request, `${name}, ${label}`);
      }
    });
  });

  describe('header floods, over a real socket', () => {
    /** Sends `head` (and `body`) as raw bytes and returns what came back before the server closed. */
    function rawExchange(head: string, body = ''): Promise<string> {
      const { port, hostname } = new URL(ctx.url);
      return new Promise((resolve) => {
        const chunks: Buffer[] = [];
        const socket = net.connect(Number(port), hostname);
        const done = () => resolve(Buffer.concat(chunks).toString('latin1'));
        socket.setTimeout(10_000, () => socket.destroy());
        socket.on('data', (chunk) => chunks.push(chunk));
        // The server may close while we still write (that is its answer to a flood).
        socket.on('error', () => undefined);
        socket.on('close', done);
        // Not half-closed after writing: a static file lookup takes a half-closed socket for an
        // aborted request and answers nothing. Each request says `Connection: close` instead.
        socket.write(head + body);
      });
    }

    const headersOf = (count: number, size: number) =>
      Array.from({ length: count }, (_, i) => `X-Flood-${i}: ${'v'.repeat(size)}\r\n`).join('');
    const request = (extraHeaders: string, path = `/sync/${NOBODY}`) =>
      `POST ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nContent-Length: 0\r\n${extraHeaders}\r\n`;

    const floods: [string, string, RegExp][] = [
      ['5,000 small headers', request(headersOf(5_000, 8)), /^HTTP\/1\.1 431 /],
      ['50,000 small headers', request(headersOf(50_000, 1)), /^HTTP\/1\.1 431 /],
      ['one header of 64 KiB', request(`X-Huge: ${'a'.repeat(64 * 1024)}\r\n`), /^HTTP\/1\.1 431 /],
      ['one header of 4 MiB', request(`X-Huge: ${'a'.repeat(4 * 1024 * 1024)}\r\n`), /^HTTP\/1\.1 431 /],
      ['an Authorization header of 1 MiB', request('').replace(`Bearer ${ADMIN_TOKEN}`, `Bearer ${'t'.repeat(1024 * 1024)}`), /^HTTP\/1\.1 431 /],
      ['a URL of 1 MiB', request('', `/sync/${'a'.repeat(1024 * 1024)}`), /^HTTP\/1\.1 431 /],
      ['a NUL in a header value', request('X-Evil: a\0b\r\n'), /^HTTP\/1\.1 400 /],
      ['a bare CR in a header value', request('X-Evil: a\rb\r\n'), /^HTTP\/1\.1 400 /],
      ['a header name with a space', request('X Evil: a\r\n'), /^HTTP\/1\.1 400 /],
      // Request smuggling: two lengths that disagree.
      ['Content-Length and Transfer-Encoding together', request('Transfer-Encoding: chunked\r\n').replace('Content-Length: 0', 'Content-Length: 5'), /^HTTP\/1\.1 400 /],
      ['two different Content-Lengths', request('Content-Length: 7\r\n'), /^HTTP\/1\.1 400 /],
    ];

    it.each(floods)('%s: refused by Node, and the server answers as before', async (name, head, expected) => {
      const answer = await rawExchange(head);
      expect(answer.slice(0, 80), name).toMatch(expected);
      // Still healthy: a new connection gets the ordinary answers.
      expect((await fetch(`${ctx.url}/health`)).status).toBe(200);
      const sync = await fetch(`${ctx.url}/sync/${NOBODY}`, { method: 'POST', headers: auth });
      expect(sync.status).toBe(404);
      expect(sync.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      await expectNothingWritten(name);
    });

    it('traversal in a raw request line (no client normalises the dots) serves no file', async () => {
      for (const target of ['/docs/static/../../package.json', '/docs/static/../../../../../../etc/passwd', '/docs/static/..%2f..%2fpackage.json',
        '/docs/static/%2e%2e/%2e%2e/package.json', '/docs/static/..\\..\\package.json', '/../../etc/passwd', '/docs/static/%00/../../package.json']) {
        const answer = await rawExchange(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
        expect(answer, target).toMatch(/^HTTP\/1\.1 4\d\d /);
        expect(answer, target).not.toMatch(/root:x?:0:0|"name": "supabase-user-sync"/);
      }
      await expectNothingWritten('traversal over a socket');
    });

    it('duplicate credentials: Node keeps the first Authorization, and either way it is a 4xx problem', async () => {
      const twice = (first: string, second: string) =>
        request('').replace(`Authorization: Bearer ${ADMIN_TOKEN}\r\n`, `Authorization: ${first}\r\nAuthorization: ${second}\r\n`);
      const wrongFirst = await rawExchange(twice('Bearer wrong-token', `Bearer ${ADMIN_TOKEN}`));
      expect(wrongFirst).toMatch(/^HTTP\/1\.1 401 /);
      // The admin token first: authenticated, and the user does not exist.
      const adminFirst = await rawExchange(twice(`Bearer ${ADMIN_TOKEN}`, 'Bearer wrong-token'));
      expect(adminFirst).toMatch(/^HTTP\/1\.1 404 /);
      for (const answer of [wrongFirst, adminFirst]) expect(answer).toMatch(/content-type: application\/problem\+json/i);
      await expectNothingWritten('duplicate Authorization headers');
    });

    it('a flood under the limits reaches the app, and is answered as problem+json', async () => {
      // 500 short headers fit in Node's 16 KiB; the request is then judged on its merits.
      const answer = await rawExchange(request(headersOf(500, 4)).replace(`Bearer ${ADMIN_TOKEN}`, 'Bearer wrong-token'));
      expect(answer).toMatch(/^HTTP\/1\.1 401 /);
      expect(answer).toMatch(/content-type: application\/problem\+json/i);
      await expectNothingWritten('500 headers');
    });
  });

  describe('regressions found by tests/fuzz.test.ts', () => {
    // Fastify's router answered a broken %-escape with its own JSON body.
    it.each(['/users/%', '/sync/%zz', '/reconcile/%E0%A4%A', '/users/%c3%28x%'])('400 problem+json for %s', async (url) => {
      for (const method of ['GET', 'POST'] as const) {
        const res = await expectRefused({ method, url, headers: auth }, url);
        expect(res.statusCode).toBe(400);
        expect(res.json().code).toBe('invalid_request');
      }
    });

    // @fastify/cors answered an OPTIONS from an allowed origin without the preflight header as text/plain.
    it('400 problem+json for an OPTIONS from an allowed origin with no Access-Control-Request-Method', async () => {
      for (const url of ['/sync/me', '/users/missing', `/users/${IN_SYNC_USER}`]) {
        const res = await expectRefused({ method: 'OPTIONS', url, headers: { origin: FRONTEND } }, url);
        expect(res.statusCode).toBe(400);
        expect(res.json().code).toBe('invalid_request');
      }
      // A real preflight still passes.
      const preflight = await ctx.t.app.inject({
        method: 'OPTIONS',
        url: '/sync/me',
        headers: { origin: FRONTEND, 'access-control-request-method': 'POST' },
      });
      expect(preflight.statusCode).toBe(204);
    });
  });

  // Last: it writes (a delivery record), on purpose.
  describe('payload fields are never used as data', () => {
    it('an injected email in a Database Webhook record syncs what auth.users holds, not the payload', async () => {
      const before = await snapshotDatabase(ctx.db.sql);
      const [profileBefore] = await ctx.db.sql.query<{ email: string }>('SELECT email FROM public.users WHERE id = $1', [IN_SYNC_USER]);
      for (const value of SQL_INJECTION) {
        const payload = dbWebhook({ record: { id: IN_SYNC_USER, email: value, raw_user_meta_data: { full_name: value } } });
        const res = await ctx.t.app.inject({ method: 'POST', url: '/webhooks/supabase', headers: adminJson, payload });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json()).toMatchObject({ outcome: 'synced', action: 'unchanged' });
      }
      const [profileAfter] = await ctx.db.sql.query<{ email: string }>('SELECT email FROM public.users WHERE id = $1', [IN_SYNC_USER]);
      expect(profileAfter).toEqual(profileBefore);
      // Only the deliveries were recorded; users, profiles and the audit log are as they were.
      const after = await snapshotDatabase(ctx.db.sql);
      for (const table of ['auth.users', 'public.users', 'user_sync.audit_log', 'catalog']) expect(after[table], table).toBe(before[table]);
      expect(rowCounts(after)['user_sync.webhook_deliveries']).toBe(rowCounts(before)['user_sync.webhook_deliveries']! + SQL_INJECTION.length);
      // Those deliveries are the only writes, and are this test's own.
      expect(await probe.writes()).toBe(SQL_INJECTION.length);
      untouched = after;
    });
  });
});
