import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { type ClaimedFlowRun, isTerminal } from '@drover/schemas';
import { type DroverClient, getClient } from './api.js';
import type { RunnerDeployment } from './deployments.js';
import { executeFlowRun } from './engine.js';
import type { AnyFlow } from './flow.js';

export interface ServeOptions {
  /** At most this many runs at once in this process (default unlimited). */
  readonly limit?: number;
  /** Pause the served deployments when the runner stops (default false). */
  readonly pauseOnShutdown?: boolean;
  readonly printStartingMessage?: boolean;
  /** On shutdown, running flows get this long to finish before they are cancelled (default 30 s). */
  readonly shutdownGraceSeconds?: number;
  /** Claim runs due this far ahead, and start each at its time (default 10 s). */
  readonly prefetchSeconds?: number;
  /** How long one poll waits on the server for a run (default 10 s; runs created meanwhile wake it at once). */
  readonly pollWaitSeconds?: number;
  /** How often running flows heartbeat; cancellation requests are noticed at a heartbeat (default 10 s). */
  readonly heartbeatSeconds?: number;
  /** Stop on SIGINT and SIGTERM (default true). */
  readonly handleSignals?: boolean;
  /** Stops the runner when aborted. */
  readonly signal?: AbortSignal;
  readonly client?: DroverClient;
  readonly name?: string;
  readonly print?: (line: string) => void;
}

/**
 * Serves deployments from this process: registers them, claims their due runs and runs them
 * here with the engine, at most `limit` at a time. `run()` resolves once it has stopped.
 */
export class Runner {
  readonly name: string;
  readonly #client: DroverClient;
  readonly #options: ServeOptions;
  readonly #deployments: readonly RunnerDeployment[];
  readonly #flows = new Map<string, AnyFlow>();
  readonly #running = new Map<string, Promise<void>>();
  readonly #stop = new AbortController();
  readonly #cancelRunning = new AbortController();
  #slotFreed: () => void = () => {};
  /** Resolves once the deployments are registered and the runner is polling. */
  readonly ready: Promise<void>;
  #markReady: () => void = () => {};

  constructor(deployments: readonly RunnerDeployment[], options: ServeOptions = {}) {
    this.#deployments = deployments;
    this.#options = options;
    this.#client = options.client ?? getClient();
    this.name = options.name ?? `runner-${hostname()}-${process.pid}`;
    // Every running flow listens on this signal until it ends: more than 10 at once is no leak,
    // and Node's MaxListenersExceededWarning would otherwise be printed to the user's terminal.
    setMaxListeners(0, this.#cancelRunning.signal);
    this.ready = new Promise((resolve) => {
      this.#markReady = resolve;
    });
  }

  /** How many runs this runner is executing now. */
  get running(): number {
    return this.#running.size;
  }

  /** Asks the runner to stop; `run()` resolves when it has. */
  stop(): void {
    this.#stop.abort();
    this.#slotFreed();
  }

  async run(): Promise<void> {
    const onSignal = () => this.stop();
    if (this.#options.handleSignals ?? true) {
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    }
    this.#options.signal?.addEventListener('abort', onSignal, { once: true });
    try {
      for (const deployment of this.#deployments) {
        const { deployment: saved } = await this.#client.deployments.upsert(await deployment.toCreate({ workPoolName: undefined, workQueueName: undefined }));
        this.#flows.set(saved.id, deployment.flow);
      }
      if (this.#options.printStartingMessage ?? true) this.#printStart();
      this.#markReady();
      await this.#poll();
      await this.#drain();
      if (this.#options.pauseOnShutdown) for (const id of this.#flows.keys()) await this.#client.deployments.pause(id);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      this.#options.signal?.removeEventListener('abort', onSignal);
    }
  }

  async #poll(): Promise<void> {
    const limit = this.#options.limit ?? Number.POSITIVE_INFINITY;
    const prefetchMs = (this.#options.prefetchSeconds ?? 10) * 1000;
    while (!this.#stop.signal.aborted) {
      const free = limit - this.#running.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          this.#slotFreed = resolve;
        });
        continue;
      }
      let runs: ClaimedFlowRun[];
      try {
        runs = await this.#client.deployments.claimRuns({
          deploymentIds: [...this.#flows.keys()],
          workerName: this.name,
          scheduledBefore: new Date(Date.now() + prefetchMs).toISOString(),
          limit: Math.min(free, 1000),
          waitMs: (this.#options.pollWaitSeconds ?? 10) * 1000,
        }, this.#stop.signal);
      } catch (error) {
        if (this.#stop.signal.aborted) break; // stop() hung up the long-poll
        this.#print(`Could not poll for runs (${(error as Error).message}); retrying in 5 s`);
        await new Promise((resolve) => setTimeout(resolve, 5000));
        continue;
      }
      for (const run of runs) this.#start(run);
    }
  }

  #start(run: ClaimedFlowRun): void {
    const flow = this.#flows.get(run.deploymentId as string) as AnyFlow;
    const execution = executeFlowRun(this.#client, run, flow, {
      claimToken: run.claimToken,
      cancel: this.#cancelRunning.signal,
      heartbeatIntervalMs: (this.#options.heartbeatSeconds ?? 10) * 1000,
    })
      .then((state) => {
        if (!isTerminal(state.type)) this.#print(`Run ${run.name} ended ${state.type}`);
      })
      .catch((error: unknown) => this.#print(`Run ${run.name} failed in the engine: ${(error as Error).message}`))
      .finally(() => {
        this.#running.delete(run.id);
        this.#slotFreed();
      });
    this.#running.set(run.id, execution);
  }

  /** Lets running flows finish within the grace period, then cancels the rest. */
  async #drain(): Promise<void> {
    if (this.#running.size === 0) return;
    const graceMs = (this.#options.shutdownGraceSeconds ?? 30) * 1000;
    this.#print(`Stopping: waiting up to ${graceMs / 1000} s for ${this.#running.size} running flow run(s)`);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const finished = await Promise.race([Promise.all(this.#running.values()).then(() => 'done' as const), graceOver]);
    clearTimeout(timer);
    if (finished === 'timeout') {
      this.#cancelRunning.abort(new Error(`Runner ${this.name} shut down`));
      await Promise.all(this.#running.values());
    }
  }

  #print(line: string): void {
    (this.#options.print ?? ((l: string) => process.stdout.write(`${l}\n`)))(line);
  }

  #printStart(): void {
    const names = this.#deployments.map((d) => d.fullName);
    this.#print(`Serving ${names.length} deployment(s) as ${this.name}: ${names.join(', ')}`);
    this.#print(`To run one now:\n  drover deployment run '${names[0]}'`);
  }
}

/**
 * Serves deployments from this process until SIGINT/SIGTERM (or `options.signal`): their runs,
 * scheduled or triggered, execute here, at most `limit` at once.
 *
 * @example
 * await serve(RunnerDeployment.fromFlow(etl, { schedule: { interval: 3600 } }), RunnerDeployment.fromFlow(report), { limit: 4 });
 */
export function serve(...args: [...RunnerDeployment[], ServeOptions] | RunnerDeployment[]): Promise<void> {
  const last = args.at(-1);
  const hasOptions = last !== undefined && !('flow' in last);
  const deployments = (hasOptions ? args.slice(0, -1) : args) as RunnerDeployment[];
  return new Runner(deployments, hasOptions ? (last as ServeOptions) : {}).run();
}
