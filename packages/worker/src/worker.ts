import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  backoffDelayMs,
  type DroverClient,
  getClient,
  LogShipper,
  parseMarkedLine,
  type ServiceState,
  setupTracing,
  type TraceSpan,
  type Tracing,
} from '@drover/client';
import { assertNever, type ClaimedFlowRun, type FlowRun, isDroverError, isTerminal, type State, type WorkPool, type WorkPoolType } from '@drover/schemas';
import { buildJobConfiguration } from './jobConfiguration.js';
import { DockerLauncher } from './launchers/docker.js';
import { KubernetesLauncher } from './launchers/kubernetes.js';
import type { Job, Launcher } from './launchers/launcher.js';
import { ProcessLauncher } from './launchers/process.js';
import { secondsSince, WorkerMetrics } from './workerMetrics.js';

export interface WorkerOptions {
  readonly workPoolName: string;
  /** Queues to take runs from (all of the pool's when absent or empty). */
  readonly workQueues?: readonly string[];
  /** Default `hostname-pid`. */
  readonly name?: string;
  /** At most this many jobs at once (default unlimited). */
  readonly limit?: number;
  /** Longest wait of one poll, at most 60 (default 15); a run created for the pool, or one entering the prefetch window, wakes it at once. */
  readonly pollWaitSeconds?: number;
  /** Claim runs due this far ahead, and launch each at its time (default 10). */
  readonly prefetchSeconds?: number;
  /** How often the worker reports itself alive (default 30; 3 missed beats: OFFLINE). */
  readonly heartbeatSeconds?: number;
  /** How often the runs it holds heartbeat, and cancellation requests are checked (default 5). */
  readonly runHeartbeatSeconds?: number;
  /** The pool's type; the pool is created with this type's default template when it does not exist. */
  readonly type?: WorkPoolType;
  /** On stop, running jobs get this long to finish before they are stopped and reported CRASHED (default 30). */
  readonly shutdownGraceSeconds?: number;
  /** A stopped job gets this long between SIGTERM (or the platform's stop) and SIGKILL (default 10). */
  readonly stopGraceSeconds?: number;
  /** Launch a job this long before its run is due, so the engine has started when the time comes (default 1,000). */
  readonly launchLeadMs?: number;
  /** Default: `getClient()`, from DROVER_API_URL / DROVER_API_KEY or the profile. */
  readonly client?: DroverClient;
  /** Launchers by pool type (the built-in ones by default). */
  readonly launchers?: Partial<Record<WorkPoolType, Launcher>>;
  /** Where the worker's own messages and its jobs' output go (default stdout). */
  readonly print?: (line: string) => void;
  /** Serve this worker's Prometheus metrics at `GET /metrics` on this port (0: a free one; none when absent). */
  readonly metricsPort?: number;
  /** The address the metrics are served on (default 127.0.0.1: this machine only). */
  readonly metricsHost?: string;
}

/** Every option with its default filled in: what the worker runs with, resolved once. */
type ResolvedWorkerOptions = Required<Omit<WorkerOptions, 'type' | 'launchers' | 'metricsPort'>> & Pick<WorkerOptions, 'type' | 'launchers' | 'metricsPort'>;

/** The defaults of `WorkerOptions`, documented beside each option. */
export const WORKER_DEFAULTS = {
  workQueues: [],
  limit: Number.POSITIVE_INFINITY,
  pollWaitSeconds: 15,
  prefetchSeconds: 10,
  heartbeatSeconds: 30,
  runHeartbeatSeconds: 5,
  shutdownGraceSeconds: 30,
  stopGraceSeconds: 10,
  launchLeadMs: 1000,
  metricsHost: '127.0.0.1',
} as const;

function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  const set = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as WorkerOptions;
  return {
    ...WORKER_DEFAULTS,
    name: `${hostname()}-${process.pid}`,
    client: set.client ?? getClient(),
    print: (line: string) => process.stdout.write(`${line}\n`),
    ...set,
    // A poll longer than the server's longest long-poll would only be cut short.
    pollWaitSeconds: Math.min(60, set.pollWaitSeconds ?? WORKER_DEFAULTS.pollWaitSeconds),
  };
}

