/**
 * The service's configuration: read from the environment once, at start-up, validated with zod.
 * Nothing else in the code reads `process.env`; everything receives the typed `Config`, so tests
 * build whatever configuration they need without patching globals.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseServiceTokens } from '../auth/service-tokens.ts';
import { parseWebhookSecrets } from '../webhooks/signature.ts';

/** A configuration the service refuses to start with; the message names every bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** `schema.table` or `table`, plain identifiers only: the name goes into SQL, quoted. */
const QUALIFIED_NAME = /^(?:[A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$/;

/** The names Fastify's trustProxy (proxy-addr) accepts for ranges of addresses. */
const PROXY_ADDRESS_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** Whether HOST listens on this machine only (127.0.0.0/8, ::1, localhost). */
function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return bare === 'localhost' || bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'));
}

/** Empty strings count as unset: `FOO=` in a shell or compose file usually means "not given". */
const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

/** An http(s) URL, or unset; `message` says which URL is expected. */
const optionalHttpUrl = (message: string) =>
  optionalString.refine((value) => value === undefined || /^https?:\/\/[^\s]+$/.test(value), message);

const booleanFlag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', ''], { error: 'expected true or false' })
    .optional()
    .transform((value) => (value === undefined || value === '' ? fallback : ['true', '1', 'yes'].includes(value)));

/** An integer in range, or undefined when unset (the default then depends on other settings). */
const optionalInteger = (min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return undefined;
      const parsed = Number(value);
      if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
        ctx.addIssue({ code: 'custom', message: `expected an integer from ${min} to ${max}` });
        return z.NEVER;
      }
      return parsed;
    });

const integer = (fallback: number, min: number, max: number) => optionalInteger(min, max).transform((value) => value ?? fallback);

