/**
 * The process: read the configuration, build the app, listen, and shut down gracefully.
 * On SIGTERM/SIGINT in-flight requests finish (new ones get 503) before the process exits.
 */
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.ts';
import { parseServiceTokens, generateToken } from './auth/service-tokens.ts';
import { ConfigError, loadConfig, type Config } from './config/config.ts';

/** Embedded mode with no SERVICE_TOKENS: make an admin token for this run and show it once. */
function withGeneratedToken(config: Config): { config: Config; token?: string } {
  if (config.serviceTokens !== undefined) return { config };
  const token = generateToken();
  const parsed = parseServiceTokens(`admin:${token}`);
  if (!parsed.ok) throw new Error(parsed.error);
  return { config: { ...config, serviceTokens: parsed.tokens }, token };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`supabase-user-sync: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const generated = withGeneratedToken(config);

  let app;
  try {
    app = await buildApp(generated.config);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`supabase-user-sync: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }

  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error');
    else app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    await app.close();
  });

  const address = await app.listen({ host: config.host, port: config.port });
  const base = address.replace('://0.0.0.0', '://127.0.0.1').replace('://[::]', '://127.0.0.1');
  const lines = [
    '',
    `  supabase-user-sync is listening on ${address} (${app.sync.mode} database)`,
    `  Swagger UI: ${base}/docs`,
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