interface Held {
  /** With the token of the claim: the worker's proof, sent with what it says about the run. */
  readonly run: ClaimedFlowRun;
  timer?: NodeJS.Timeout;
  configuration?: Record<string, unknown>;
  job?: Job;
  /**
   * The worker gave up on the run (shutdown), or the run is no longer its claim's (lost): its
   * job's end is not the run's end, and the worker says nothing more about it.
   */
  abandoned?: boolean;
  /** When traced: the span the run's claim and job spans go under (the run's trace context, or `root`). */
  trace?: { readonly parent: string; readonly root?: TraceSpan; job?: TraceSpan };
  readonly done: Promise<void>;
  finish(): void;
}

export type WorkerEvents = {
  /** A job started for a run. */
  launched: [run: FlowRun, infrastructureId: string];
  /** A run the worker held is over for this worker, in this state. */
  released: [run: FlowRun, state: State];
  /** The worker has stopped. */
  stopped: [];
};

/**
 * A worker: joins a work pool, heartbeats, claims the pool's due runs (woken by the server the
 * moment one is created or comes due), launches each at its time as a job on the pool's
 * infrastructure from the pool's job template, and reports the truth when a job dies.
 */
export class Worker extends EventEmitter<WorkerEvents> {
  readonly name: string;
  readonly #options: ResolvedWorkerOptions;
  readonly #client: DroverClient;
  #state: ServiceState = 'idle';
  readonly #held = new Map<string, Held>();
  readonly #stop = new AbortController();
  #pool: WorkPool | undefined;
  #launcher: Launcher | undefined;
  #timers: NodeJS.Timeout[] = [];
  #slotFreed: () => void = () => {};
  #stopped: Promise<void> | undefined;
  #markReady: () => void = () => {};
  #metrics: WorkerMetrics | undefined;
  #tracing: Tracing | undefined;
  /** Where the worker serves its metrics, once started with `metricsPort`. */
  metricsUrl: string | undefined;
  #failReady: (error: unknown) => void = () => {};
  /** Resolves once the worker has its pool, has said it is alive, and is polling; rejects when it cannot start. */
  readonly ready: Promise<void> = new Promise((resolve, reject) => {
    this.#markReady = resolve;
    this.#failReady = reject;
  });

  constructor(options: WorkerOptions) {
    super();
    this.#options = resolveWorkerOptions(options);
    this.#client = this.#options.client;
    this.name = this.#options.name;
    // Callers that only await start() must not see an unhandled rejection of `ready`.
    this.ready.catch(() => {});
  }

  get state(): ServiceState {
    return this.#state;
  }

  /** How many runs the worker holds (waiting for their time or running). */
  get held(): number {
    return this.#held.size;
  }