const envSchema = z.object({
  HOST: optionalString.transform((value) => value ?? '127.0.0.1'),
  PORT: integer(3000, 0, 65535),
  LOG_LEVEL: z
    .enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` })
    .optional()
    .default('info'),

  DATABASE_URL: optionalString.refine(
    (value) => value === undefined || /^postgres(ql)?:\/\/.+/.test(value),
    'expected a postgres:// or postgresql:// connection URL',
  ),
  DATABASE_POOL_MAX: integer(10, 1, 1000),
  SYNC_BATCH_MAX: integer(100, 1, 1000),
  SYNC_BATCH_CONCURRENCY: integer(2, 1, 1000),
  EMBEDDED_DATA_DIR: optionalString.transform((value) => value ?? '.data'),
  EMBEDDED_SEED: booleanFlag(true),

  SUPABASE_URL: optionalHttpUrl('expected an http(s) URL such as https://<ref>.supabase.co'),
  SUPABASE_SERVICE_ROLE_KEY: optionalString,
  SUPABASE_SECRET_KEY: optionalString,
  SUPABASE_ID_CHUNK_SIZE: integer(200, 1, 1000),
  SUPABASE_JWT_SECRET: optionalString.refine(
    (value) => value === undefined || value.length >= 32,
    'expected the project\'s JWT secret (Settings → API), at least 32 characters',
  ),
  SUPABASE_JWKS_URL: optionalHttpUrl('expected an http(s) URL of a JWKS'),
  SUPABASE_JWT_ISSUER: optionalHttpUrl('expected the issuer of the project\'s access tokens, https://<project>.supabase.co/auth/v1'),
  SUPABASE_JWKS_COOLDOWN_SECONDS: integer(30, 0, 3600),
  SYNC_ANONYMOUS_USERS: booleanFlag(false),

  CORS_ORIGINS: optionalString.transform((value, ctx) => {
    const origins = (value ?? '').split(',').map((origin) => origin.trim()).filter((origin) => origin !== '');
    for (const origin of origins) {
      let parsed: URL | undefined;
      try {
        parsed = new URL(origin);
      } catch {
        parsed = undefined;
      }
      if (parsed === undefined || parsed.origin !== origin) {
        ctx.addIssue({ code: 'custom', message: `"${origin}" is not an origin such as https://app.example.com (scheme, host, port; no path)` });
        return z.NEVER;
      }
    }
    return origins;
  }),
  RATE_LIMIT_MAX: integer(600, 0, 1_000_000),
  RATE_LIMIT_SERVICE_MAX: integer(0, 0, 1_000_000),
  RATE_LIMIT_USER_MAX: integer(30, 0, 1_000_000),
  // `name:max,name:max`: a limit for one service token (by its name in SERVICE_TOKENS) in place of
  // RATE_LIMIT_SERVICE_MAX, say for a partner's or a reporting job's token beside an unlimited backend.
  RATE_LIMIT_BY_TOKEN: optionalString.transform((value, ctx): ReadonlyMap<string, number> => {
    const limits = new Map<string, number>();
    for (const entry of (value ?? '').split(',').map((part) => part.trim()).filter((part) => part !== '')) {
      // Any name here: whether SERVICE_TOKENS has it is checked below, with the tokens parsed.
      const match = /^([^:\s]+):([0-9]{1,7})$/.exec(entry);
      const max = match ? Number(match[2]) : NaN;
      if (!match || max > 1_000_000 || limits.has(match[1]!)) {
        ctx.addIssue({
          code: 'custom',
          message: match
            ? `"${entry}": ${limits.has(match[1]!) ? 'the token is named twice' : 'the limit is at most 1000000'}`
            : `"${entry}" is not name:max (a token's name in SERVICE_TOKENS, and requests per window; 0: unlimited)`,
        });
        return z.NEVER;
      }
      limits.set(match[1]!, max);
    }
    return limits;
  }),
  RATE_LIMIT_WINDOW_SECONDS: integer(60, 1, 86_400),
  AUTH_FAILURE_LIMIT: integer(20, 0, 1_000_000),
  AUTH_FAILURE_WINDOW_SECONDS: integer(60, 1, 86_400),
  TRUST_PROXY: optionalString.transform((value, ctx): boolean | number | string => {
    if (value === undefined || ['false', '0', 'no'].includes(value)) return false;
    if (['true', 'yes'].includes(value)) return true;
    if (/^[1-9][0-9]?$/.test(value)) return Number(value);
    const entries = value.split(',').map((entry) => entry.trim());
    const valid = (entry: string) => {
      if (PROXY_ADDRESS_NAMES.has(entry)) return true;
      const [address, prefix, ...rest] = entry.split('/');
      return rest.length === 0 && isIP(address!) !== 0 && (prefix === undefined || /^[0-9]{1,3}$/.test(prefix));
    };
    const bad = entries.find((entry) => !valid(entry));
    if (bad !== undefined) {
      ctx.addIssue({ code: 'custom', message: `"${bad}" is not true, a number of proxies, an address, a CIDR range or loopback/linklocal/uniquelocal` });
      return z.NEVER;
    }
    return entries.join(',');
  }),
  OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: integer(1000, 0, 60_000),
  SHUTDOWN_DRAIN_MS: integer(1000, 0, 8_000),

  PROFILE_TABLE: optionalString
    .transform((value) => value ?? 'public.users')
    .refine((value) => QUALIFIED_NAME.test(value), 'expected a table name such as public.users or public.profiles'),
  FIELD_MAP: optionalString.transform((value, ctx) => {
    if (value === undefined) return undefined;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected a JSON object such as {"email":"email"}' });
      return z.NEVER;
    }
  }),
  DELETE_POLICY: z
    .enum(['delete', 'soft', 'keep'], { error: 'expected delete, soft or keep' })
    .optional()
    .default('delete'),

  WEBHOOK_SECRET: optionalString.transform((value, ctx) => {
    if (value === undefined) return [];
    const parsed = parseWebhookSecrets(value);
    if (!parsed.ok) {
      ctx.addIssue({ code: 'custom', message: parsed.error });
      return z.NEVER;
    }
    return parsed.secrets;
  }),
  WEBHOOK_BODY_LIMIT: integer(1024 * 1024, 1024, 64 * 1024 * 1024),
  WEBHOOK_RETENTION_HOURS: integer(72, 1, 24 * 365),
  // Unset: 300 s, or 3600 s when capture is installed (the reconcile is then only the safety net).
  RECONCILE_INTERVAL_SECONDS: optionalInteger(0, 7 * 24 * 3600),
  // 2,000 measured fastest for a reconcile of 100,000 missing users among 1,000,000 (bench:
  // 1.17× the bare INSERT … SELECT, against 1.27× at 1,000 and 1.20× at 5,000).
  RECONCILE_BATCH_SIZE: integer(2000, 1, 10_000),
  DEFERRED_SYNC_INTERVAL_SECONDS: integer(5, 0, 3600),

  CAPTURE: z
    .enum(['on', 'off', 'true', 'false', '1', '0', ''], { error: 'expected on or off' })
    .optional()
    .transform((value) => value === undefined || value === '' || ['on', 'true', '1'].includes(value)),
  CAPTURE_POLL_MS: integer(1000, 50, 60_000),
  CAPTURE_BATCH_SIZE: integer(1000, 1, 10_000),

  SERVICE_TOKENS: optionalString.transform((value, ctx) => {
    if (value === undefined) return undefined;
    const parsed = parseServiceTokens(value);
    if (!parsed.ok) {
      ctx.addIssue({ code: 'custom', message: parsed.error });
      return z.NEVER;
    }
    return parsed.tokens;
  }),
});

