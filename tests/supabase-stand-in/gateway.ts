/**
 * What Supabase's API gateway (Kong) does in front of GoTrue and PostgREST: route by prefix,
 * check the `apikey` (header or query parameter) before the request reaches either, and answer
 * with its own `{message}` bodies when it refuses a request or the upstream is unreachable.
 */
import { header, jsonResponse, type StandInRequest, type StandInResponse } from './exchange.ts';

/** The key-auth refusals; auth-js and postgrest-js surface `message` (no `code`). */
export function checkApiKey(request: StandInRequest, serviceKey: string): StandInResponse | undefined {
  const apikey = header(request, 'apikey') ?? request.query.get('apikey') ?? undefined;
  if (apikey === undefined) {
    return jsonResponse(401, { message: 'No API key found in request', hint: 'No `apikey` request header or url param was found.' });
  }
  if (apikey !== serviceKey) {
    return jsonResponse(401, { message: 'Invalid API key', hint: 'Double check your Supabase `anon` or `service_role` API key.' });
  }
  return undefined;
}

/** Kong's default messages for the statuses it produces itself. */
const GATEWAY_MESSAGES: Record<number, string> = {
  400: 'Bad request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Method not allowed',
  408: 'Request timeout',
  429: 'API rate limit exceeded',
  500: 'An unexpected error occurred',
  502: 'An invalid response was received from the upstream server',
  503: 'The upstream server is currently unavailable',
  504: 'The upstream server is timing out',
};

/** A failure the gateway answers on its own, as `failNext` injects them. */
export function gatewayFailure(status: number): StandInResponse {
  return jsonResponse(status, { message: GATEWAY_MESSAGES[status] ?? `The upstream server responded with ${status}` });
}

/** A path no gateway route matches. */
export const noRoute = (): StandInResponse => jsonResponse(404, { message: 'no Route matched with those values' });
