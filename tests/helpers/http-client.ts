/**
 * One HTTP request through a keep-alive `http.Agent`, recorded precisely enough to tell what
 * happened to it: when it was fully written, when and how it was answered, or which error ended
 * it. Never rejects; a network error is an outcome like any other.
 */
import http from 'node:http';

export interface HttpOutcome {
  requestId: string;
  path: string;
  /** When the request was handed to the socket whole (its 'finish'); undefined if never. */
  sentAt?: number;
  receivedAt?: number;
  status?: number;
  headers?: http.IncomingHttpHeaders;
  body?: string;
  /** ECONNREFUSED, ECONNRESET, EPIPE, 'socket hang up'... */
  error?: string;
}

export function send(
  agent: http.Agent,
  base: string,
  request: { method: string; path: string; headers?: Record<string, string>; requestId: string; timeoutMs?: number },
): Promise<HttpOutcome> {
  const url = new URL(request.path, base);
  const outcome: HttpOutcome = { requestId: request.requestId, path: request.path };
  return new Promise((resolve) => {
    const req = http.request(
      url,
      { method: request.method, agent, headers: { ...request.headers, 'x-request-id': request.requestId } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          outcome.receivedAt = Date.now();
          outcome.status = res.statusCode;
          outcome.headers = res.headers;
          outcome.body = Buffer.concat(chunks).toString('utf8');
          resolve(outcome);
        });
        // A response cut off half-way is an error, not an answer.
        res.on('error', (error: Error & { code?: string }) => {
          outcome.error = error.code ?? error.message;
          resolve(outcome);
        });
      },
    );
    req.on('finish', () => (outcome.sentAt = Date.now()));
    req.on('error', (error: Error & { code?: string }) => {
      outcome.error = error.code ?? error.message;
      resolve(outcome);
    });
    req.setTimeout(request.timeoutMs ?? 15_000, () => req.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
    req.end();
  });
}
