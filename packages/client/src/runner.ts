import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClaimedFlowRun, isTerminal } from '@drover/schemas';
import { type DroverClient, getClient } from './api.js';
import type { RunnerDeployment } from './deployments.js';
import { executeFlowRun } from './engine.js';
import type { AnyFlow } from './flow.js';
import { backoffDelayMs } from './serverRetry.js';

export interface ServeOptions {
  /** At most this many runs at once in this process (default unlimited). */
  readonly limit?: number;
  /** Pause the served deployments when the runner stops (default false). */
  readonly pauseOnShutdown?: boolean;
  /** Print which deployments are served and how to run one (default true). */
  readonly printStartingMessage?: boolean;
  /** On shutdown, running flows get this long to finish before they are cancelled (default 30). */
  readonly shutdownGraceSeconds?: number;
  /** Claim runs due this far ahead, and start each at its time (default 10). */
  readonly prefetchSeconds?: number;
  /** Longest wait of one poll, at most 60 (default 10; runs created meanwhile wake it at once). */
  readonly pollWaitSeconds?: number;
  /** How often running flows heartbeat; cancellation requests are noticed at a heartbeat (default 10). */
  readonly runHeartbeatSeconds?: number;
  /** Stop on SIGINT and SIGTERM (default true). */
  readonly handleSignals?: boolean;
  /** Stops the runner when aborted. */
  readonly signal?: AbortSignal;
  /** Default: `getClient()`, from DROVER_API_URL / DROVER_API_KEY or the profile. */
  readonly client?: DroverClient;
  /** Default `runner-hostname-pid`. */
  readonly name?: string;
  /** Where the runner's messages go (default stdout). */
  readonly print?: (line: string) => void;
}

/** Every option with its default filled in: what the runner runs with, resolved once. */
type ResolvedServeOptions = Required<Omit<ServeOptions, 'signal'>> & Pick<ServeOptions, 'signal'>;

/** The defaults of `ServeOptions`, documented beside each option. */
export const SERVE_DEFAULTS = {
  limit: Number.POSITIVE_INFINITY,
  pauseOnShutdown: false,
  printStartingMessage: true,
  shutdownGraceSeconds: 30,
  prefetchSeconds: 10,
  pollWaitSeconds: 10,
  runHeartbeatSeconds: 10,
  handleSignals: true,
} as const;

function resolveServeOptions(options: ServeOptions): ResolvedServeOptions {
  const set = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as ServeOptions;
  return {
    ...SERVE_DEFAULTS,
    name: `runner-${hostname()}-${process.pid}`,
    client: set.client ?? getClient(),
    print: (line: string) => process.stdout.write(`${line}\n`),
    ...set,
    // A poll longer than the server's longest long-poll would only be cut short.
    pollWaitSeconds: Math.min(60, set.pollWaitSeconds ?? SERVE_DEFAULTS.pollWaitSeconds),
  };
}

/** Where a runner (or a worker) is in its life. */
export type ServiceState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * Serves deployments from this process: registers them, claims their due runs and runs them
 * here with the engine, at most `limit` at a time. `run()` resolves once it has stopped.
 */
export class Runner {
  readonly name: string;
  readonly #client: DroverClient;
  readonly #options: ResolvedServeOptions;
  #state: ServiceState = 'idle';
  readonly #deployments: readonly RunnerDeployment[];
  readonly #flows = new Map<string, AnyFlow>();
  readonly #running = new Map<string, Promise<void>>();
  readonly #stop = new AbortController();
  readonly #cancelRunning = new AbortController();
  #slotFreed: () => void = () => {};
  /** Resolves once the deployments are registered and the runner is polling; rejects when it cannot start. */
  readonly ready: Promise<void>;
  #markReady: () => void = () => {};
  #failReady: (error: unknown) => void = () => {};

  constructor(deployments: readonly RunnerDeployment[], options: ServeOptions = {}) {
    this.#deployments = deployments;
    this.#options = resolveServeOptions(options);
    this.#client = this.#options.client;
    this.name = this.#options.name;
    // Every running flow listens on this signal until it ends: more than 10 at once is no leak,
    // and Node's MaxListenersExceededWarning would otherwise be printed to the user's terminal.
    setMaxListeners(0, this.#cancelRunning.signal);
    this.ready = new Promise((resolve, reject) => {
      this.#markReady = resolve;
      this.#failReady = reject;
    });
    // Callers that only await start() must not see an unhandled rejection of `ready`.
    this.ready.catch(() => {});
  }

  get state(): ServiceState {
    return this.#state;
  }

  /** How many runs this runner is executing now. */
  get running(): number {
    return this.#running.size;
  }

  /** Asks the runner to stop; `start()` resolves when it has. */
  stop(): void {
    this.#stop.abort();
    this.#slotFreed();
  }

  /** Registers the deployments and serves their runs until `stop()`; resolves once stopped. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new Error(`Runner ${this.name} was already started`);
    this.#state = 'starting';
    const onSignal = () => this.stop();
    if (this.#options.handleSignals) {
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    }
    this.#options.signal?.addEventListener('abort', onSignal, { once: true });
    try {
      try {
        for (const deployment of this.#deployments) {
          const { deployment: saved } = await this.#client.deployments.upsert(await deployment.toCreate({ workPoolName: undefined, workQueueName: undefined }));
          this.#flows.set(saved.id, deployment.flow);
        }
      } catch (error) {
        this.#failReady(error);
        throw error;
      }
      if (this.#options.printStartingMessage) this.#printStart();
      this.#state = 'running';
      this.#markReady();
      await this.#poll();
      this.#state = 'stopping';
      await this.#drain();
      if (this.#options.pauseOnShutdown) for (const id of this.#flows.keys()) await this.#client.deployments.pause(id);
    } finally {
      this.#state = 'stopped';
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      this.#options.signal?.removeEventListener('abort', onSignal);
    }
  }

  async #poll(): Promise<void> {
    const limit = this.#options.limit;
    const prefetchMs = this.#options.prefetchSeconds * 1000;
    let failures = 0; // polls failed in a row: the backoff's attempt
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
        runs = await this.#client.deployments.claimRuns(
          {
            deploymentIds: [...this.#flows.keys()],
            workerName: this.name,
            scheduledBefore: new Date(Date.now() + prefetchMs).toISOString(),
            limit: Math.min(free, 1000),
            waitMs: this.#options.pollWaitSeconds * 1000,
          },
          this.#stop.signal,
        );
      } catch (error) {
        if (this.#stop.signal.aborted) break; // stop() hung up the long-poll
        const delayMs = backoffDelayMs(failures++);
        this.#print(`Could not poll for runs (${(error as Error).message}); retrying in ${(delayMs / 1000).toFixed(1)} s`);
        await sleep(delayMs, undefined, { signal: this.#stop.signal }).catch(() => {}); // stop() ends the wait
        continue;
      }
      failures = 0;
      for (const run of runs) this.#start(run);
    }
  }

  #start(run: ClaimedFlowRun): void {
    const flow = this.#flows.get(run.deploymentId as string) as AnyFlow;
    const execution = executeFlowRun(this.#client, run, flow, {
      claimToken: run.claimToken,
      cancel: this.#cancelRunning.signal,
      heartbeatIntervalMs: this.#options.runHeartbeatSeconds * 1000,
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
    const graceMs = this.#options.shutdownGraceSeconds * 1000;
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
    this.#options.print(line);
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
  return new Runner(deployments, hasOptions ? (last as ServeOptions) : {}).start();
}
