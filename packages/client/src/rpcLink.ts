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
 *
 * Given several servers (replicas behind no load balancer), a request that cannot reach one goes
 * to the next, and after a pass over all of them, again after a jittered backoff; the server that
 * last answered is asked first. A request that never reached a server (connection refused, no
 * such host, no route) may go anywhere. One whose answer was lost (connection reset, hang-up) may
 * have been done: it is repeated only when doing it twice is harmless (queries, and the
 * mutations in `repeatable`, such as a create carrying an idempotency key).
 */
import { type ClientRequest, Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { type Operation, TRPCClientError, type TRPCLink } from '@trpc/client';
import type { AnyRouter } from '@trpc/server';
import { observable } from '@trpc/server/observable';
import { backoffDelayMs } from './serverRetry.js';

export interface RpcLinkOptions {
  /** The servers, e.g. `http://127.0.0.1:4200` (a path prefix is kept): replicas, tried in turn when one cannot be reached. */
  readonly urls: readonly string[];
  readonly headers: Readonly<Record<string, string>>;
  /** Procedures sent alone, never batched. */
  readonly longPolls: ReadonlySet<string>;
  /** At most this many calls per batch request. */
  readonly maxItems: number;
  /** Mutations that may be sent again after their answer was lost: doing them twice does what doing them once does. */
  readonly repeatable: ReadonlySet<string>;
}

/** Errors of a request that reached no server: it can go to another one whatever it does. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** Errors of a request whose answer was lost: the server may have done it. */
const ANSWER_LOST = new Set(['ECONNRESET', 'EPIPE']);
/** Passes over every server before a request fails with what the last one said (2 more, after jittered backoffs of up to 250 and 500 ms). */
const PASSES = 3;

/** One server: where it is and its keep-alive connections. */
interface Endpoint {
  readonly base: URL;
  readonly agent: HttpAgent;
  readonly request: typeof httpRequest;
}

/** The longest request path a batch of queries is sent with (split beyond it). */
const MAX_PATH_LENGTH = 8192;

type Answer = { result: { data: unknown } } | { error: { message: string; code: number; data?: unknown } };

interface Pending {
  readonly op: Operation;
  readonly settle: (answer: Answer | Error) => void;
}

/** The connections to the servers and the calls waiting for the next batch. */
class Transport {
  readonly #endpoints: readonly Endpoint[];
  /** The server asked first: the one that answered last. */
  #preferred = 0;
  readonly #queued: Record<'query' | 'mutation', Pending[]> = { query: [], mutation: [] };
  #flushScheduled = false;

  constructor(private readonly options: RpcLinkOptions) {
    this.#endpoints = options.urls.map((url) => {
      const base = new URL(url.replace(/\/$/, ''));
      const https = base.protocol === 'https:';
      return { base, agent: https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true }), request: https ? httpsRequest : httpRequest };
    });
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
    const procedures = calls.map((call) => call.op.path).join(',');
    const search = [batch ? 'batch=1' : '', type === 'query' && json !== undefined ? `input=${encodeURIComponent(json)}` : ''].filter(Boolean).join('&');
    // Queries carry their inputs in the URL, which servers cap (Node: 16 KiB of headers): halve a batch too long for it.
    if (batch && calls.length > 1 && procedures.length + search.length > MAX_PATH_LENGTH) {
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
    const repeatable = type === 'query' || calls.every((call) => this.options.repeatable.has(call.op.path));
    let settled = false;
    let current: ClientRequest | undefined;
    let retryTimer: NodeJS.Timeout | undefined;
    const settleAll = (outcome: (index: number) => Answer | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(retryTimer);
      signal?.removeEventListener('abort', hangUp);
      for (const [index, call] of calls.entries()) call.settle(outcome(index));
    };
    const hangUp = () => {
      if (settled) return; // answered: the socket went back to the agent for other calls
      current?.destroy();
      settleAll(() => Object.assign(new Error('The call was aborted'), { name: 'AbortError' }));
    };
    /** Sends to the server `tries` places after `first` (the preferred one when the pass began), in pass `pass`. */
    const attempt = (first: number, tries: number, pass: number) => {
      const index = (first + tries) % this.#endpoints.length;
      const { base, agent, request } = this.#endpoints[index] as Endpoint;
      const query = [base.search.slice(1), search].filter(Boolean).join('&');
      const req = request(
        {
          protocol: base.protocol,
          hostname: base.hostname,
          port: base.port,
          path: `${base.pathname.replace(/\/$/, '')}/${procedures}${query ? `?${query}` : ''}`,
          method: type === 'query' ? 'GET' : 'POST',
          headers,
          agent,
        },
        (res) => {
          this.#preferred = index;
          readAll(res).then(
            (text) => settleAll(answersOf(text, res.statusCode ?? 0, batch, calls.length)),
            (error: Error) => settleAll(() => error),
          );
        },
      );
      current = req;
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (settled) return;
        const code = error.code ?? '';
        const again = NEVER_SENT.has(code) || (repeatable && (ANSWER_LOST.has(code) || error.message === 'socket hang up'));
        if (!again || signal?.aborted) return settleAll(() => error);
        if (tries + 1 < this.#endpoints.length) return attempt(first, tries + 1, pass);
        if (pass + 1 >= PASSES) return settleAll(() => error);
        retryTimer = setTimeout(() => attempt(this.#preferred, 0, pass + 1), backoffDelayMs(pass));
      });
      req.end(body);
    };
    if (signal?.aborted) hangUp();
    else {
      signal?.addEventListener('abort', hangUp, { once: true });
      attempt(this.#preferred, 0, 0);
    }
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
