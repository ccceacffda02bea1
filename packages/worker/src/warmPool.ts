/**
 * The process launcher's warm engines: `node` running the engine with DROVER_ENGINE_WAIT=ipc,
 * started before any run needs them (node and the SDK loaded, and tsx for a TypeScript
 * entrypoint: almost all of a cold job's 180 ms, 225 ms of CPU), each waiting on its IPC channel
 * for one run (`EngineHandoff` in @drover/client's engineHandoff.ts).
 *
 * A warm engine is started for a *shape*: the working directory and the whole environment a cold
 * job of that shape would start with, less what belongs to one run (its id, trace parent, claim
 * token), which the handoff carries, and whether it preloads tsx. So a warm job starts exactly as a cold one would have, and a
 * job of a shape with no warm engine starts cold, while the pool starts one of that shape for the
 * next run. Measured (bench/worker.ts): the alternative, a warm engine that changes directory and
 * environment on handoff, would also serve deployments whose `workingDir` or `env` differ, but
 * anything read at start (NODE_OPTIONS, a preloaded module's config, TZ caches) would differ from
 * a cold job's; and since nearly every process deployment sets `workingDir`, a pool of the
 * worker's own directory alone would rarely be warm. The worker starts engines for its pool's
 * deployments when it starts; a shape learnt later costs one cold run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { JobExit, JobSpec } from './launchers/launcher.js';

/** How a warm engine is started: the cwd and environment it starts with, what it preloads, and its key. */
export interface Shape {
  readonly key: string;
  readonly cwd: string;
  /** Added over the worker's environment at spawn. */
  readonly env: Readonly<Record<string, string>>;
  /** Preload tsx, for TypeScript entrypoints (about 100 ms of CPU and a loader thread a JavaScript flow does not need). */
  readonly typescript: boolean;
}

export function shapeOf(cwd: string, env: Readonly<Record<string, string>>, typescript: boolean): Shape {
  const entries = Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // A digest, so the key that a pool keeps in memory holds no secret of the environment.
  const key = createHash('sha256')
    .update(JSON.stringify([cwd, entries, typescript]))
    .digest('hex');
  return { key, cwd, env, typescript };
}

/** What a handed-over run does with the engine's output and its end. */
interface Tenant {
  readonly onOutput: JobSpec['onOutput'];
  readonly doneMarker: string;
  /** Which of the done marker, stdout's and stderr's, and the engine's `done` message have come. */
  readonly seen: { stdout: boolean; stderr: boolean; done?: number };
  finish(exit: JobExit): void;
}

/** Lines a warm engine printed before its first run (a runtime warning), kept for that run's logs. */
const EARLY_LINES = 50;

/** One engine process started ahead of its run. */
export class WarmEngine {
  readonly child: ChildProcess;
  readonly shape: Shape;
  /** Resolves true once the engine has loaded and waits for a run; false when it ended first. */
  readonly ready: Promise<boolean>;
  /** Resolves when the process has exited and its output is read. */
  readonly closed: Promise<JobExit>;
  /** Runs handed to it so far. */
  runs = 0;
  /** The deployment whose runs it may take again (`reuseProcess`), once it has run one. */
  reusableFor: string | undefined;
  /** When it last became idle (for eviction, oldest first). */
  idleSince = performance.now();
  /** Ends it when it has been kept for reuse, idle, for too long. */
  idleTimer: NodeJS.Timeout | undefined;
  #tenant: Tenant | undefined;
  readonly #early: { stream: 'stdout' | 'stderr'; line: string }[] = [];
  readonly #replies: ((message: { type: string; exitCode?: number }) => void)[] = [];
  #exited = false;
  #isReady = false;

