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

const codesTable = Object.entries(problemCatalogue)
  .map(([code, { status, title }]) => `| \`${code}\` | ${status} | ${title} |`)
  .join('\n');

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
        },
      },
      tags: [
        { name: 'sync', description: 'Make a profile match auth.users' },
        { name: 'users', description: 'Compare auth users with their profiles' },
        { name: 'health', description: 'Liveness and readiness' },
      ],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });

  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    uiConfig: { persistAuthorization: true, displayRequestDuration: true, tryItOutEnabled: true },
  });

  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
}
