/**
 * tRPC's HTTP protocol served straight from `node:http`: queries are `GET /<path>?input=<json>`,
 * mutations `POST /<path>` with a JSON body, and `?batch=1` carries several calls in one request
 * (`/a,b?batch=1`, inputs keyed "0", "1", …, answered as an array). tRPC's own Node adapter turns
 * every request into a fetch `Request` and every answer into a `Response`; on Node 20 those web
 * streams, `Headers` and `AbortSignal.any` cost a quarter of the server's CPU per call (profiled
 * under `bench/server.ts`). This handler answers the same clients with the same bodies, status
 * codes and error shapes (the router's `errorFormatter`), and skips that conversion.
 *
 * What it does not serve, since no Drover client sends it: streamed (jsonl) batches,
 * subscriptions, form data and method override. The router has no data transformer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AnyProcedure, type AnyRouter, getErrorShape, getTRPCErrorFromUnknown, TRPCError } from '@trpc/server';
import { getHTTPStatusCode } from '@trpc/server/http';

export interface RpcHandlerOptions<TRouter extends AnyRouter> {
  readonly router: TRouter;
  /** The context of every call in the request; a throw (e.g. UNAUTHORIZED) fails each call with that error. */
  readonly createContext: (req: IncomingMessage) => TRouter['_def']['_config']['$types']['ctx'];
  readonly maxBodyBytes: number;
}

type ProcedureType = AnyProcedure['_def']['type'];
type Answer = { result: { data: unknown } } | { error: unknown };

const METHOD_OF: Record<ProcedureType, string> = { query: 'GET', mutation: 'POST', subscription: 'GET' };

export function createRpcHandler<TRouter extends AnyRouter>(options: RpcHandlerOptions<TRouter>): (req: IncomingMessage, res: ServerResponse) => void {
  const { router, maxBodyBytes } = options;
  const config = router._def._config;
  const procedures = router._def.procedures as Record<string, AnyProcedure | undefined>;

  /** The error shape the client rebuilds its error from: the router's own `errorFormatter` makes it. */
  const shape = (error: TRPCError, type: ProcedureType | 'unknown', path: string | undefined, input: unknown, ctx: unknown) =>
    getErrorShape({ config, error, type, path, input, ctx });

  const send = (res: ServerResponse, json: Answer | Answer[], errors: (TRPCError | undefined)[], headers: Record<string, string> = {}) => {
    const body = JSON.stringify(json);
    res
      .writeHead(getHTTPStatusCode(json as never, errors), { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers })
      .end(body);
  };

  /** An error of the request as a whole, before any call ran: one error object, as tRPC answers it. */
  const refuse = (res: ServerResponse, error: TRPCError) => send(res, { error: shape(error, 'unknown', undefined, undefined, undefined) }, [error]);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    if (method === 'HEAD') {
      res.writeHead(204).end();
      return;
    }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const search = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const batch = search.get('batch') === '1';
    let fullPath: string;
    try {
      fullPath = decodeURIComponent(url.slice(1, q < 0 ? undefined : q));
    } catch {
      refuse(res, new TRPCError({ code: 'BAD_REQUEST', message: `Malformed procedure path in ${url.slice(0, 200)}` }));
      return;
    }
    const paths = batch ? fullPath.split(',') : [fullPath];
    const calls = paths.map((path) => ({ path, procedure: Object.hasOwn(procedures, path) ? procedures[path] : undefined }));
    const types = [...new Set(calls.flatMap((call) => (call.procedure ? [call.procedure._def.type] : [])))];
    if (types.length > 1) {
      refuse(res, new TRPCError({ code: 'BAD_REQUEST', message: `Cannot mix procedure types in call: ${types.join(', ')}` }));
      return;
    }

    // The inputs, by batch index; a failure to read them is each call's error, as in tRPC.
    let inputs: Record<number, unknown> = {};
    let inputError: TRPCError | undefined;
    if (method === 'GET') {
      const text = search.get('input');
      [inputs, inputError] = parseInputs(text ? text : undefined, batch, paths.length);
    } else {
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
        const given = req.headers['content-type'];
        refuse(res, new TRPCError({ code: 'UNSUPPORTED_MEDIA_TYPE', message: given ? `Unsupported content-type "${given}"` : 'Missing content-type header' }));
        return;
      }
      const body = await readBody(req, maxBodyBytes);
      if (body === undefined) {
        refuse(res, new TRPCError({ code: 'PAYLOAD_TOO_LARGE', message: `Request body larger than ${maxBodyBytes} bytes` }));
        return;
      }
      [inputs, inputError] = parseInputs(body ? body : undefined, batch, paths.length);
    }

    let ctx: unknown;
    let ctxError: TRPCError | undefined;
    try {
      ctx = options.createContext(req);
    } catch (cause) {
      ctxError = getTRPCErrorFromUnknown(cause);
    }

    // Aborted when the caller hangs up before its answer: a long-poll claim then hands out nothing.
    const hangUp = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) hangUp.abort();
    });
    const headers: Record<string, string> = {};
    const errors: (TRPCError | undefined)[] = [];
    const answers = await Promise.all(
      calls.map(async ({ path, procedure }, index): Promise<Answer> => {
        const input = inputs[index];
        try {
          if (ctxError) throw ctxError;
          if (inputError) throw inputError;
          if (!procedure) throw new TRPCError({ code: 'NOT_FOUND', message: `No procedure found on path "${path}"` });
          const expected = METHOD_OF[procedure._def.type];
          if (method !== expected) {
            headers.allow = expected;
            throw new TRPCError({ code: 'METHOD_NOT_SUPPORTED', message: `Unsupported ${method}-request to ${procedure._def.type} procedure at path "${path}"` });
          }
          const data = await procedure({ path, type: procedure._def.type, ctx, getRawInput: async () => input, signal: hangUp.signal, batchIndex: index });
          return { result: { data } };
        } catch (cause) {
          const error = getTRPCErrorFromUnknown(cause);
          errors[index] = error;
          return { error: shape(error, procedure?._def.type ?? 'unknown', path, input, ctx) };
        }
      }),
    );
    send(res, batch ? answers : (answers[0] as Answer), batch ? errors : [errors[0]], headers);
  }

  return (req, res) => {
    handle(req, res).catch((cause: unknown) => {
      // Only a failure of this handler itself gets here (the calls' own errors are answers).
      if (!res.headersSent) refuse(res, getTRPCErrorFromUnknown(cause));
      else res.destroy();
    });
  };
}

/** The calls' inputs by batch index, or the BAD_REQUEST every call fails with. */
function parseInputs(text: string | undefined, batch: boolean, calls: number): [Record<number, unknown>, TRPCError | undefined] {
  if (text === undefined) return [{}, undefined];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    return [{}, new TRPCError({ code: 'BAD_REQUEST', message: (cause as Error).message, cause })];
  }
  if (!batch) return [{ 0: parsed }, undefined];
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return [{}, new TRPCError({ code: 'BAD_REQUEST', message: '"input" needs to be an object when doing a batch call' })];
  }
  const inputs: Record<number, unknown> = {};
  for (let index = 0; index < calls; index++) inputs[index] = (parsed as Record<string, unknown>)[index];
  return [inputs, undefined];
}

/** The body as text, or undefined when it is longer than `max` bytes (the rest is not read). */
function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  const declared = Number(req.headers['content-length']);
  if (declared > max) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > max) {
        req.removeAllListeners('data');
        req.resume();
        resolve(undefined);
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
