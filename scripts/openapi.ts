/**
 * `npm run openapi` writes openapi/openapi.json from the routes' schemas; `npm run openapi:check`
 * fails when the committed file differs, so the contract cannot drift from the code unseen.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config/config.ts';

const target = fileURLToPath(new URL('../openapi/openapi.json', import.meta.url));

/** The document exactly as the running service serves it (an in-memory embedded app). */
export async function generateOpenApi(): Promise<string> {
  const app = await buildApp(
    loadConfig({ EMBEDDED_DATA_DIR: 'memory://', EMBEDDED_SEED: 'false', LOG_LEVEL: 'silent' }),
  );
  try {
    await app.ready();
    return `${JSON.stringify(app.swagger(), null, 2)}\n`;
  } finally {
    await app.close();
  }
}

const generated = await generateOpenApi();
if (process.argv.includes('--check')) {
  const committed = await readFile(target, 'utf8').catch(() => '');
  if (committed !== generated) {
    process.stderr.write('openapi/openapi.json is out of date with the routes: run `npm run openapi` and commit it.\n');
    process.exit(1);
  }
  process.stdout.write('openapi/openapi.json matches the routes.\n');
} else {
  await mkdir(fileURLToPath(new URL('../openapi/', import.meta.url)), { recursive: true });
  await writeFile(target, generated);
  process.stdout.write(`wrote ${target}\n`);
}
