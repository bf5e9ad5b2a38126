/**
 * LISTEN on a dedicated node-postgres connection that comes back by itself. A pooled connection
 * would not do: LISTEN belongs to a session, and the pool hands sessions out and back. Through
 * Supabase's transaction pooler (port 6543) LISTEN never hears anything; the caller's fallback
 * poll covers that, as it covers the time the connection is down.
 */
import pg from 'pg';
import type { Log } from '../logging.ts';
import type { ListenHandlers, Listening } from './sql-client.ts';

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5_000;

export function listenWithReconnect(
  connection: { connectionString: string; applicationName: string },
  channel: string,
  { notified, connected }: ListenHandlers,
  log?: Log,
): Listening {
  let closed = false;
  let current: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  let delay = FIRST_RETRY_MS;
  let warned = false;

  const scheduleReconnect = () => {
    if (closed || retry !== undefined) return;
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, delay);
    retry.unref();
    delay = Math.min(delay * 2, MAX_RETRY_MS);
  };

  const connect = async () => {
    if (closed) return;
    const client = new pg.Client({
      connectionString: connection.connectionString,
      application_name: connection.applicationName,
      connectionTimeoutMillis: 5_000,
      // A server that vanished without closing the socket is noticed, not waited on for ever.
      keepAlive: true,
    });
    let lost = false;
    const onLost = (error?: Error) => {
      if (lost) return;
      lost = true;
      if (current === client) current = undefined;
      if (!closed && !warned) {
        warned = true;
        log?.warn({ err: error, channel }, 'listening connection lost; reconnecting (the fallback poll covers the gap)');
      }
      client.end().catch(() => undefined);
      scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (message) => {
      if (message.channel === channel) notified();
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${channel.replaceAll('"', '""')}"`);
    } catch (error) {
      onLost(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (closed) {
      await client.end().catch(() => undefined);
      return;
    }
    current = client;
    delay = FIRST_RETRY_MS;
    if (warned) log?.info({ channel }, 'listening again');
    warned = false;
    connected();
  };

  void connect();
  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      const client = current;
      current = undefined;
      await client?.end().catch(() => undefined);
    },
  };
}
