import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DroverError } from '@drover/schemas';
import { TRPCError } from '@trpc/server';
import type { Logger } from 'pino';
import sirv from 'sirv';
import type { ServerMetrics } from './metrics.js';
import { appRouter } from './router.js';
import { BODY_TIMEOUT_MS, createRpcHandler } from './rpcHandler.js';
import type { Store } from './store/store.js';

export interface HttpOptions {
  readonly store: Store;
  readonly logger: Logger;
  /** When set, every request but `GET /health` needs `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string;
  /** Most connections open at once; more are closed as they arrive (see `DROVER_SERVER_MAX_CONNECTIONS`). */
  readonly maxConnections?: number;
  /** Most milliseconds a request body may take to arrive after its headers (default {@link BODY_TIMEOUT_MS}). */
  readonly bodyTimeoutMs?: number;
  /** Served at `GET /metrics` (behind the API key like the API), and told every API request's duration. */
  readonly metrics?: ServerMetrics;
  /** The web UI's built files (`uiRoot` of `@drover/ui`), served at `/` and its pages' paths; none when absent. */
  readonly uiRoot?: string;
}

/** Largest request body accepted (a batch of 1,000 log lines fits well within it). */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** Time the headers have to arrive from the connection's first byte: a request that trickles them is closed. */
const HEADERS_TIMEOUT_MS = 15_000;

/**
 * `GET /health`'s answer: the `health` procedure's result in tRPC's envelope, so a load balancer
 * gets its 200 and tRPC's own `httpLink` (which asks `GET /health` for `health.query()`) gets
 * what the procedure returns. Sent before tRPC (and without the API key) because it is constant;
 * the conformance test checks it against the procedure's answer through the batch link.
 */
const HEALTH_BODY = JSON.stringify({ result: { data: { status: 'ok' } } });

/** The HTTP server: `GET /health` for load balancers, the tRPC API everywhere else. */
export function createHttpServer(options: HttpOptions): Server {
  const expected = options.apiKey ? Buffer.from(`Bearer ${options.apiKey}`) : undefined;
  const rpc = createRpcHandler({
    router: appRouter,
    // Checked here, so a refused call gets tRPC's error shape (status 401) and runs nothing.
    createContext: (req) => {
      if (expected && !authorized(req, expected)) {
        throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Missing or wrong API key: send Authorization: Bearer <DROVER_API_KEY>' });
      }
      return { store: options.store };
    },
    maxBodyBytes: MAX_BODY_BYTES,
    bodyTimeoutMs: options.bodyTimeoutMs,
  });
  const ui = options.uiRoot === undefined ? undefined : serveUi(options.uiRoot);
  const server = createServer((req, res) => {
    // A clock read and a listener on every request, for a log line: only when that line is wanted.
    if (options.logger.isLevelEnabled('info')) {
      const started = process.hrtime.bigint();
      res.on('finish', () => logRequest(options.logger, req, res, started));
    }
    if (req.method === 'GET' && req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': HEALTH_BODY.length }).end(HEALTH_BODY);
      return;
    }
    if (ui && (req.method === 'GET' || req.method === 'HEAD') && isUiPath(req.url)) {
      ui(req, res);
      return;
    }
    const metrics = options.metrics;
    if (metrics && req.method === 'GET' && req.url?.split('?')[0] === '/metrics') {
      serveMetrics(req, res, metrics, expected);
      return;
    }
    if (metrics) {
      const started = process.hrtime.bigint();
      res.once('finish', () => metrics.observeRequest(req.url, Number(process.hrtime.bigint() - started) / 1e9));
    }
    rpc(req, res);
  });
  server.keepAliveTimeout = 65_000; // longer than common load balancers' idle timeout, so they close first
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  // Node's requestTimeout counts until the request has been read, not answered; the body's own
  // timeout (above) is the tighter bound, this one stops a request whose body is never asked for.
  server.requestTimeout = HEADERS_TIMEOUT_MS + (options.bodyTimeoutMs ?? BODY_TIMEOUT_MS);
  if (options.maxConnections !== undefined) server.maxConnections = options.maxConnections;
  return server;
}

/**
 * The UI's paths: `/`, its built files under `/assets/`, and its pages (`/runs/…`, …), which all
 * answer `index.html` so a page's address can be reloaded or shared. API procedures never collide
 * with them: their paths are procedure names (`/flowRuns.list`), with a dot and no slash.
 */
const UI_PAGES = /^\/(?:$|assets\/|favicon\.svg$|(?:runs|deployments|pools)(?:\/|$))/;

function isUiPath(url: string | undefined): boolean {
  return url !== undefined && UI_PAGES.test(url.split('?')[0] as string);
}

/**
 * The UI's files, with sirv: hashed assets cached for good, `index.html` revalidated each time. The
 * files hold no secret (the UI asks for the API key and keeps it in the browser's session), and a
 * strict Content-Security-Policy lets them load nothing and talk to nothing but this server.
 */
function serveUi(root: string): (req: IncomingMessage, res: ServerResponse) => void {
  const files = sirv(root, {
    single: true,
    etag: true,
    setHeaders(res, pathname) {
      res.setHeader('cache-control', pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
      res.setHeader('content-security-policy', UI_CSP);
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('referrer-policy', 'no-referrer');
    },
  });
  return (req, res) =>
    files(req, res, () => {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found\n');
    });
}

const UI_CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/** `GET /metrics`: Prometheus' text format, refused with 401 (as the API refuses) without the API key. */
function serveMetrics(req: IncomingMessage, res: ServerResponse, metrics: ServerMetrics, expected: Buffer | undefined): void {
  if (expected && !authorized(req, expected)) {
    const body = 'Missing or wrong API key: send Authorization: Bearer <DROVER_API_KEY> (in Prometheus: authorization: { credentials: ... })\n';
    res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Bearer', 'content-length': Buffer.byteLength(body) }).end(body);
    return;
  }
  metrics.scrape().then(
    (body) => res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(body) }).end(body),
    (error: unknown) => {
      const body = `Could not collect the metrics: ${(error as Error).message}\n`;
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
    },
  );
}

function authorized(req: IncomingMessage, expected: Buffer): boolean {
  const given = Buffer.from(req.headers.authorization ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function logRequest(logger: Logger, req: IncomingMessage, res: ServerResponse, started: bigint): void {
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  logger.info({ method: req.method, path: req.url?.split('?')[0], status: res.statusCode, ms: Math.round(ms * 100) / 100 }, 'request');
}

/** Listens, turning "port taken" into a clear error. Resolves with the bound address. */
export function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (error.code === 'EADDRINUSE') {
        reject(
          new DroverError(
            'ADDRESS_IN_USE',
            `Port ${port} on ${host} is already in use (another Drover server?): stop it or choose another port with --port`,
            { host, port },
            { cause: error },
          ),
        );
      } else {
        reject(error);
      }
    };
    const onListening = () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}
