/**
 * The process launcher's warm engines: `node` running the engine with DROVER_ENGINE_WAIT=ipc,
 * started before any run needs them (node, the SDK and tsx loaded, which is almost all of a cold
 * job's 300 ms), each waiting on its IPC channel for one run (`EngineHandoff` in
 * @drover/client's engineHandoff.ts).
 *
 * A warm engine is started for a *shape*: the working directory and the whole environment a cold
 * job of that shape would start with, less what belongs to one run (its id, trace parent, claim
 * token), which the handoff carries. So a warm job starts exactly as a cold one would have, and a
 * job of a shape with no warm engine starts cold, while the pool starts one of that shape for the
 * next run. Measured (bench/worker.ts): the alternative, a warm engine that changes directory and
 * environment on handoff, would also serve deployments whose `workingDir` or `env` differ, but
 * anything read at start (NODE_OPTIONS, a preloaded module's config, TZ caches) would differ from
 * a cold job's; and since nearly every process deployment sets `workingDir`, a pool of the
 * worker's own directory alone would rarely be warm. Learning shapes costs one cold run per shape.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { JobExit, JobSpec } from './launchers/launcher.js';

/** How a warm engine is started: the cwd and environment it starts with, and its key. */
export interface Shape {
  readonly key: string;
  readonly cwd: string;
  /** Added over the worker's environment at spawn. */
  readonly env: Readonly<Record<string, string>>;
}

export function shapeOf(cwd: string, env: Readonly<Record<string, string>>): Shape {
  const entries = Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // A digest, so the key that a pool keeps in memory holds no secret of the environment.
  const key = createHash('sha256')
    .update(JSON.stringify([cwd, entries]))
    .digest('hex');
  return { key, cwd, env };
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
  #tenant: Tenant | undefined;
  readonly #early: { stream: 'stdout' | 'stderr'; line: string }[] = [];
  readonly #replies: ((message: { type: string; exitCode?: number }) => void)[] = [];
  #exited = false;

  constructor(entry: string, shape: Shape) {
    this.shape = shape;
    this.child = spawn(process.execPath, [entry], {
      cwd: shape.cwd,
      env: { ...process.env, ...shape.env, DROVER_ENGINE_WAIT: 'ipc' },
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
        if (message?.type === 'ready') resolve(true);
        else if (message?.type === 'done') this.#onDone(message.exitCode ?? 1);
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

/**
 * The warm engines of one launcher: at most `size` fresh ones (never given a run) across shapes,
 * the shape of the latest launch first, and at most `size` kept for reuse (`reuseProcess`), by
 * shape and deployment; the longest idle go first when room is needed.
 */
export class WarmPool {
  readonly size: number;
  readonly #entry: string;
  #fresh: WarmEngine[] = [];
  #reusable: WarmEngine[] = [];
  #closed = false;

  constructor(entry: string, size: number) {
    this.#entry = entry;
    this.size = size;
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
      this.#reusable = this.#reusable.filter((e) => e !== kept);
      return kept;
    }
    const ofShape = this.#fresh.filter((e) => e.shape.key === shape.key && e.usable);
    const ready: WarmEngine[] = [];
    await Promise.all(ofShape.map((e) => Promise.race([e.ready, Promise.resolve(false)]).then((r) => r && ready.push(e))));
    const engine = ready[0] ?? ofShape[0];
    if (!engine) return undefined;
    this.#fresh = this.#fresh.filter((e) => e !== engine);
    return (await engine.ready) && engine.usable ? engine : undefined;
  }

  /** Starts fresh engines of `shape` up to the pool's size, ending the longest idle ones of other shapes when it is full. */
  fill(shape: Shape): void {
    if (this.#closed) return;
    this.#fresh = this.#fresh.filter((e) => e.usable);
    const ofShape = () => this.#fresh.filter((e) => e.shape.key === shape.key).length;
    while (ofShape() < this.size) {
      if (this.#fresh.length >= this.size) {
        const evict = this.#fresh.filter((e) => e.shape.key !== shape.key).sort((a, b) => a.idleSince - b.idleSince)[0];
        if (!evict) break;
        this.#fresh = this.#fresh.filter((e) => e !== evict);
        void evict.kill(2000);
      }
      this.#start(shape);
    }
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
    while (this.#reusable.length > this.size) void this.#reusable.shift()?.kill(2000);
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
