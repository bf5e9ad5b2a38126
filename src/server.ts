/**
 * The process: read the configuration, build the app, listen, and shut down gracefully.
 * On SIGTERM/SIGINT requests in flight finish (with `Connection: close`) and new ones get 503
 * `shutting_down` before the process exits (http/closing.ts); past 10 s it exits anyway, code 1.
 */
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.ts';
import { parseServiceTokens, generateToken } from './auth/service-tokens.ts';
import { ConfigError, loadConfig, type Config } from './config/config.ts';
import { isDatabaseUnavailable } from './db/errors.ts';
import { MigrationChangedError } from './db/migrate.ts';
import type { CaptureInfo } from './runtime.ts';

/** Embedded mode with no SERVICE_TOKENS: make an admin token for this run and show it once. */
function withGeneratedToken(config: Config): { config: Config; token?: string } {
  if (config.serviceTokens !== undefined) return { config };
  const token = generateToken();
  const parsed = parseServiceTokens(`admin:${token}`);
  if (!parsed.ok) throw new Error(parsed.error);
  return { config: { ...config, serviceTokens: parsed.tokens, secrets: [...config.secrets, token] }, token };
}

/**
 * Start-up failures an operator can fix get one plain line naming what to fix, not a stack:
 * a bad variable, or a database that cannot be reached or refuses the login.
 */
function explainStartupError(error: unknown, config: Config | undefined): string | undefined {
  if (error instanceof ConfigError || error instanceof MigrationChangedError) return error.message;
  if (config?.mode !== 'postgres') return undefined;
  const { code, message } = error as { code?: string; message?: string };
  if (isDatabaseUnavailable(error)) {
    return `cannot reach the database named by DATABASE_URL (${code ?? message ?? 'no answer'}); is it running and reachable?`;
  }
  // 28xxx: authentication failed; 3D000: no such database.
  if (code?.startsWith('28') || code === '3D000') return `the database refused DATABASE_URL: ${message}`;
  return undefined;
}

function captureLine(capture: CaptureInfo): string {
  switch (capture.state) {
    case 'on':
      return capture.installed === 'now' ? 'on (triggers installed on auth.users now)' : 'on (triggers already installed on auth.users)';
    case 'off':
      return `off: ${capture.reason}`;
    case 'unavailable':
      return `unavailable: ${capture.reason}`;
  }
}

function reconcileLine(intervalSeconds: number, configured: boolean, capture: CaptureInfo): string {
  if (intervalSeconds === 0) return 'off (RECONCILE_INTERVAL_SECONDS=0)';
  if (configured) return `every ${intervalSeconds} s (RECONCILE_INTERVAL_SECONDS)`;
  return `every ${intervalSeconds} s (default ${capture.state === 'on' ? 'with capture on' : 'without capture'}; set RECONCILE_INTERVAL_SECONDS to change it)`;
}

async function main(): Promise<void> {
  let config: Config | undefined;
  let app;
  let generated;
  try {
    config = loadConfig(process.env);
    generated = withGeneratedToken(config);
    app = await buildApp(generated.config);
  } catch (error) {
    const explanation = explainStartupError(error, config);
    if (explanation === undefined) throw error;
    process.stderr.write(`supabase-user-sync: ${explanation}\n`);
    process.exit(1);
  }

  // 10 s: inside Kubernetes' default 30 s grace period, above SHUTDOWN_DRAIN_MS (at most 8 s)
  // plus the requests in flight (milliseconds, normally; a statement still running at 10 s is cut).
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error');
    else app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    await app.close();
  });

  const address = await app.listen({ host: config.host, port: config.port });
  const base = address.replace('://0.0.0.0', '://127.0.0.1').replace('://[::]', '://127.0.0.1');
  const lines = [
    '',
    `  supabase-user-sync is listening on ${address} (${app.sync.description})`,
    `  Swagger UI: ${base}/docs`,
    `  Webhooks:   ${base}/webhooks/supabase`,
    `  Capture:    ${captureLine(app.sync.capture)}`,
    `  Reconcile:  ${reconcileLine(app.sync.reconcileIntervalSeconds, config.reconcile.intervalSeconds !== undefined, app.sync.capture)}`,
  ];
  if (generated.token !== undefined) {
    lines.push(
      '',
      '  SERVICE_TOKENS is unset, so this run made an admin token (it changes at every start):',
      `  ${generated.token}`,
      '',
      `  Try: curl -H "Authorization: Bearer ${generated.token}" ${base}/users/missing`,
    );
  }
  // Written to the terminal, not the logger: the generated token must never enter log storage.
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

await main();
