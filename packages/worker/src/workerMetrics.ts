/**
 * A worker's own Prometheus metrics (`--metrics-port`): jobs running, how long due runs wait to be
 * claimed, and how long claimed runs take to have a job. A registry of its own per worker, served
 * by a small HTTP server on 127.0.0.1 unless told otherwise (it carries no secrets, but nothing
 * outside the machine needs it by default).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly jobsRunning: Gauge;
  readonly claimLatency: Histogram;
  readonly launchLatency: Histogram;
  readonly jobsFinished: Counter<'state'>;
  #server: Server | undefined;

  constructor(labels: { pool: string; worker: string }) {
    const registers = [this.registry];
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry });
    this.jobsRunning = new Gauge({ name: 'drover_worker_jobs_running', help: 'Jobs this worker started that have not exited yet', registers });
    this.claimLatency = new Histogram({
      name: 'drover_worker_claim_latency_seconds',
      help: 'Seconds from when a run was due (or created, if later) to this worker claiming it; 0 for runs claimed ahead of their time',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.launchLatency = new Histogram({
      name: 'drover_worker_launch_latency_seconds',
      help: 'Seconds from when a claimed run was due (or claimed, if later) to its job having started',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.jobsFinished = new Counter({
      name: 'drover_worker_runs_released_total',
      help: 'Runs this worker let go of, by the state they were in',
      labelNames: ['state'],
      registers,
    });
  }

  /** Serves `GET /metrics` on `host:port` (0: a free port); resolves with its URL. */
  async listen(host: string, port: number): Promise<string> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: the metrics are at GET /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (error: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`Could not collect the metrics: ${error.message}\n`),
      );
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    return `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}/metrics`;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server)
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    this.registry.clear();
  }
}

/** Seconds from `since` (ms) to `now`, never negative. */
export function secondsSince(since: number, now = Date.now()): number {
  return Math.max(0, (now - since) / 1000);
}
