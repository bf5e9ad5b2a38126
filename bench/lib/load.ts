/**
 * One load run with autocannon: fixed connections, no pipelining, each request built afresh (a
 * random user per request, never one hot row). A run with any non-2xx answer, connection error,
 * timeout or answer the caller's check refuses measured something else than intended, so it
 * throws instead of returning figures.
 */
import autocannon from 'autocannon';

export interface LoadRequest {
  method: 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface LoadOptions {
  url: string;
  seconds: number;
  connections: number;
  /** Called once per request sent. */
  next: () => LoadRequest;
  /** Whether a 2xx body is the answer expected (e.g. a webhook that synced, not a duplicate). */
  accept?: (body: string) => boolean;
}

export interface LoadResult {
  /** Responses per second over the run. */
  throughput: number;
  /** Latency percentiles, ms, of every 2xx response's own duration (not rounded to whole ms). */
  p50: number;
  p99: number;
  responses: number;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  let refused: string | undefined;
  const accept = options.accept;
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        pipelining: 1,
        duration: options.seconds,
        requests: [
          {
            setupRequest: (request) => ({ ...request, ...options.next() }),
            ...(accept
              ? {
                  onResponse: (status: number, body: string) => {
                    if (refused === undefined && status < 300 && !accept(body)) refused = body.slice(0, 300);
                  },
                }
              : {}),
          },
        ],
      },
      (error, finished) => (error ? reject(error as Error) : resolve(finished)),
    );
    // autocannon's own percentiles come from a histogram of whole milliseconds, too coarse where a
    // request takes about one (a single connection); the durations it reports are exact.
    instance.on('response', (_client, status, _bytes, milliseconds) => {
      if (status >= 200 && status < 300) latencies.push(milliseconds);
    });
  });
  const problems = [
    result.non2xx > 0 ? `${result.non2xx} non-2xx answers (${JSON.stringify(result.statusCodeStats)})` : '',
    result.errors > 0 ? `${result.errors} connection errors` : '',
    result.timeouts > 0 ? `${result.timeouts} timeouts` : '',
    refused !== undefined ? `an unexpected answer: ${refused}` : '',
  ].filter((problem) => problem !== '');
  if (problems.length > 0) throw new Error(`load run on ${options.url} is not a valid measurement: ${problems.join('; ')}`);
  if (result['2xx'] === 0) throw new Error(`load run on ${options.url} got no answer at all`);
  return {
    throughput: result['2xx'] / result.duration,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    responses: result['2xx'],
  };
}

/** Nearest-rank percentile: the smallest value at or above `p` % of the values. */
function percentile(values: number[], p: number): number {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
