/**
 * Carries the store's events between servers: one connection per server LISTENs on the events
 * channel and emits each notification on this server's `ServerEvents`, where long-polls and
 * services wait. A worker long-polling server B thus wakes when a run for its pool is created
 * through server A, with nothing between them but the database.
 */

import pg from 'pg';
import type { Logger } from 'pino';
import type { ServerEvents } from '../../events.js';
import { EVENTS_CHANNEL, type StoreEvent } from './postgresContext.js';

export interface EventListener {
  close(): Promise<void>;
}

/** How long to wait before connecting again after the listening connection is lost: 0.25 s, doubling to 5 s. */
const RECONNECT_MS = { first: 250, max: 5000 };

/**
 * Listens until `close()`; resolves once listening, so nothing this server is told after its start
 * is missed. A lost connection is made again; notifications sent meanwhile are lost, which costs
 * only latency: claimers and waiters also look at the database when their long-poll times out.
 */
export async function listenForEvents(url: string, events: ServerEvents, logger: Logger): Promise<EventListener> {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const deliver = (payload: string | undefined) => {
    let batch: StoreEvent[];
    try {
      batch = JSON.parse(payload ?? '[]') as StoreEvent[];
    } catch {
      return; // Not ours: any client may NOTIFY on the channel.
    }
    for (const event of batch) {
      if (event.type === 'runsAvailable') events.emit('runsAvailable', event.channel, { remaining: event.count ?? Number.POSITIVE_INFINITY });
      else if (event.type === 'deploymentChanged') events.emit('deploymentChanged', event.deploymentId);
      else if (event.type === 'runStateChanged') events.emit('runStateChanged', event.flowRunId, event.stateType);
    }
  };

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: url, application_name: 'drover-events' });
    next.on('notification', (message) => {
      if (message.channel === EVENTS_CHANNEL) deliver(message.payload);
    });
    next.on('error', () => {});
    next.on('end', () => {
      if (closed || client !== next) return;
      client = undefined;
      logger.warn('Lost the database connection that carries events between servers; connecting again');
      reconnect(RECONNECT_MS.first);
    });
    await next.connect();
    await next.query(`LISTEN ${EVENTS_CHANNEL}`);
    // Closed while connecting: this connection was not there for close() to end.
    if (closed) {
      await next.end().catch(() => {});
      return;
    }
    client = next;
  };

  const reconnect = (delayMs: number) => {
    retry = setTimeout(() => {
      connect().catch(() => {
        if (!closed) reconnect(Math.min(delayMs * 2, RECONNECT_MS.max));
      });
    }, delayMs);
  };

  await connect();
  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      await client?.end().catch(() => {});
    },
  };
}