export type Env = z.infer<typeof envSchema>;

/** Every variable the service reads, for the README's table (tests/readme.test.ts checks it). */
export const CONFIG_VARIABLES = Object.keys(envSchema.shape);

/**
 * What happens to the profile of a user deleted from auth.users: delete the row, soft-delete it
 * (`deleted_at`), or keep it.
 */
export type DeletePolicy = Env['DELETE_POLICY'];

export type BackendMode = 'embedded' | 'postgres' | 'supabase';

/** DATABASE_URL wins, then a Supabase URL with a key, else embedded. */
function chooseMode(env: Env): BackendMode {
  if (env.DATABASE_URL) return 'postgres';
  if (env.SUPABASE_URL && (env.SUPABASE_SERVICE_ROLE_KEY ?? env.SUPABASE_SECRET_KEY)) return 'supabase';
  return 'embedded';
}

/**
 * The environment in, the `Config` out: each variable checked on its own, then (only once they all
 * are valid) the cross-variable rule and the nesting into the shape the rest of the code reads.
 */
const configSchema = envSchema.transform((env, ctx) => {
  const mode = chooseMode(env);
  if (mode !== 'embedded' && env.SERVICE_TOKENS === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['SERVICE_TOKENS'],
      message: 'required outside embedded mode, as name:token pairs separated by commas (each token at least 32 characters)',
    });
    return z.NEVER;
  }
  // A limit for a token that does not exist would be a typo that silently limits nothing.
  const unknownToken = [...env.RATE_LIMIT_BY_TOKEN.keys()].find((name) => !env.SERVICE_TOKENS?.some((token) => token.name === name));
  if (unknownToken !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['RATE_LIMIT_BY_TOKEN'],
      message: `names the token "${unknownToken}", which SERVICE_TOKENS does not have${env.SERVICE_TOKENS === undefined ? ' (SERVICE_TOKENS is unset)' : ''}`,
    });
    return z.NEVER;
  }
  // A user token is only as good as the claims checked: without an issuer, a token another
  // project (or another service sharing the secret) signed would pass.
  const issuer = env.SUPABASE_JWT_ISSUER ?? (env.SUPABASE_URL ? new URL('/auth/v1', env.SUPABASE_URL).toString() : undefined);
  const keysGiven = env.SUPABASE_JWT_SECRET !== undefined ? 'SUPABASE_JWT_SECRET' : env.SUPABASE_JWKS_URL !== undefined ? 'SUPABASE_JWKS_URL' : undefined;
  if (keysGiven !== undefined && issuer === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: [keysGiven],
      message: 'needs an issuer to check user tokens against: set SUPABASE_URL, or SUPABASE_JWT_ISSUER (https://<project>.supabase.co/auth/v1)',
    });
    return z.NEVER;
  }
  // The admin token embedded mode makes for itself is printed to stdout: on a developer's terminal
  // that is the point, in a container it is the log, readable by whoever reads logs. Listening
  // beyond this machine, the service is a server like any other and needs tokens given to it.
  if (env.SERVICE_TOKENS === undefined && !isLoopbackHost(env.HOST)) {
    ctx.addIssue({
      code: 'custom',
      path: ['SERVICE_TOKENS'],
      message: `required when HOST (${env.HOST}) is not a loopback address: embedded mode makes an admin token only for a service on this machine alone`,
    });
    return z.NEVER;
  }
  return {
    host: env.HOST,
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    mode,
    database: {
      url: env.DATABASE_URL,
      poolMax: env.DATABASE_POOL_MAX,
      /**
       * One-user syncs of concurrent callers joined into one statement (db/sync-batches.ts): at
       * most `maxBatch` users a statement (1: never joined), `maxInFlight` such statements at once.
       */
      joining: { maxBatch: env.SYNC_BATCH_MAX, maxInFlight: env.SYNC_BATCH_CONCURRENCY },
    },
    embedded: { dataDir: env.EMBEDDED_DATA_DIR, seed: env.EMBEDDED_SEED },
    supabase: {
      url: env.SUPABASE_URL,
      serviceKey: env.SUPABASE_SERVICE_ROLE_KEY ?? env.SUPABASE_SECRET_KEY,
      /** Which variable held the key, for messages that must name it. */
      keyVariable: env.SUPABASE_SERVICE_ROLE_KEY ? ('SUPABASE_SERVICE_ROLE_KEY' as const) : ('SUPABASE_SECRET_KEY' as const),
      idChunkSize: env.SUPABASE_ID_CHUNK_SIZE,
    },
    profile: {
      table: env.PROFILE_TABLE,
      fieldMap: env.FIELD_MAP,
      deletePolicy: env.DELETE_POLICY,
    },
    /** Undefined only in embedded mode, where the server generates an admin token at start. */
    serviceTokens: env.SERVICE_TOKENS,
    webhooks: {
      secrets: env.WEBHOOK_SECRET,
      bodyLimit: env.WEBHOOK_BODY_LIMIT,
      retentionHours: env.WEBHOOK_RETENTION_HOURS,
    },
    /** How `POST /sync/me` checks a user's Supabase access token. */
    userTokens: {
      hsSecret: env.SUPABASE_JWT_SECRET,
      jwksUrl:
        env.SUPABASE_JWKS_URL ??
        (env.SUPABASE_URL ? new URL('/auth/v1/.well-known/jwks.json', env.SUPABASE_URL).toString() : undefined),
      /** Checked against `iss`: SUPABASE_JWT_ISSUER, else `<SUPABASE_URL>/auth/v1`; set whenever keys are. */
      issuer,
      jwksCooldownSeconds: env.SUPABASE_JWKS_COOLDOWN_SECONDS,
      syncAnonymous: env.SYNC_ANONYMOUS_USERS,
    },
    http: {
      /** Browser origins allowed to call the API (besides the service's own, for Swagger UI). */
      corsOrigins: env.CORS_ORIGINS,
      /**
       * Requests per window, by kind of caller (0: unlimited): per address for requests that name
       * no caller, per service token (a trusted backend: unlimited by default), per user on
       * `POST /sync/me` (a sync on each sign-in needs a few a minute).
       */
      rateLimitMax: env.RATE_LIMIT_MAX,
      rateLimitServiceMax: env.RATE_LIMIT_SERVICE_MAX,
      /** Per service token by name, in place of `rateLimitServiceMax`. */
      rateLimitByToken: env.RATE_LIMIT_BY_TOKEN,
      rateLimitUserMax: env.RATE_LIMIT_USER_MAX,
      rateLimitWindowSeconds: env.RATE_LIMIT_WINDOW_SECONDS,
      /**
       * Failed authentications (401s) per client address per window before the address gets 429
       * on everything until the window ends (http/auth-failures.ts); 0 turns it off.
       */
      authFailureLimit: env.AUTH_FAILURE_LIMIT,
      authFailureWindowSeconds: env.AUTH_FAILURE_WINDOW_SECONDS,
      /**
       * Which proxies' X-Forwarded-For to believe for the client address (Fastify's trustProxy):
       * false (none: the address is the connection's), true (all), a hop count, or addresses.
       */
      trustProxy: env.TRUST_PROXY,
      /**
       * Mean event-loop delay (ms, sampled each second) above which requests get 503 `overloaded`
       * instead of queueing behind work the process cannot keep up with; 0 turns it off.
       */
      maxEventLoopDelayMs: env.OVERLOAD_MAX_EVENT_LOOP_DELAY_MS,
      /**
       * On shutdown, how long the listener stays open answering 503 `shutting_down` before it
       * closes idle connections (http/closing.ts). Under the 10 s the process gives itself to exit.
       */
      shutdownDrainMs: env.SHUTDOWN_DRAIN_MS,
    },
    /**
     * Capture (src/capture/): triggers on auth.users record each change in user_sync.changes, and
     * the service drains them. SQL back ends only; Supabase API mode cannot install triggers.
     */
    capture: {
      enabled: env.CAPTURE,
      pollMs: env.CAPTURE_POLL_MS,
      batchSize: env.CAPTURE_BATCH_SIZE,
    },
    reconcile: {
      /** Undefined when not set: the runtime picks 300 s, or 3600 s with capture installed. */
      intervalSeconds: env.RECONCILE_INTERVAL_SECONDS,
      batchSize: env.RECONCILE_BATCH_SIZE,
      deferredIntervalSeconds: env.DEFERRED_SYNC_INTERVAL_SECONDS,
    },
  };
});

