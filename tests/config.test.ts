/**
 * Configuration errors stop start-up with a message naming the variable and what was expected:
 * first those the environment alone shows, then those only the database shows (the table, the
 * field map), then the real process exiting with that message.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { ConfigError, loadConfig } from '../src/config/config.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';

const TOKENS = 'ops:abcdefghijklmnopqrstuvwxyz0123456789';
const TWO_TOKENS = `${TOKENS},partner[read]:${'p'.repeat(40)}`;

describe('loadConfig', () => {
  it('takes webhook secrets as the dashboard shows them, several joined with | for a rotation', () => {
    const config = loadConfig({ WEBHOOK_SECRET: 'v1,whsec_aGVsbG8gd29ybGQ= | whsec_c2Vjb25kIHNlY3JldA==' });
    expect(config.webhooks.secrets).toEqual(['whsec_aGVsbG8gd29ybGQ=', 'whsec_c2Vjb25kIHNlY3JldA==']);
  });

  it('needs nothing at all: embedded mode with defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 3000,
      logLevel: 'info',
      mode: 'embedded',
      embedded: { dataDir: '.data', seed: true },
      profile: { table: 'public.users', deletePolicy: 'delete' },
      webhooks: { secrets: [], bodyLimit: 1024 * 1024, retentionHours: 72 },
      reconcile: { batchSize: 2000, deferredIntervalSeconds: 5 },
      capture: { enabled: true, pollMs: 1000, batchSize: 1000 },
    });
    // Unset: the runtime picks 300 s, or 3600 s once capture is installed (tests/capture.test.ts).
    expect(config.reconcile.intervalSeconds).toBeUndefined();
    expect(config.serviceTokens).toBeUndefined();
  });

  it.each([
    ['off', false],
    ['false', false],
    ['on', true],
    ['', true],
  ])('CAPTURE=%s turns capture %s', (value, enabled) => {
    expect(loadConfig({ CAPTURE: value }).capture.enabled).toBe(enabled);
  });

  it('chooses postgres with DATABASE_URL and parses the tokens', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://u@db:5432/app',
      SERVICE_TOKENS: `${TOKENS}, web[read+sync]:${'w'.repeat(40)}`,
    });
    expect(config.mode).toBe('postgres');
    expect(config.serviceTokens?.map(({ name, scopes }) => ({ name, scopes }))).toEqual([
      { name: 'ops', scopes: ['sync', 'read', 'webhook', 'admin'] },
      { name: 'web', scopes: ['read', 'sync'] },
    ]);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT', 'integer from 0 to 65535'],
    [{ PORT: '70000' }, 'PORT', 'integer from 0 to 65535'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', 'one of fatal, error'],
    [{ DELETE_POLICY: 'purge' }, 'DELETE_POLICY', 'delete, soft or keep'],
    [{ PROFILE_TABLE: 'public.users; drop table x' }, 'PROFILE_TABLE', 'table name'],
    [{ FIELD_MAP: '{email:' }, 'FIELD_MAP', 'JSON object'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL', 'postgres://'],
    [{ SERVICE_TOKENS: 'ops:short' }, 'SERVICE_TOKENS', 'at least 32'],
    [{ SERVICE_TOKENS: 'no-colon-here-abcdefghijklmnopqrstuvwxyz' }, 'SERVICE_TOKENS', 'name:token'],
    [{ SERVICE_TOKENS: `${TOKENS},${TOKENS}` }, 'SERVICE_TOKENS', 'used twice'],
    [{ SERVICE_TOKENS: `hook[webhooks]:${'h'.repeat(40)}` }, 'SERVICE_TOKENS', 'scopes are sync, read, webhook, admin'],
    [{ SERVICE_TOKENS: `hook[]:${'h'.repeat(40)}` }, 'SERVICE_TOKENS', 'scopes are'],
    [{ EMBEDDED_SEED: 'perhaps' }, 'EMBEDDED_SEED', 'true or false'],
    [{ WEBHOOK_SECRET: 'not-a-secret' }, 'WEBHOOK_SECRET', 'secret 1 is not of the form v1,whsec_'],
    [{ WEBHOOK_SECRET: 'v1,whsec_aGVsbG8=|whsec_' }, 'WEBHOOK_SECRET', 'secret 2 is not of the form'],
    [{ RECONCILE_INTERVAL_SECONDS: '-1' }, 'RECONCILE_INTERVAL_SECONDS', 'integer from 0'],
    [{ CAPTURE: 'maybe' }, 'CAPTURE', 'on or off'],
    [{ CAPTURE_POLL_MS: '10' }, 'CAPTURE_POLL_MS', 'integer from 50 to 60000'],
    [{ WEBHOOK_BODY_LIMIT: '1mb' }, 'WEBHOOK_BODY_LIMIT', 'integer from 1024'],
    [{ OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '1s' }, 'OVERLOAD_MAX_EVENT_LOOP_DELAY_MS', 'integer from 0 to 60000'],
    [{ SHUTDOWN_DRAIN_MS: '9000' }, 'SHUTDOWN_DRAIN_MS', 'integer from 0 to 8000'],
    [{ DATABASE_URL: 'postgres://u@db/app' }, 'SERVICE_TOKENS', 'required outside embedded mode'],
    [{ HOST: '0.0.0.0' }, 'SERVICE_TOKENS', 'required when HOST \\(0.0.0.0\\) is not a loopback address'],
    [{ HOST: '::' }, 'SERVICE_TOKENS', 'not a loopback address'],
    [{ HOST: '192.168.1.10' }, 'SERVICE_TOKENS', 'not a loopback address'],
    [{ TRUST_PROXY: 'the load balancer' }, 'TRUST_PROXY', 'not true, a number of proxies, an address'],
    [{ SERVICE_TOKENS: TWO_TOKENS, RATE_LIMIT_BY_TOKEN: 'partner=60' }, 'RATE_LIMIT_BY_TOKEN', '"partner=60" is not name:max'],
    [{ SERVICE_TOKENS: TWO_TOKENS, RATE_LIMIT_BY_TOKEN: 'partner:60,partner:10' }, 'RATE_LIMIT_BY_TOKEN', 'named twice'],
    [{ SERVICE_TOKENS: TWO_TOKENS, RATE_LIMIT_BY_TOKEN: 'partner:2000000' }, 'RATE_LIMIT_BY_TOKEN', 'at most 1000000'],
    [{ SERVICE_TOKENS: TWO_TOKENS, RATE_LIMIT_BY_TOKEN: 'parnter:60' }, 'RATE_LIMIT_BY_TOKEN', 'names the token "parnter", which SERVICE_TOKENS does not have'],
    [{ RATE_LIMIT_BY_TOKEN: 'admin:60' }, 'RATE_LIMIT_BY_TOKEN', 'SERVICE_TOKENS is unset'],
    [{ AUTH_FAILURE_LIMIT: '-1' }, 'AUTH_FAILURE_LIMIT', 'integer from 0'],
    [{ SUPABASE_JWT_SECRET: 's'.repeat(40) }, 'SUPABASE_JWT_SECRET', 'needs an issuer to check user tokens against'],
    [{ SUPABASE_JWKS_URL: 'https://keys.example.com/jwks.json' }, 'SUPABASE_JWKS_URL', 'needs an issuer'],
    [{ SUPABASE_JWT_ISSUER: 'abc' }, 'SUPABASE_JWT_ISSUER', 'issuer of the project'],
  ])('refuses %o, naming %s', (env, variable, expected) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(new RegExp(`${variable}: .*${expected}`));
  });

  it('checks user tokens against SUPABASE_JWT_ISSUER, else the project URL\'s Auth', () => {
    const secret = 's'.repeat(40);
    expect(loadConfig({ SUPABASE_JWT_SECRET: secret, SUPABASE_JWT_ISSUER: 'https://auth.example.com/auth/v1' }).userTokens.issuer).toBe('https://auth.example.com/auth/v1');
    expect(loadConfig({ SUPABASE_JWT_SECRET: secret, SUPABASE_URL: 'https://abc.supabase.co' }).userTokens.issuer).toBe('https://abc.supabase.co/auth/v1');
  });

  it('embedded mode makes its own admin token only on a loopback address', () => {
    for (const HOST of ['127.0.0.1', '127.0.0.2', 'localhost', '::1', '[::1]']) {
      expect(loadConfig({ HOST }).serviceTokens, HOST).toBeUndefined();
    }
    expect(loadConfig({ HOST: '0.0.0.0', SERVICE_TOKENS: TOKENS }).host).toBe('0.0.0.0');
  });

  it('limits no service token by default; RATE_LIMIT_BY_TOKEN sets a limit for a token by its name', () => {
    expect(loadConfig({}).http.rateLimitServiceMax).toBe(0);
    expect(loadConfig({}).http.rateLimitByToken.size).toBe(0);
    const byToken = loadConfig({ SERVICE_TOKENS: TWO_TOKENS, RATE_LIMIT_BY_TOKEN: ' partner:60, ops:0 ' }).http.rateLimitByToken;
    expect([...byToken]).toEqual([['partner', 60], ['ops', 0]]);
  });

  it('counts 20 failed authentications a minute per address by default, and believes no proxy', () => {
    const { http } = loadConfig({});
    expect([http.authFailureLimit, http.authFailureWindowSeconds, http.trustProxy]).toEqual([20, 60, false]);
    expect(loadConfig({ TRUST_PROXY: 'true' }).http.trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '2' }).http.trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8,2001:db8::1' }).http.trustProxy).toBe('loopback,10.0.0.0/8,2001:db8::1');
  });

  it('sheds load past 1 s of event-loop delay by default; 0 turns it off', () => {
    expect(loadConfig({}).http.maxEventLoopDelayMs).toBe(1000);
    expect(loadConfig({ OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0' }).http.maxEventLoopDelayMs).toBe(0);
    expect(loadConfig({ OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '250' }).http.maxEventLoopDelayMs).toBe(250);
  });

  it('drains for 1 s on shutdown by default, within the 10 s the process has to exit', () => {
    expect(loadConfig({}).http.shutdownDrainMs).toBe(1000);
    expect(loadConfig({ SHUTDOWN_DRAIN_MS: '0' }).http.shutdownDrainMs).toBe(0);
  });

  it('never echoes a secret value in its message', () => {
    expect(() => loadConfig({ SERVICE_TOKENS: 'ops:supersecret-but-short' })).toThrow(ConfigError);
    try {
      loadConfig({ SERVICE_TOKENS: 'ops:supersecret-but-short' });
    } catch (error) {
      expect((error as Error).message).not.toContain('supersecret');
    }
  });
});

describe('start-up checks against the database', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase({
      profileSql: `CREATE TABLE public.users (id uuid PRIMARY KEY, email text);
                   CREATE TABLE public.keyless (user_id uuid, email text);`,
    });
  });
  afterAll(async () => {
    await db?.close();
  });

  const build = (env: Record<string, string>) =>
    buildApp(loadConfig({ SERVICE_TOKENS: TOKENS, LOG_LEVEL: 'silent', ...(db.url ? { DATABASE_URL: db.url } : {}), ...env }), {
      ...(db.url ? {} : { sql: db.sql }),
    });

  it.each([
    [{ PROFILE_TABLE: 'public.nowhere' }, /PROFILE_TABLE: the table public.nowhere does not exist/],
    [{ PROFILE_TABLE: 'public.keyless' }, /PROFILE_TABLE: public.keyless needs an "id uuid" column/],
    [{ FIELD_MAP: '{"nickname":"user_metadata.nick"}' }, /FIELD_MAP: the column "nickname" does not exist in public.users \(its columns: id, email\)/],
    [{ FIELD_MAP: '{"email":"password"}' }, /FIELD_MAP: "password" \(for "email"\) is not a source/],
    [{ FIELD_MAP: '{"email":[]}' }, /FIELD_MAP: the column "email" must map to a source/],
    [{ FIELD_MAP: '{"id":"email"}' }, /FIELD_MAP: "id" is the key/],
    [{ FIELD_MAP: '["email"]' }, /FIELD_MAP: expected a JSON object/],
    [{ DELETE_POLICY: 'soft' }, /DELETE_POLICY: "soft" sets the profile's deleted_at, but public.users has no deleted_at column/],
  ])('refuses %o', async (env, message) => {
    await expect(build(env)).rejects.toThrow(message);
    await expect(build(env)).rejects.toBeInstanceOf(ConfigError);
  });

  it('the default map applies only the columns the table has', async () => {
    const app = await build({});
    await app.close();
  });
});

describe('the server process', () => {
  const serverPath = fileURLToPath(new URL('../src/server.ts', import.meta.url));
  const tsx = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));

  const run = (env: Record<string, string>) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(tsx, [serverPath], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('exit', (code) => resolve({ code, stderr }));
    });

  it('exits 1 with a message naming each bad variable, and no stack trace', async () => {
    const { code, stderr } = await run({ PORT: 'abc', DELETE_POLICY: 'purge' });
    expect(code).toBe(1);
    expect(stderr).toContain('PORT: expected an integer from 0 to 65535 (got "abc")');
    expect(stderr).toContain('DELETE_POLICY: expected delete, soft or keep (got "purge")');
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 1 with a plain message when DATABASE_URL names a database that does not answer', async () => {
    const { code, stderr } = await run({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/app', SERVICE_TOKENS: TOKENS });
    expect(code).toBe(1);
    expect(stderr).toContain('cannot reach the database named by DATABASE_URL (ECONNREFUSED)');
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
