/**
 * The one error handler: every error leaves as RFC 9457 problem+json with a stable `code` and its
 * true status. A caller's mistake is a 4xx; a database outage is a 503 to retry; anything else is
 * a 500 whose detail says nothing of internals (the log has them, under the request id).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { isDatabaseUnavailable } from '../db/errors.ts';
import { ProblemError, databaseUnavailable, type ProblemCode } from '../errors/problems.ts';

/** Fastify's own client-error codes, mapped to ours. */
const FASTIFY_CODES: Record<string, ProblemCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_request',
  FST_ERR_VALIDATION: 'invalid_request',
};

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  params?: { issue?: { path?: PropertyKey[] } };
}

function validationProblem(error: FastifyError & { validation: ValidationIssue[] }): ProblemError {
  const context = (error as { validationContext?: string }).validationContext ?? 'request';
  const issues = error.validation.map((issue) => {
    const path = issue.instancePath?.replace(/^\//, '').replaceAll('/', '.') ?? '';
    return { in: context, field: path, message: issue.message ?? 'invalid' };
  });
  const first = issues[0];
  if (context === 'params' && first?.field === 'userId') {
    return new ProblemError('invalid_user_id', 'The user id in the path is not a UUID.', { extensions: { issues } });
  }
  const where = first ? `${context}${first.field ? `.${first.field}` : ''}` : context;
  return new ProblemError('invalid_request', `Invalid ${where}: ${first?.message ?? 'invalid'}.`, {
    extensions: { issues },
  });
}

function toProblem(error: FastifyError): ProblemError {
  if (error instanceof ProblemError) return error;
  if (hasZodFastifySchemaValidationErrors(error)) return validationProblem(error);
  if (isDatabaseUnavailable(error)) return databaseUnavailable(error);
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code: ProblemCode =
      (error.code ? FASTIFY_CODES[error.code] : undefined) ?? (status === 429 ? 'rate_limited' : 'invalid_request');
    // Fastify's client-error messages describe the request, not our internals: safe to pass on.
    return new ProblemError(code, error.message, { cause: error });
  }
  return new ProblemError('internal_error', 'Something went wrong on our side; the request id locates it in the logs.', {
    cause: error,
  });
}

export function sendProblem(reply: FastifyReply, problem: ProblemError, requestId: string): FastifyReply {
  reply.code(problem.status).type('application/problem+json');
  // Also set by the app's onSend hook, which errors from the router (frameworkErrors) skip.
  reply.header('x-request-id', requestId);
  if (problem.retryAfter !== undefined) reply.header('retry-after', String(problem.retryAfter));
  if (problem.status === 401) reply.header('www-authenticate', 'Bearer');
  // Sent as a string so no route's response schema re-serialises (or strips) the problem.
  return reply.send(JSON.stringify({ ...problem.toProblem(), requestId }));
}

export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const problem = toProblem(error);
  if (problem.status >= 500) {
    request.log.error({ err: problem.cause ?? error, code: problem.code }, problem.message);
  } else if (problem.cause instanceof Error && (problem.code === 'profile_conflict' || problem.code === 'profile_rejected')) {
    // The caller's detail names the constraint and column; the database's own words are here.
    const { message, code: sqlstate, constraint, column, detail } = problem.cause as Error & Record<string, unknown>;
    request.log.warn({ code: problem.code, status: problem.status, database: { message, sqlstate, constraint, column, detail } }, problem.message);
  } else {
    request.log.info({ code: problem.code, status: problem.status }, problem.message);
  }
  return sendProblem(reply, problem, request.id);
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const problem = new ProblemError('route_not_found', `No route ${request.method} ${request.url.split('?')[0]}.`);
  return sendProblem(reply, problem, request.id);
}
