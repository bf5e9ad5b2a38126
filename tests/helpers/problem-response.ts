/**
 * What every error response of the service must look like (README "Errors", RFC 9457): an
 * `application/problem+json` body with `type`, `title`, `status`, `detail`, a `code` from the
 * catalogue, and the `requestId` of the `x-request-id` header. For `app.inject()` responses.
 */
import { expect } from 'vitest';
import { PROBLEM_TYPE_BASE, problemCatalogue } from '../../src/errors/problems.ts';

export interface InjectedResponse {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

/** Asserts `res` is a well-formed problem with its catalogue status; returns the parsed body. */
export function expectProblem(res: InjectedResponse, method = 'GET'): Record<string, unknown> {
  const described = `${res.statusCode} ${String(res.headers['content-type'])} ${res.body.slice(0, 300)}`;
  expect(res.statusCode, described).toBeGreaterThanOrEqual(400);
  expect(String(res.headers['content-type']), described).toMatch(/^application\/problem\+json/);
  // A HEAD answer has the headers of the GET one and no body.
  if (method === 'HEAD') return {};
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(res.body) as Record<string, unknown>;
  } catch {
    throw new Error(`not JSON: ${described}`);
  }
  const code = body.code as keyof typeof problemCatalogue;
  expect(Object.keys(problemCatalogue), described).toContain(code);
  expect(body, described).toMatchObject({
    type: PROBLEM_TYPE_BASE + code,
    title: problemCatalogue[code].title,
    status: res.statusCode,
    detail: expect.any(String),
    code,
    requestId: res.headers['x-request-id'],
  });
  expect(problemCatalogue[code].status, described).toBe(res.statusCode);
  return body;
}
