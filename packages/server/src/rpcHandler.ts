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
  /** Most milliseconds a body may take to arrive once its headers have (default {@link BODY_TIMEOUT_MS}). */
  readonly bodyTimeoutMs?: number;
}

/**
 * Time a body has to arrive once its headers have: 16 MB in 30 s needs 4.5 Mbit/s. Timed from the
 * headers to the body's end only, never over the answer, so a 60 s long-poll claim is not cut.
 * A body trickled slower is refused and its connection closed.
 */
export const BODY_TIMEOUT_MS = 30_000;

/**
 * Deepest nesting of arrays and objects accepted in an input. Far above what any Drover input
 * needs, and far below what recursion over a parsed value (zod, canonical JSON) can take.
 */
const MAX_JSON_DEPTH = 64;

/** An answer up to this long is sent as one string; a longer one is written piece by piece. */
const ONE_STRING_LIMIT = 32 * 1024 * 1024;

type ProcedureType = AnyProcedure['_def']['type'];
type Answer = { result: { data: unknown } } | { error: unknown };

const METHOD_OF: Record<ProcedureType, string> = { query: 'GET', mutation: 'POST', subscription: 'GET' };

export function createRpcHandler<TRouter extends AnyRouter>(options: RpcHandlerOptions<TRouter>): (req: IncomingMessage, res: ServerResponse) => void {
  const { router, maxBodyBytes, bodyTimeoutMs = BODY_TIMEOUT_MS } = options;
  const config = router._def._config;
  const procedures = router._def.procedures as Record<string, AnyProcedure | undefined>;

  /** The error shape the client rebuilds its error from: the router's own `errorFormatter` makes it. */
  const shape = (error: TRPCError, type: ProcedureType | 'unknown', path: string | undefined, input: unknown, ctx: unknown) =>
    getErrorShape({ config, error, type, path, input, ctx });

  const send = (res: ServerResponse, json: Answer | Answer[], errors: (TRPCError | undefined)[], headers: Record<string, string> = {}) => {
    const status = getHTTPStatusCode(json as never, errors);
    const pieces = answerPieces(json);
    const first = pieces.next();
    if (first.done) {
      // The whole answer is one string: the common case, sent with its length.
      const body = first.value;
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers }).end(body);
      return;
    }
    // Longer than one string may be (V8 caps strings at 2^29 characters): streamed, row by row.
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    writePieces(res, first.value, pieces);
  };

  /** Closes the connection once the answer is out: a body left unread must not keep the socket busy. */
  const closeOnceAnswered = (req: IncomingMessage, res: ServerResponse) => {
    res.shouldKeepAlive = false;
    res.once('finish', () => req.socket.destroySoon());
  };

  /** An error of the request as a whole, before any call ran: one error object, as tRPC answers it. */
  const refuse = (res: ServerResponse, error: TRPCError) => send(res, { error: shape(error, 'unknown', undefined, undefined, undefined) }, [error]);

  /**
   * Refuses a request whose body is not (or no longer) read, and closes its connection once the
   * answer is out: an unread body must not be read into memory, nor left to keep the socket busy.
   */
  const refuseAndClose = (req: IncomingMessage, res: ServerResponse, error: TRPCError) => {
    closeOnceAnswered(req, res);
    refuse(res, error);
  };

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

    // The context first: a caller without the API key gets its 401 before a byte of its body is read.
    let ctx: unknown;
    try {
      ctx = options.createContext(req);
    } catch (cause) {
      // Each call fails with the context's error, named by its path, as tRPC's adapters answer it.
      const error = getTRPCErrorFromUnknown(cause);
      const answers = calls.map((call) => ({ error: shape(error, call.procedure?._def.type ?? 'unknown', call.path, undefined, undefined) }));
      if (method !== 'GET') closeOnceAnswered(req, res);
      send(
        res,
        batch ? answers : (answers[0] as Answer),
        answers.map(() => error),
      );
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
        refuseAndClose(
          req,
          res,
          new TRPCError({ code: 'UNSUPPORTED_MEDIA_TYPE', message: given ? `Unsupported content-type "${given}"` : 'Missing content-type header' }),
        );
        return;
      }
      const body = await readBody(req, maxBodyBytes, bodyTimeoutMs);
      if (body === 'too large') {
        refuseAndClose(
          req,
          res,
          new TRPCError({
            code: 'PAYLOAD_TOO_LARGE',
            message: `Request body larger than the limit of ${maxBodyBytes} bytes: send large data by reference (a URL or file path)`,
          }),
        );
        return;
      }
      if (body === 'too slow') {
        refuseAndClose(req, res, new TRPCError({ code: 'TIMEOUT', message: `Request body not received within ${bodyTimeoutMs / 1000} s of its headers` }));
        return;
      }
      [inputs, inputError] = parseInputs(body ? body : undefined, batch, paths.length);
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
          if (inputError) throw inputError;
          if (!procedure) throw new TRPCError({ code: 'NOT_FOUND', message: `No procedure found on path "${path}"` });
          const expected = METHOD_OF[procedure._def.type];
          if (method !== expected) {
            headers.allow = expected;
            throw new TRPCError({
              code: 'METHOD_NOT_SUPPORTED',
              message: `Unsupported ${method}-request to ${procedure._def.type} procedure at path "${path}"`,
            });
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
  if (nestingExceeds(text, MAX_JSON_DEPTH)) {
    return [{}, new TRPCError({ code: 'BAD_REQUEST', message: `Input JSON is nested deeper than ${MAX_JSON_DEPTH} levels of arrays and objects: flatten it` })];
  }
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

/**
 * True when the JSON text nests arrays and objects deeper than `max`. Checked on the text, before
 * parsing: what the server does with a parsed value (zod, canonical JSON, the database's JSON
 * functions) recurses, and 10,000 levels overflow its stack.
 */
function nestingExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/**
 * The body as text; 'too large' as soon as it passes `max` bytes (declared or sent), and 'too slow'
 * when it has not all arrived `timeoutMs` after its headers. Either way the rest is not read.
 */
function readBody(req: IncomingMessage, max: number, timeoutMs: number): Promise<string | 'too large' | 'too slow'> {
  const declared = Number(req.headers['content-length']);
  if (declared > max) return Promise.resolve('too large');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const stop = (outcome: 'too large' | 'too slow') => {
      clearTimeout(timer);
      req.removeAllListeners('data');
      req.pause();
      resolve(outcome);
    };
    // Node's own requestTimeout is checked only every 30 s and answers no body: this one names the cause.
    const timer = setTimeout(() => stop('too slow'), timeoutMs);
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > max) stop('too large');
      else chunks.push(chunk);
    });
    req.on('end', () => {
      clearTimeout(timer);
      resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/**
 * The JSON of an answer: returns it whole when it fits in {@link ONE_STRING_LIMIT}; otherwise
 * yields it in pieces (a batch answer by answer, a list row by row), so a long list never needs
 * one string longer than V8 allows.
 */
function* answerPieces(json: Answer | Answer[]): Generator<string, string, undefined> {
  const pieces: string[] = [];
  let length = 0;
  for (const piece of jsonPieces(json)) {
    pieces.push(piece);
    length += piece.length;
    if (length > ONE_STRING_LIMIT) {
      yield pieces.join('');
      pieces.length = 0;
      length = 0;
    }
  }
  return pieces.join('');
}

/** A batch's answers, and a list's rows, each as its own JSON string. */
function* jsonPieces(json: Answer | Answer[]): Generator<string, void, undefined> {
  if (Array.isArray(json)) {
    yield '[';
    for (const [index, answer] of json.entries()) {
      if (index > 0) yield ',';
      yield* jsonPieces(answer);
    }
    yield ']';
    return;
  }
  const data = 'result' in json ? json.result.data : undefined;
  if (!Array.isArray(data)) {
    yield JSON.stringify(json);
    return;
  }
  yield '{"result":{"data":[';
  for (const [index, row] of data.entries()) yield (index > 0 ? ',' : '') + (JSON.stringify(row) ?? 'null');
  yield ']}}';
}

/** Writes `first` and the rest of `pieces`, waiting for the socket to drain between them. */
function writePieces(res: ServerResponse, first: string, pieces: Generator<string, string, undefined>): void {
  let next: IteratorResult<string, string> = { done: false, value: first };
  const pump = () => {
    while (!next.done) {
      const more = res.write(next.value);
      next = pieces.next();
      if (!more) {
        res.once('drain', pump);
        return;
      }
    }
    res.end(next.value);
  };
  res.once('close', () => res.off('drain', pump));
  pump();
}
