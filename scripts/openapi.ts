/**
 * `npm run openapi` writes openapi/openapi.json from the routes' schemas, and the typed client's
 * types (client/schema.ts) from that document; `npm run openapi:check` fails when either
 * committed file differs, so neither the contract nor the client can drift from the code unseen.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config/config.ts';

const documentPath = fileURLToPath(new URL('../openapi/openapi.json', import.meta.url));
const clientTypesPath = fileURLToPath(new URL('../client/schema.ts', import.meta.url));

/**
 * The document exactly as the running service serves it (an in-memory embedded app), less the
 * embedded-only demo route: the committed contract is the one every mode serves.
 */
export async function generateOpenApi(): Promise<string> {
  const app = await buildApp(
    loadConfig({ EMBEDDED_DATA_DIR: 'memory://', EMBEDDED_SEED: 'false', LOG_LEVEL: 'silent', RECONCILE_INTERVAL_SECONDS: '0' }),
    { demoRoutes: false },
  );
  try {
    await app.ready();
    return `${JSON.stringify(app.swagger(), null, 2)}\n`;
  } finally {
    await app.close();
  }
}

async function generateClientTypes(document: string): Promise<string> {
  return COMMENT_HEADER + astToString(await openapiTS(JSON.parse(document) as never));
}

const document = await generateOpenApi();
const outputs = [
  { path: documentPath, name: 'openapi/openapi.json', contents: document },
  { path: clientTypesPath, name: 'client/schema.ts', contents: await generateClientTypes(document) },
];

if (process.argv.includes('--check')) {
  let stale = false;
  for (const { path, name, contents } of outputs) {
    if ((await readFile(path, 'utf8').catch(() => '')) !== contents) {
      process.stderr.write(`${name} is out of date with the routes: run \`npm run openapi\` and commit it.\n`);
      stale = true;
    }
  }
  if (stale) process.exit(1);
  process.stdout.write('openapi/openapi.json and client/schema.ts match the routes.\n');
} else {
  for (const { path, name, contents } of outputs) {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, contents);
    process.stdout.write(`wrote ${name}\n`);
  }
}
