/**
 * The OpenAPI 3.1 document, generated from the routes' zod schemas (one source of truth), and
 * Swagger UI at /docs. `npm run openapi` writes the same document to openapi/openapi.json.
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { problemCatalogue } from '../errors/problems.ts';

export const SERVICE_TOKEN_SCHEME = 'serviceToken';
export const WEBHOOK_SIGNATURE_SCHEME = 'webhookSignature';
export const USER_TOKEN_SCHEME = 'userAccessToken';

const codesTable = Object.entries(problemCatalogue)
  .map(([code, { status, title }]) => `| \`${code}\` | ${status} | ${title} |`)
  .join('\n');

type OpenApiDocument = ReturnType<typeof jsonSchemaTransformObject>;
interface WithComponents {
  paths?: unknown;
  components?: { schemas?: Record<string, unknown> };
}

/**
 * The zod provider emits an input and an output component for every named schema; ours are used
 * one way only, so the components no operation reaches are dropped to keep the document honest.
 */
function withoutUnusedSchemas(document: OpenApiDocument): OpenApiDocument {
  const { paths, components } = document as WithComponents;
  const schemas = components?.schemas ?? {};
  const refsIn = (value: unknown) =>
    [...JSON.stringify(value).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((match) => match[1]!);
  const used = new Set<string>();
  const pending = refsIn(paths);
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (used.has(name)) continue;
    used.add(name);
    pending.push(...refsIn(schemas[name]));
  }
  const kept = Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name)));
  return { ...document, components: { ...components, schemas: kept } } as OpenApiDocument;
}

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'supabase-user-sync',
        version,
        description: [
          'Keeps the profile table (`public.users` by default) in step with Supabase Auth\'s `auth.users`.',
          '',
          'Authorize with a service token (`SERVICE_TOKENS`): click **Authorize** and paste the token.',
          '',
          'Errors are RFC 9457 `application/problem+json` bodies with a stable `code`:',
          '',
          '| code | status | meaning |',
          '| --- | --- | --- |',
          codesTable,
        ].join('\n'),
        license: { name: 'MIT', identifier: 'MIT' },
      },
      components: {
        securitySchemes: {
          [SERVICE_TOKEN_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            description: 'A service token from SERVICE_TOKENS (name:token pairs); send the token part.',
          },
          [USER_TOKEN_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'The signed-in user\'s Supabase access token (session.access_token), for POST /sync/me.',
          },
          [WEBHOOK_SIGNATURE_SCHEME]: {
            type: 'apiKey',
            in: 'header',
            name: 'webhook-signature',
            description:
              'A Standard Webhooks signature (with webhook-id and webhook-timestamp), as Supabase Auth Hooks send it, ' +
              'made with a secret from WEBHOOK_SECRET.',
          },
        },
      },
      tags: [
        { name: 'sync', description: 'Make a profile match auth.users' },
        { name: 'users', description: 'Compare auth users with their profiles' },
        { name: 'webhooks', description: 'Supabase Database Webhooks and Auth Hooks' },
        { name: 'reconcile', description: 'Bulk repairs for admins' },
        { name: 'capture', description: 'Changes of auth.users recorded inside PostgreSQL' },
        { name: 'health', description: 'Liveness and readiness' },
      ],
    },
    transform: jsonSchemaTransform,
    transformObject: (document) => withoutUnusedSchemas(jsonSchemaTransformObject(document)),
  });

  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    uiConfig: { persistAuthorization: true, displayRequestDuration: true, tryItOutEnabled: true },
  });

  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
}
