/**
 * Logs: one line per request at info level, a request id on every request line, the caller's
 * name (never its token), and no secret anywhere, whatever headers the caller sends.
 */
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, auth, useTestApp } from './helpers/app.ts';
import { insertAuthUser } from './helpers/users.ts';

/** The log lines of the request with this id. */
function linesOf(logs: string, reqId: string): Record<string, unknown>[] {
  return logs
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.reqId === reqId);
}

describe('request logs', () => {
  const ctx = useTestApp({ env: { LOG_LEVEL: 'trace' } });

  it('carry the request id and the caller name, and never a token or cookie', async () => {
    const id = await insertAuthUser(ctx.db.sql);
    await request(ctx.url)
      .post(`/sync/${id}`)
      .set(auth)
      .set('Cookie', 'sb-access-token=cookie-secret-value-1234567890')
      .set('x-request-id', 'log-test-1')
      .expect(200);
    await request(ctx.url).get('/users/missing').set('Authorization', 'Bearer wrong-token-value-abcdefghijklmnopqrstuvwxyz').expect(401);

    const ours = linesOf(ctx.t.logs(), 'log-test-1');
    // At debug level and below, the arrival has a line of its own.
    expect(ours.map((line) => line.msg)).toEqual(expect.arrayContaining(['incoming request', 'request completed']));
    expect(ours.find((line) => line.msg === 'request completed')).toMatchObject({ caller: 'admin' });

    const everything = ctx.t.logs();
    expect(everything).not.toContain(ADMIN_TOKEN);
    expect(everything).not.toContain('wrong-token-value');
    expect(everything).not.toContain('cookie-secret-value');
  });
});

describe('request logs at info level', () => {
  const ctx = useTestApp();

  it('are one line per request, at its end, with the request, status, time, id and caller', async () => {
    const id = await insertAuthUser(ctx.db.sql);
    await request(ctx.url).post(`/sync/${id}`).set(auth).set('x-request-id', 'log-test-2').expect(200);
    await request(ctx.url).get('/users/missing').set('x-request-id', 'log-test-3').expect(401);

    const [completed, ...others] = linesOf(ctx.t.logs(), 'log-test-2');
    expect(others).toEqual([]);
    expect(completed).toMatchObject({
      level: 30,
      msg: 'request completed',
      reqId: 'log-test-2',
      caller: 'admin',
      req: { method: 'POST', url: `/sync/${id}`, remoteAddress: '127.0.0.1' },
      res: { statusCode: 200 },
      responseTime: expect.any(Number),
    });
    // A refused request: the problem's line from the error handler, then the completion.
    expect(linesOf(ctx.t.logs(), 'log-test-3')).toMatchObject([
      { msg: expect.any(String), code: 'unauthorized', status: 401 },
      { msg: 'request completed', req: { method: 'GET', url: '/users/missing' }, res: { statusCode: 401 } },
    ]);
  });
});

describe('the logger configuration', () => {
  it('redacts secrets wherever an object holding them is logged', async () => {
    const { pino } = await import('pino');
    const { loggerOptions } = await import('../src/logging.ts');
    const chunks: string[] = [];
    const logger = pino(loggerOptions('info', false), { write: (chunk: string) => chunks.push(chunk) });
    logger.info({
      req: { headers: { authorization: 'Bearer leak-1', cookie: 'leak-2', 'webhook-signature': 'v1,leak-3' } },
      record: { email: 'a@example.com', encrypted_password: 'leak-4', recovery_token: 'leak-5' },
      config: { serviceKey: 'leak-6' },
      token: 'leak-7',
    });
    const output = chunks.join('');
    expect(output).toContain('a@example.com');
    for (let i = 1; i <= 7; i++) expect(output).not.toContain(`leak-${i}`);
  });
});

describe('secrets masked by value', () => {
  const SECRETS = {
    SERVICE_TOKENS: `admin:${ADMIN_TOKEN},hook[webhook]:hook-token-value-0123456789abcdefghijklmn`,
    WEBHOOK_SECRET: 'v1,whsec_c2VjcmV0LWhvb2stc2VjcmV0LXZhbHVlLTAxMjM0NTY3',
    SUPABASE_JWT_SECRET: 'jwt-secret-value-0123456789abcdefghijklmnop',
    SUPABASE_JWT_ISSUER: 'https://maskmaskmaskmask.supabase.co/auth/v1',
    SUPABASE_SECRET_KEY: 'sb_secret_value0123456789abcdefghij',
  };
  const ctx = useTestApp({ env: { LOG_LEVEL: 'trace', ...SECRETS } });
  const values = [
    ADMIN_TOKEN,
    'hook-token-value-0123456789abcdefghijklmn',
    SECRETS.WEBHOOK_SECRET,
    'c2VjcmV0LWhvb2stc2VjcmV0LXZhbHVlLTAxMjM0NTY3',
    SECRETS.SUPABASE_JWT_SECRET,
    SECRETS.SUPABASE_SECRET_KEY,
  ];

  it('the config object logged deep under any key, secrets in messages and errors, and every request shape: none appears', async () => {
    const { loadConfig } = await import('../src/config/config.ts');
    const config = loadConfig(SECRETS);
    ctx.t.app.log.info({ a: { b: { c: { d: { e: config } } } }, settings: JSON.stringify(config.secrets) }, 'the configuration');
    ctx.t.app.log.warn(`connecting with ${ADMIN_TOKEN}`);
    ctx.t.app.log.error({ err: new Error(`refused key ${SECRETS.SUPABASE_SECRET_KEY}`) }, 'an error');

    const id = await insertAuthUser(ctx.db.sql);
    await request(ctx.url).post(`/sync/${id}`).set(auth).expect(200);
    await request(ctx.url).get(`/users/${id}?token=${ADMIN_TOKEN}`).set(auth).set('x-debug', SECRETS.SUPABASE_JWT_SECRET).expect(200);
    await request(ctx.url).get('/users/missing').set('Authorization', `Bearer ${SECRETS.SUPABASE_JWT_SECRET}`).expect(401);
    await request(ctx.url)
      .post('/webhooks/supabase')
      .set('Authorization', 'Bearer hook-token-value-0123456789abcdefghijklmn')
      .set('content-type', 'application/json')
      .send(JSON.stringify({ type: 'INSERT', table: 'users', schema: 'auth', record: { id, note: SECRETS.WEBHOOK_SECRET }, old_record: null }))
      .expect(200);

    const logs = ctx.t.logs();
    expect(logs).toContain('the configuration');
    expect(logs).toContain('[redacted]');
    for (const value of values) expect(logs, value).not.toContain(value);
  });

  it("the database password, as written in DATABASE_URL and decoded", async () => {
    const { pino } = await import('pino');
    const { loggerOptions } = await import('../src/logging.ts');
    const { loadConfig } = await import('../src/config/config.ts');
    const config = loadConfig({ DATABASE_URL: 'postgres://app:p%40ss-word-0123456789@db.example.com/app', SERVICE_TOKENS: `admin:${ADMIN_TOKEN}` });
    const chunks: string[] = [];
    const logger = pino(loggerOptions('info', false, config.secrets), { write: (chunk: string) => chunks.push(chunk) });
    logger.info({ nested: { deeper: { deepest: { config } } } }, 'config');
    logger.info(`url ${config.database.url}, password p@ss-word-0123456789`);
    const output = chunks.join('');
    expect(output).toContain('db.example.com');
    expect(output).not.toContain('p%40ss-word-0123456789');
    expect(output).not.toContain('p@ss-word-0123456789');
    expect(output).not.toContain(ADMIN_TOKEN);
  });
});