  constructor(entry: string, shape: Shape) {
    this.shape = shape;
    this.child = spawn(process.execPath, [entry], {
      cwd: shape.cwd,
      env: { ...process.env, ...shape.env, DROVER_ENGINE_WAIT: 'ipc', ...(shape.typescript ? { DROVER_ENGINE_PRELOAD: 'typescript' } : {}) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.closed = new Promise((resolve) =>
      this.child.once('close', (code, signal) => {
        this.#exited = true;
        resolve({ code, signal });
      }),
    );
    this.child.once('error', () => {}); // a failed spawn closes too: `ready` says false
    this.ready = new Promise<boolean>((resolve) => {
      this.child.on('message', (message: { type?: string; exitCode?: number }) => {
        if (message?.type === 'ready') {
          this.#isReady = true;
          resolve(true);
        } else if (message?.type === 'done') this.#onDone(message.exitCode ?? 1);
        if (typeof message?.type === 'string') for (const reply of this.#replies.splice(0)) reply(message as { type: string });
      });
      void this.closed.then(() => resolve(false));
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      const input = this.child[stream];
      if (input) createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => this.#onLine(stream, line));
    }
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** Whether it has said it is ready (`ready` resolved true). */
  get isReady(): boolean {
    return this.#isReady;
  }

  /** Whether it is alive and can take a run. */
  get usable(): boolean {
    return !this.#exited && this.child.connected && this.#tenant === undefined;
  }

  #onLine(stream: 'stdout' | 'stderr', line: string): void {
    const tenant = this.#tenant;
    if (!tenant) {
      if (this.#early.length < EARLY_LINES) this.#early.push({ stream, line });
      return;
    }
    if (line === tenant.doneMarker) {
      tenant.seen[stream] = true;
      this.#maybeDone(tenant);
      return;
    }
    tenant.onOutput(stream, line);
  }

  #onDone(exitCode: number): void {
    const tenant = this.#tenant;
    if (!tenant) return;
    tenant.seen.done = exitCode;
    this.#maybeDone(tenant);
  }

  /** A reused engine's run is over once it said `done` and both streams have shown the marker: every line before it was the run's. */
  #maybeDone(tenant: Tenant): void {
    if (tenant.seen.done === undefined || !tenant.seen.stdout || !tenant.seen.stderr) return;
    this.#tenant = undefined;
    this.idleSince = performance.now();
    tenant.finish({ code: tenant.seen.done, signal: null });
  }

  /** The next of `accepted`, `stale` and `done` (or `closed` when the process ends first). */
  #nextReply(): Promise<string> {
    return Promise.race([new Promise<string>((resolve) => this.#replies.push((m) => resolve(m.type))), this.closed.then(() => 'closed')]);
  }

  /**
   * Hands the run over. Resolves with the run's end (`exited`), or undefined when the engine
   * cannot take it (it has gone, or, reused, holds code older than the deployment): the run is
   * untouched then, and the caller starts it elsewhere.
   */
  async handOff(
    spec: JobSpec,
    env: Readonly<Record<string, string>>,
    claimToken: string | undefined,
    reuse: boolean,
  ): Promise<{ exited: Promise<JobExit> } | undefined> {
    if (!this.usable) return undefined;
    const reused = this.runs > 0;
    this.runs++;
    const doneMarker = `\u001edrover-run-done ${randomBytes(12).toString('hex')}`;
    let finish: (exit: JobExit) => void = () => {};
    const ended = new Promise<JobExit>((resolve) => {
      finish = resolve;
    });
    const tenant: Tenant = { onOutput: spec.onOutput, doneMarker, seen: { stdout: false, stderr: false }, finish };
    this.#tenant = tenant;
    for (const { stream, line } of this.#early.splice(0)) spec.onOutput(stream, line);
    const reply = reused ? this.#nextReply() : undefined;
    const sent = await new Promise<boolean>((resolve) =>
      this.child.send({ type: 'run', flowRunId: spec.run.id, claimToken, env, reuse, doneMarker }, (error) => resolve(!error)),
    );
    if (!sent) {
      this.#tenant = undefined;
      return undefined;
    }
    if (reply) {
      const answer = await reply;
      if (answer === 'stale' || answer === 'closed') {
        this.#tenant = undefined;
        return undefined;
      }
    }
    // Whatever comes first: the engine's end of a run it keeps going after, or the process's exit.
    return { exited: Promise.race([ended, this.closed]) };
  }

  /** SIGTERM, then SIGKILL after `graceMs` if it is still there. */
  async kill(graceMs: number): Promise<void> {
    clearTimeout(this.idleTimer);
    if (this.#exited || !this.child.kill('SIGTERM')) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), graceMs);
    });
    if ((await Promise.race([this.closed, late])) === 'late') this.child.kill('SIGKILL');
    clearTimeout(timer);
    await this.closed;
  }
}

/** A run a reused engine may take again at most this often: whatever a flow leaks (memory, timers) ends with its process. */
const MAX_RUNS_PER_PROCESS = 100;
/** At most this many engines kept for reuse, whatever the worker's concurrency: each holds 70–90 MB. */
const MAX_KEPT = 64;

/**
 * The warm engines of one launcher: at most `size` fresh ones (never given a run) across shapes,
 * each replaced by one of its shape when a run takes it; and those kept for reuse
 * (`reuseProcess`), by shape and deployment: every engine whose run is over, so a worker running
 * N runs of a deployment at once keeps N processes for it (no more than it already ran together),
 * each ending after `keptIdleMs` without a run.
 */
export class WarmPool {
  readonly size: number;
  readonly #entry: string;
  readonly #keptIdleMs: number;
  #fresh: WarmEngine[] = [];
  #reusable: WarmEngine[] = [];
  #closed = false;

  /** `keptIdleMs`: how long an engine kept for reuse waits for its deployment's next run before it ends. */
  constructor(entry: string, size: number, keptIdleMs: number) {
    this.#entry = entry;
    this.size = size;
    this.#keptIdleMs = keptIdleMs;
  }

  /** The pids of the engines that wait for a run (fresh and kept), once those starting are ready. */
  async ready(): Promise<number[]> {
    const waiting = [...this.#fresh, ...this.#reusable];
    await Promise.all(waiting.map((e) => e.ready));
    return waiting.filter((e) => e.usable).map((e) => e.pid);
  }

  /**
   * An engine for a run of `shape` (of deployment `deploymentId`, if the pool may reuse one for
   * it): a kept one first, then a fresh one that is ready, then one still starting (waited for:
   * it is further along than a new process would be). Undefined when there is none of the shape.
   */
  async take(shape: Shape, deploymentId: string | undefined): Promise<WarmEngine | undefined> {
    const kept = deploymentId ? this.#reusable.find((e) => e.shape.key === shape.key && e.reusableFor === deploymentId && e.usable) : undefined;
    if (kept) {
      clearTimeout(kept.idleTimer);
      this.#reusable = this.#reusable.filter((e) => e !== kept);
      return kept;
    }
    const ofShape = this.#fresh.filter((e) => e.shape.key === shape.key && e.usable);
    const engine = ofShape.find((e) => e.isReady) ?? ofShape[0];
    if (!engine) return undefined;
    // Out of the pool before any wait, so no launch running beside this one takes it too.
    this.#fresh = this.#fresh.filter((e) => e !== engine);
    return (await engine.ready) && engine.usable ? engine : undefined;
  }

  /**
   * Starts fresh engines for `shapes`, most wanted first (a worker's deployments before its first
   * run): the pool's places shared among the first `size` distinct shapes, one shape taking them all.
   */
  fill(shapes: readonly Shape[]): void {
    const wanted = [...new Map(shapes.map((shape) => [shape.key, shape])).values()].slice(0, this.size);
    for (let i = 0; i < this.size; i++) this.add(wanted[i % wanted.length] as Shape);
  }

  /**
   * Starts one fresh engine of `shape`, in place of one just taken or for a shape that had none;
   * when the pool is full, in place of the longest idle engine of another shape. So the pool
   * follows what runs: each shape keeps as many engines as its runs took lately.
   */
  add(shape: Shape | undefined): void {
    if (this.#closed || !shape) return;
    this.#fresh = this.#fresh.filter((e) => e.usable);
    if (this.#fresh.length >= this.size) {
      const evict = this.#fresh.filter((e) => e.shape.key !== shape.key).sort((a, b) => a.idleSince - b.idleSince)[0];
      if (!evict) return;
      this.#fresh = this.#fresh.filter((e) => e !== evict);
      void evict.kill(2000);
    }
    this.#start(shape);
  }

  #start(shape: Shape): void {
    const engine = new WarmEngine(this.#entry, shape);
    this.#fresh.push(engine);
    // One that ends before its run (cannot start, killed) leaves the pool; the next launch of its shape starts cold and refills.
    void engine.closed.then(() => {
      this.#fresh = this.#fresh.filter((e) => e !== engine);
      this.#reusable = this.#reusable.filter((e) => e !== engine);
    });
  }

  /** Keeps `engine`, whose run of `deploymentId` is over, for that deployment's next run; or ends it. */
  keep(engine: WarmEngine, deploymentId: string): void {
    if (this.#closed || !engine.usable || engine.runs >= MAX_RUNS_PER_PROCESS) {
      void engine.kill(2000);
      return;
    }
    engine.reusableFor = deploymentId;
    this.#reusable.push(engine);
    engine.idleTimer = setTimeout(() => {
      this.#reusable = this.#reusable.filter((e) => e !== engine);
      void engine.kill(2000);
    }, this.#keptIdleMs).unref();
    while (this.#reusable.length > MAX_KEPT) void this.#reusable.shift()?.kill(2000);
  }

  /** Ends every waiting engine (jobs running in engines are the worker's to stop). */
  async close(): Promise<void> {
    this.#closed = true;
    const waiting = [...this.#fresh, ...this.#reusable];
    this.#fresh = [];
    this.#reusable = [];
    await Promise.all(waiting.map((e) => e.kill(2000)));
  }
}