  #print(line: string): void {
    this.#options.print(line);
  }

  /** Runs the worker until `stop()`; resolves once it has stopped. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new Error(`Worker ${this.name} was already started`);
    this.#state = 'starting';
    let pool: WorkPool;
    try {
      pool = await this.#ensurePool();
      this.#launcher = this.#launcherFor(pool.type);
      await this.#beat();
      this.#tracing = await setupTracing('drover-worker');
      if (this.#options.metricsPort !== undefined) {
        this.#metrics = new WorkerMetrics({ pool: pool.name, worker: this.name });
        this.metricsUrl = await this.#metrics.listen(this.#options.metricsHost, this.#options.metricsPort);
      }
    } catch (error) {
      await this.#metrics?.close();
      this.#state = 'stopped';
      this.#failReady(error);
      this.emit('stopped');
      throw error;
    }
    this.#pool = pool;
    await this.#prepareLauncher(pool).catch((error: unknown) => this.#print(`Worker ${this.name} could not start warm engines: ${(error as Error).message}`));
    const every = (seconds: number, fn: () => Promise<void>) =>
      this.#timers.push(setInterval(() => void fn().catch((e: unknown) => this.#print(`Worker ${this.name}: ${(e as Error).message}`)), seconds * 1000));
    every(this.#options.heartbeatSeconds, () => this.#beat());
    every(this.#options.runHeartbeatSeconds, () => this.#checkRuns());
    const queues = this.#options.workQueues.length ? this.#options.workQueues.join(', ') : 'all queues';
    const limit = Number.isFinite(this.#options.limit) ? `, limit ${this.#options.limit}` : '';
    this.#print(`Worker ${this.name} started on ${pool.type} pool "${pool.name}" (${queues}${limit})`);
    this.#state = 'running';
    this.#markReady();
    await this.#poll();
    this.#state = 'stopping';
    await this.#shutdown();
    this.#state = 'stopped';
  }

  /** Stops claiming, lets running jobs finish within the grace period, and reports the rest. Resolves when stopped. */
  stop(): Promise<void> {
    this.#stop.abort();
    this.#slotFreed();
    this.#stopped ??= new Promise((resolve) => this.once('stopped', resolve));
    return this.#state === 'idle' || this.#state === 'stopped' ? Promise.resolve() : this.#stopped;
  }

  async #ensurePool(): Promise<WorkPool> {
    const name = this.#options.workPoolName;
    try {
      const pool = await this.#client.workPools.read(name);
      if (this.#options.type && pool.type !== this.#options.type) {
        throw new Error(`Work pool "${name}" is a ${pool.type} pool, not ${this.#options.type}: start the worker with --type ${pool.type} or use another pool`);
      }
      return pool;
    } catch (error) {
      if (!isDroverError(error, 'WORK_POOL_NOT_FOUND') || !this.#options.type) throw error;
      const pool = await this.#client.workPools.create({ name, type: this.#options.type });
      this.#print(`Created work pool "${name}" of type ${pool.type} with its default job template`);
      return pool;
    }
  }

  #launcherFor(type: WorkPoolType): Launcher {
    const given = this.#options.launchers?.[type];
    if (given) return given;
    switch (type) {
      case 'process':
        return new ProcessLauncher();
      case 'docker':
        return new DockerLauncher();
      case 'kubernetes':
        return new KubernetesLauncher();
      default:
        return assertNever(type);
    }
  }

  async #beat(): Promise<void> {
    await this.#client.workers.heartbeat({
      workPoolName: this.#options.workPoolName,
      name: this.name,
      heartbeatIntervalSeconds: this.#options.heartbeatSeconds,
    });
    await this.#stopOrphanedCancellations();
  }

  async #poll(): Promise<void> {
    const limit = this.#options.limit;
    let failures = 0; // polls failed in a row: the backoff's attempt
    while (!this.#stop.signal.aborted) {
      const free = limit - this.#held.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          this.#slotFreed = resolve;
        });
        continue;
      }
      let runs: ClaimedFlowRun[];
      const pollStarted = Date.now();
      try {
        runs = await this.#client.workPools.claimRuns(
          {
            workPoolName: this.#options.workPoolName,
            workQueueNames: this.#options.workQueues.length ? [...this.#options.workQueues] : undefined,
            workerName: this.name,
            scheduledBefore: new Date(Date.now() + this.#options.prefetchSeconds * 1000).toISOString(),
            limit: Math.min(free, 1000),
            waitMs: this.#options.pollWaitSeconds * 1000,
          },
          this.#stop.signal,
        );
      } catch (error) {
        if (this.#stop.signal.aborted) break; // stop() hung up the long-poll; the server hands out nothing then
        const delayMs = backoffDelayMs(failures++);
        this.#print(`Worker ${this.name} could not poll (${(error as Error).message}); retrying in ${(delayMs / 1000).toFixed(1)} s`);
        await sleep(delayMs, undefined, { signal: this.#stop.signal }).catch(() => {}); // stop() ends the wait
        continue;
      }
      failures = 0;
      for (const run of runs) this.#hold(run, pollStarted);
    }
  }

  /** Keeps a claimed run and launches it when it is due (less the launch lead). */
  #hold(run: ClaimedFlowRun, pollStarted: number): void {
    let finish: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const held: Held = { run, done, finish };
    this.#held.set(run.id, held);
    const due = run.nextScheduledStartTime ? Date.parse(run.nextScheduledStartTime) : Date.now();
    this.#metrics?.claimLatency.observe(secondsSince(Math.max(due, Date.parse(run.created))));
    if (this.#tracing) {
      const attributes = { 'drover.flow_run.id': run.id, 'drover.flow_run.name': run.name, 'drover.worker.name': this.name };
      // A run no trace started (made by the scheduler, or a server that does not trace) gets its own trace here.
      const root = run.traceContext ? undefined : this.#tracing.startSpan(`flow run ${run.name}`, { parent: null, attributes });
      held.trace = { parent: run.traceContext ?? (root as TraceSpan).traceParent, root };
      const claim = this.#tracing.startSpan('claim', { parent: held.trace.parent, attributes, startTime: Math.max(pollStarted, Date.parse(run.created)) });
      claim.end();
    }
    const delay = Math.max(0, due - Date.now() - this.#options.launchLeadMs);
    held.timer = setTimeout(() => {
      held.timer = undefined;
      void this.#launch(held);
    }, delay);
  }

  #release(held: Held, state: State): void {
    this.#metrics?.jobsFinished.inc({ state: state.type });
    for (const span of [held.trace?.job, held.trace?.root]) {
      span?.setAttributes({ 'drover.state.type': state.type, 'drover.state.name': state.name });
      span?.end();
    }
    this.#held.delete(held.run.id);
    held.finish();
    this.#slotFreed();
    this.emit('released', held.run, state);
  }

  async #launch(held: Held): Promise<void> {
    const { run } = held;
    const pool = this.#pool as WorkPool;
    const logs = new LogShipper(this.#client, run.id);
    const tail: string[] = [];
    const streamOutput = (line: string) => {
      if (held.job && this.#jobStreams(held)) this.#print(`${run.name} | ${line}`);
    };
    let state: State | undefined;
    const due = Math.max(run.nextScheduledStartTime ? Date.parse(run.nextScheduledStartTime) : 0, Date.now() - this.#options.launchLeadMs);
    const jobSpan = held.trace && this.#tracing?.startSpan('job', { parent: held.trace.parent, attributes: { 'drover.flow_run.id': run.id } });
    if (held.trace) held.trace.job = jobSpan;
    const launchSpan = jobSpan && this.#tracing?.startSpan('launch', { parent: jobSpan.traceParent, attributes: { 'drover.pool.type': pool.type } });
    let running = false;
    try {
      const deployment = await this.#client.deployments.read(run.deploymentId as string);
      const configuration = buildJobConfiguration(
        pool.baseJobTemplate,
        deployment.jobVariables,
        run.jobVariables,
        `run ${run.name} of ${run.flowName}/${deployment.name} in pool "${pool.name}"`,
      );
      configuration.name ??= run.name;
      held.configuration = configuration;
      const shared = this.#sharedJobEnv();
      const droverEnv: Record<string, string> = { ...shared.droverEnv, DROVER_FLOW_RUN_ID: run.id };
      // The job's spans go under its job span (W3C TRACEPARENT).
      if (jobSpan) droverEnv.TRACEPARENT = jobSpan.traceParent;
      // The job heartbeats and proposes under the worker's claim, and stops once it is lost.
      const secretEnv: Record<string, string> = { ...shared.secretEnv, DROVER_CLAIM_TOKEN: run.claimToken };
      const job = await (this.#launcher as Launcher).launch({
        run,
        configuration,
        droverEnv,
        secretEnv,
        entrypoint: deployment.entrypoint ?? undefined,
        onOutput: (stream, line) => {
          // The engine's own lines are in the run's logs already; anything else the job printed is shipped here.
          const marked = parseMarkedLine(line);
          const message = marked?.message ?? line;
          if (!marked) logs.add(stream === 'stderr' ? 'error' : 'info', line);
          tail.push(message);
          if (tail.length > 10) tail.shift();
          streamOutput(message);
        },
      });
      held.job = job;
      this.#metrics?.launchLatency.observe(secondsSince(due));
      this.#metrics?.jobsRunning.inc();
      running = true;
      launchSpan?.setAttributes({ 'drover.infrastructure_id': job.infrastructureId });
      launchSpan?.end();
      this.emit('launched', run, job.infrastructureId);
      await this.#client.flowRuns
        .setInfrastructure({ id: run.id, infrastructureId: job.infrastructureId, claimToken: run.claimToken })
        .catch((error: unknown) =>
          isDroverError(error, 'CLAIM_LOST')
            ? this.#letGo(held, (error as Error).message)
            : this.#print(`Run ${run.name}: could not record where its job runs (${(error as Error).message}); only this worker can stop it`),
        );
      const exit = await job.exited;
      this.#metrics?.jobsRunning.dec();
      running = false;
      jobSpan?.setAttributes({ 'drover.job.exit_code': exit.code ?? -1, 'drover.job.signal': exit.signal ?? '' });
      await logs.flush();
      state = (await this.#client.flowRuns.read(run.id)).state;
      if (!isTerminal(state.type) && !held.abandoned) {
        const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
        const last = tail.length ? `; last output: ${tail.slice(-5).join(' | ')}` : '';
        const proposal =
          state.type === 'CANCELLING'
            ? { type: 'CANCELLED' as const, message: `Cancelled: worker ${this.name} stopped the job (it ${how})` }
            : { type: 'CRASHED' as const, message: `The job ${how} without reporting a final state${last}` };
        state = (await this.#client.flowRuns.setState({ flowRunId: run.id, state: proposal, claimToken: run.claimToken })).state;
      }
    } catch (error) {
      const message = isDroverError(error, 'JOB_VARIABLES_INVALID') ? (error as Error).message : `Submission failed: ${(error as Error).message}`;
      this.#print(`Run ${run.name}: ${message}`);
      launchSpan?.fail(message);
      launchSpan?.end();
      jobSpan?.fail(message);
      logs.add('error', message);
      await logs.flush();
      state = (
        await this.#client.flowRuns.setState({ flowRunId: run.id, state: { type: 'FAILED', message }, claimToken: run.claimToken }).catch(() => undefined)
      )?.state;
    } finally {
      if (running) this.#metrics?.jobsRunning.dec();
      this.#release(held, state ?? run.state);
    }
  }

  /**
   * The environment every job of this worker gets alike: the server and its key, the engine's
   * marked log lines (it ships them itself, and marks them on stdout so this worker can show them),
   * and, when tracing, the collector's settings. #launch adds each run's own; #prepareLauncher
   * starts warm engines with exactly this, so their shape is the one #launch later asks for.
   */
  #sharedJobEnv(): { droverEnv: Record<string, string>; secretEnv: Record<string, string> } {
    return {
      droverEnv: { DROVER_API_URL: this.#client.apiUrl, DROVER_LOG_ECHO: 'marked', ...(this.#tracing ? otlpEnv() : {}) },
      secretEnv: this.#client.apiKey ? { DROVER_API_KEY: this.#client.apiKey } : {},
    };
  }

  /**
   * Lets the launcher get ready for the runs to come (a process pool starts its warm engines): the
   * job configurations of the pool's deployments, the latest updated first, or the pool's own
   * default when it has none, with the environment every job shares; a launcher learns any other
   * shape from the jobs it launches.
   */
  async #prepareLauncher(pool: WorkPool): Promise<void> {
    const prepare = this.#launcher?.prepare?.bind(this.#launcher);
    if (!prepare) return;
    const { droverEnv, secretEnv } = this.#sharedJobEnv();
    const deployments = await this.#client.deployments.list({ workPoolName: pool.name, paused: false }).catch(() => []);
    const configurations = [...deployments]
      .sort((a, b) => Date.parse(b.updated) - Date.parse(a.updated))
      .map((d) => ({
        variables: d.jobVariables,
        entrypoint: d.entrypoint ?? undefined,
        context: `the job of deployment ${d.flowName}/${d.name} in pool "${pool.name}"`,
      }));
    if (configurations.length === 0) configurations.push({ variables: {}, entrypoint: undefined, context: `the default job of pool "${pool.name}"` });
    const specs = configurations.flatMap(({ variables, entrypoint, context }) => {
      try {
        return [{ configuration: buildJobConfiguration(pool.baseJobTemplate, variables, {}, context), droverEnv, secretEnv, entrypoint }];
      } catch {
        return []; // a configuration that does not render fails each of its runs with its message; nothing to prepare
      }
    });
    prepare(specs);
  }

  #jobStreams(held: Held): boolean {
    return held.configuration?.streamOutput !== false;
  }

  /** Heartbeats the held runs, stops the jobs of those being cancelled, and lets go of those no longer the worker's. */
  async #checkRuns(): Promise<void> {
    const runs = [...this.#held.values()].filter((h) => !h.abandoned).map((h) => ({ id: h.run.id, claimToken: h.run.claimToken }));
    if (runs.length === 0) return;
    const { cancelling, lost } = await this.#client.flowRuns.heartbeat(runs);
    for (const id of lost) {
      const held = this.#held.get(id);
      if (held) await this.#letGo(held, 'the server says its claim has ended (the run finished, or was offered again and claimed by another job)');
    }
    for (const id of cancelling) {
      const held = this.#held.get(id);
      if (!held) continue;
      if (held.timer) {
        clearTimeout(held.timer);
        held.timer = undefined;
        const { state } = await this.#client.flowRuns.setState({
          flowRunId: id,
          state: { type: 'CANCELLED', message: `Cancelled before its job started (worker ${this.name})` },
          claimToken: held.run.claimToken,
        });
        this.#release(held, state);
      } else if (held.job) {
        this.#print(`Cancelling run ${held.run.name}: stopping its job`);
        void held.job.stop(this.#stopGraceMs());
      }
    }
  }

  /**
   * A run held under a claim that has ended is some other job's now (or no one's): its job is
   * stopped without a word about the run, and the slot frees once the job has exited.
   */
  async #letGo(held: Held, reason: string): Promise<void> {
    if (!held.abandoned) this.#print(`Run ${held.run.name} is no longer this worker's: ${reason}`);
    held.abandoned = true;
    if (held.timer) {
      clearTimeout(held.timer);
      held.timer = undefined;
      this.#release(held, (await this.#client.flowRuns.read(held.run.id)).state);
    } else {
      // A job still being launched is stopped when its setInfrastructure is refused, which calls this again.
      await held.job?.stop(this.#stopGraceMs());
    }
  }

  /**
   * CANCELLING runs of the pool that no live worker holds (their worker restarted): stop their jobs
   * by infrastructure id. The launcher stops only what it proves is the run's job; an id that names
   * nothing of the run (a stranger's process, a job long gone) is left alone and the run ends
   * CANCELLED, since no job of it runs there to wait for.
   */
  async #stopOrphanedCancellations(): Promise<void> {
    const runs = await this.#client.flowRuns.list({ states: ['CANCELLING'], workPoolName: this.#options.workPoolName, page: { limit: 100, offset: 0 } });
    for (const run of runs) {
      if (this.#held.has(run.id) || !run.infrastructureId) continue;
      const stop = await (this.#launcher as Launcher).stopById(run.infrastructureId, run.id, this.#stopGraceMs());
      switch (stop.outcome) {
        case 'skipped':
          if (stop.reason) this.#print(`Run ${run.name}: cannot stop its job yet, ${stop.reason}`);
          continue;
        case 'stopped':
          await this.#client.flowRuns.setState({
            flowRunId: run.id,
            state: { type: 'CANCELLED', message: `Cancelled: worker ${this.name} stopped its job ${run.infrastructureId}` },
          });
          continue;
        case 'absent': {
          const message = `Cancelled: worker ${this.name} did not stop ${run.infrastructureId}: ${stop.reason}`;
          this.#print(`Run ${run.name}: ${message}`);
          await this.#client.flowRuns.setState({ flowRunId: run.id, state: { type: 'CANCELLED', message } });
          continue;
        }
        default:
          assertNever(stop);
      }
    }
  }

  #stopGraceMs(): number {
    return this.#options.stopGraceSeconds * 1000;
  }

  async #shutdown(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    // Runs waiting for their time go back to the pool for another worker.
    for (const held of [...this.#held.values()].filter((h) => h.timer)) {
      clearTimeout(held.timer);
      held.timer = undefined;
      const { state } = await this.#client.flowRuns.setState({
        flowRunId: held.run.id,
        state: { type: 'SCHEDULED', scheduledTime: held.run.nextScheduledStartTime ?? undefined, message: `Worker ${this.name} stopped before launching it` },
        claimToken: held.run.claimToken,
      });
      this.#release(held, state);
    }
    const running = [...this.#held.values()];
    if (running.length > 0) {
      const graceSeconds = this.#options.shutdownGraceSeconds;
      this.#print(`Worker ${this.name} stopping: waiting up to ${graceSeconds} s for ${running.length} running job(s)`);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), graceSeconds * 1000);
      });
      await Promise.race([Promise.all(running.map((h) => h.done)), late]);
      clearTimeout(timer);
      for (const held of this.#held.values()) {
        // Said first, so the run is not left RUNNING whatever the job does when stopped.
        held.abandoned = true;
        await this.#client.flowRuns
          .setState({
            flowRunId: held.run.id,
            state: { type: 'CRASHED', message: `Worker ${this.name} shut down before the job finished (grace period ${graceSeconds} s)` },
            claimToken: held.run.claimToken,
          })
          .catch(() => {});
        await held.job?.stop(this.#stopGraceMs());
      }
      await Promise.all([...this.#held.values()].map((h) => h.done));
    }
    await this.#launcher?.close?.();
    await this.#metrics?.close();
    await this.#tracing?.flush().catch(() => {});
    this.#print(`Worker ${this.name} stopped`);
    this.emit('stopped');
  }
}

/** The standard OpenTelemetry exporter variables, passed to jobs (containers do not inherit the worker's environment). */
function otlpEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => /^OTEL_/.test(entry[0]) && entry[1] !== undefined));
}
