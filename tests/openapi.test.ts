/**
 * The contract: openapi/openapi.json is valid OpenAPI 3.1, equals what the running service
 * serves (less, in embedded mode, the embedded-only demo route), and every error response is
 * declared as problem+json.
 */
import { readFile } from 'node:fs/promises';
import { validate } from '@readme/openapi-parser';
import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from './helpers/app.ts';

describe('the OpenAPI document', () => {
  let committed: Record<string, unknown>;
  const ctx = useTestApp();

  beforeAll(async () => {
    committed = JSON.parse(await readFile(new URL('../openapi/openapi.json', import.meta.url), 'utf8')) as Record<string, unknown>;
  });

  it('is served at /openapi.json and equals the committed openapi/openapi.json, less the embedded-only demo route', async () => {
    const served = (await request(ctx.url).get('/openapi.json').expect(200)).body as { paths: Record<string, unknown> };
    const { '/demo/signups': demo, ...paths } = served.paths;
    expect({ ...served, paths }).toEqual(committed);
    // The test app runs in embedded mode on PGlite, in postgres mode with TEST_DATABASE=postgres.
    if (ctx.t.app.sync.mode === 'embedded') expect(demo).toMatchObject({ post: { tags: ['demo'] } });
    else expect(demo).toBeUndefined();
  });

  it('is valid OpenAPI 3.1', async () => {
    const result = await validate(structuredClone(committed) as never);
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(result.valid).toBe(true);
    expect(committed.openapi).toBe('3.1.0');
  });

  it('documents every route of the contract, each protected one with the bearer scheme', () => {
    const paths = committed.paths as Record<string, Record<string, { security?: unknown[]; responses: Record<string, { content?: Record<string, unknown> }> }>>;
    expect(Object.keys(paths).sort()).toEqual([
      '/capture',
      '/health',
      '/metrics',
      '/ready',
      '/reconcile',
      '/reconcile/{jobId}',
      '/sync/me',
      '/sync/{userId}',
      '/users/missing',
      '/users/{userId}',
      '/webhooks/supabase',
    ]);
    for (const [path, operations] of Object.entries(paths)) {
      for (const operation of Object.values(operations)) {
        if (path === '/webhooks/supabase') expect(operation.security).toEqual([{ serviceToken: [] }, { webhookSignature: [] }]);
        else if (path === '/sync/me') expect(operation.security).toEqual([{ userAccessToken: [] }]);
        else if (!['/health', '/ready'].includes(path)) expect(operation.security).toEqual([{ serviceToken: [] }]);
        for (const [status, response] of Object.entries(operation.responses)) {
          const type = Number(status) >= 400 ? 'application/problem+json' : path === '/metrics' ? 'text/plain' : 'application/json';
          expect(Object.keys(response.content ?? {}), `${path} ${status}`).toEqual([type]);
        }
      }
    }
  });

  it('serves Swagger UI at /docs', async () => {
    const res = await request(ctx.url).get('/docs/').expect(200);
    expect(res.text).toContain('swagger-ui');
  });
});
