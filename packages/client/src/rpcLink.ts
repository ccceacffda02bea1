/**
 * The client's transport: tRPC's HTTP protocol over `node:http` keep-alive connections, with the
 * calls made in one turn of the event loop sent as one batch request.
 *
 * tRPC's own `httpBatchLink` waits for a `setTimeout(0)` (1 ms or more in Node) before it sends,
 * and goes through `fetch`, whose Request/Response streams cost more CPU than the server spends
 * on a call; both sat on every hop of a run (create, claim, RUNNING, COMPLETED). This link sends
 * at `setImmediate`, after every call made in the same turn has joined the batch, and reads the
 * answer as one buffer. Long-polls (`longPolls`) and calls given an AbortSignal travel alone: a
 * batch's answer waits for its slowest call, and hanging up ends every call in the request. The wire format is tRPC's (see the server's `rpcHandler.ts`).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { type Operation, TRPCClientError, type TRPCLink } from '@trpc/client';
import type { AnyRouter } from '@trpc/server';
import { observable } from '@trpc/server/observable';

export interface RpcLinkOptions {
  /** The server, e.g. `http://127.0.0.1:4200` (a path prefix is kept). */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Procedures sent alone, never batched. */
  readonly longPolls: ReadonlySet<string>;
  /** At most this many calls per batch request. */
  readonly maxItems: number;
}

/** The longest request path a batch of queries is sent with (split beyond it). */
const MAX_PATH_LENGTH = 8192;

type Answer = { result: { data: unknown } } | { error: { message: string; code: number; data?: unknown } };

interface Pending {
  readonly op: Operation;
  readonly settle: (answer: Answer | Error) => void;
}

/** The connection to one server: its agent and the calls waiting for the next batch. */
class Transport {
  readonly #base: URL;
  readonly #agent: HttpAgent;
  readonly #request: typeof httpRequest;
  readonly #queued: Record<'query' | 'mutation', Pending[]> = { query: [], mutation: [] };
  #flushScheduled = false;

  constructor(private readonly options: RpcLinkOptions) {
    this.#base = new URL(options.url.replace(/\/$/, ''));
    const https = this.#base.protocol === 'https:';
    this.#agent = https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    this.#request = https ? httpsRequest : httpRequest;
  }

  call(op: Operation, settle: (answer: Answer | Error) => void): () => void {
    if (op.type === 'subscription') throw new Error('Drover has no subscriptions');
    // A call that may be hung up on travels alone, so hanging up ends only it.
    if (this.options.longPolls.has(op.path) || op.signal) return this.#send(op.type, [{ op, settle }], false, op.signal ?? undefined);
    this.#queued[op.type].push({ op, settle });
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
    return () => {};
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    for (const type of ['query', 'mutation'] as const) {
      const queued = this.#queued[type];
      this.#queued[type] = [];
      for (let start = 0; start < queued.length; start += this.options.maxItems) {
        this.#send(type, queued.slice(start, start + this.options.maxItems), true);
      }
    }
  };

  /** Sends calls in one request; every call is settled exactly once. Returns a function that hangs up. */
  #send(type: 'query' | 'mutation', calls: readonly Pending[], batch: boolean, signal?: AbortSignal): () => void {
    const inputs = batch ? Object.fromEntries(calls.map((call, index) => [index, call.op.input])) : calls[0]?.op.input;
    const json = inputs === undefined ? undefined : JSON.stringify(inputs);
    const query = [this.#base.search.slice(1), batch ? 'batch=1' : '', type === 'query' && json !== undefined ? `input=${encodeURIComponent(json)}` : '']
      .filter(Boolean)
      .join('&');
    const path = `${this.#base.pathname.replace(/\/$/, '')}/${calls.map((call) => call.op.path).join(',')}${query ? `?${query}` : ''}`;
    // Queries carry their inputs in the URL, which servers cap (Node: 16 KiB of headers): halve a batch too long for it.
    if (batch && calls.length > 1 && path.length > MAX_PATH_LENGTH) {
      const half = Math.ceil(calls.length / 2);
      this.#send(type, calls.slice(0, half), true);
      this.#send(type, calls.slice(half), true);
      return () => {};
    }
    const body = type === 'mutation' ? (json ?? '') : undefined;
    const headers: Record<string, string | number> = { ...this.options.headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    let settled = false;
    const settleAll = (outcome: (index: number) => Answer | Error) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', hangUp);
      for (const [index, call] of calls.entries()) call.settle(outcome(index));
    };
    const req = this.#request(
      {
        protocol: this.#base.protocol,
        hostname: this.#base.hostname,
        port: this.#base.port,
        path,
        method: type === 'query' ? 'GET' : 'POST',
        headers,
        agent: this.#agent,
      },
      (res) => {
        readAll(res).then(
          (text) => settleAll(answersOf(text, res.statusCode ?? 0, batch, calls.length)),
          (error: Error) => settleAll(() => error),
        );
      },
    );
    const hangUp = () => {
      if (settled) return; // answered: the socket went back to the agent for other calls
      req.destroy();
      settleAll(() => Object.assign(new Error('The call was aborted'), { name: 'AbortError' }));
    };
    if (signal?.aborted) hangUp();
    else signal?.addEventListener('abort', hangUp, { once: true });
    req.on('error', (error) => settleAll(() => error));
    req.end(body);
    return hangUp;
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
    });
    res.on('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

/** Each call's answer in a response: the array of a batch, or one answer (also a whole request's error) for all. */
function answersOf(text: string, status: number, batch: boolean, calls: number): (index: number) => Answer | Error {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    const error = new Error(`HTTP ${status} with a body that is not tRPC's JSON: ${text.slice(0, 200)}`);
    return () => error;
  }
  if (batch && Array.isArray(parsed) && parsed.length === calls) return (index) => parsed[index] as Answer;
  return () => parsed as Answer;
}

/** A terminating tRPC link over `Transport`. */
export function rpcLink<TRouter extends AnyRouter>(options: RpcLinkOptions): TRPCLink<TRouter> {
  const transport = new Transport(options);
  return () =>
    ({ op }) =>
      observable((observer) => {
        const hangUp = transport.call(op, (answer) => {
          if (answer instanceof Error) {
            observer.error(TRPCClientError.from(answer));
          } else if ('error' in answer) {
            observer.error(TRPCClientError.from(answer));
          } else {
            observer.next({ result: { type: 'data', data: answer.result.data } });
            observer.complete();
          }
        });
        return hangUp;
      });
}