/**
 * The validated configuration, as `configSchema` produces it from the environment, and `secrets`:
 * every secret value given, so that the logger can mask each wherever it appears.
 */
export type Config = z.output<typeof configSchema> & { secrets: readonly string[] };

/**
 * The secret values of an environment, as given: each service token, each webhook secret (and its
 * key, the base64 after `whsec_`), the JWT secret, the Supabase key, the database password (as
 * written in the URL and decoded).
 */
export function secretValues(source: Record<string, string | undefined>): string[] {
  const values: string[] = [];
  const add = (value: string | undefined) => {
    if (value !== undefined && value.trim() !== '') values.push(value.trim());
  };
  for (const entry of (source.SERVICE_TOKENS ?? '').split(',')) add(entry.includes(':') ? entry.slice(entry.indexOf(':') + 1) : undefined);
  for (const secret of (source.WEBHOOK_SECRET ?? '').split('|')) {
    add(secret);
    add(secret.split('whsec_')[1]);
  }
  add(source.SUPABASE_JWT_SECRET);
  add(source.SUPABASE_SERVICE_ROLE_KEY);
  add(source.SUPABASE_SECRET_KEY);
  try {
    const password = source.DATABASE_URL === undefined ? '' : new URL(source.DATABASE_URL).password;
    add(password);
    add(decodeURIComponent(password));
  } catch {
    // Not a URL: the schema has refused it already, and there is no password to find.
  }
  return values;
}

/** Parses the environment into a `Config`, or throws a `ConfigError` naming each bad variable. */
export function loadConfig(source: NodeJS.ProcessEnv | Record<string, string | undefined>): Config {
  const result = configSchema.safeParse(source);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const variable = issue.path.join('.') || '(environment)';
      const given = source[variable];
      const shown = given === undefined || /TOKEN|KEY|SECRET|DATABASE_URL/.test(variable) ? '' : ` (got "${given}")`;
      return `  ${variable}: ${issue.message}${shown}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return { ...result.data, secrets: secretValues(source) };
}
