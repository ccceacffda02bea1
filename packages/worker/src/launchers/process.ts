import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isTypeScript } from '@drover/client';
import { droverErrorOf } from '@drover/schemas';
import { type Shape, shapeOf, type WarmEngine, WarmPool } from '../warmPool.js';
import {
  configuredCommand,
  describeRun,
  forwardLines,
  type Job,
  type JobExit,
  type JobSpec,
  jobEnv,
  type Launcher,
  type PreparedJob,
  type StopOutcome,
} from './launcher.js';

/** The engine program of @drover/client, which a process job runs by default. */
export const ENGINE_ENTRY = createRequire(import.meta.url).resolve('@drover/client/engine');

const PREFIX = 'process:';

/** What tells one process from any other that has had, or will have, its pid. */
interface ProcessIdentity {
  /** When it started, in clock ticks after boot (`/proc/<pid>/stat` field 22): a reused pid starts later. */
  readonly startTime: string;
  /** The boot it started in: after a restart the ticks start again from zero. */
  readonly bootId: string;
  /** A zombie has exited: only its parent's reaping is missing, and it takes no signal. */
  readonly zombie: boolean;
}

/** The identity of `pid`, read from /proc; undefined when the process does not exist (or there is no /proc). */
function readIdentity(pid: number): ProcessIdentity | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2, the command name, is in parentheses and may itself hold spaces and ')': count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { startTime: fields[19] as string, bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), zombie: fields[0] === 'Z' };
  } catch {
    return undefined;
  }
}

/** The infrastructure id of a process job: the host and pid, and what proves later that a process with that pid is this one. */
function processId(pid: number): string {
  const identity = readIdentity(pid);
  // Without /proc (not Linux) nothing could prove the pid later: the id says only where the job
  // ran, and `stopById` refuses it; the worker that launched the job still stops it through its handle.
  return identity ? `${PREFIX}${hostname()}:${pid}:${identity.startTime}:${identity.bootId}` : `${PREFIX}${hostname()}:${pid}`;
}

/** Whether process `pid` was started with `entry` (`NAME=value`) in its environment. */
function environmentHas(pid: number, entry: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(entry);
  } catch {
    return false; // gone, or another user's: nothing proves it is the job
  }
}

/** Why `pid` is not (any longer) the process `expected` names, or null when it is, alive. */
function notTheJob(pid: number, expected: { startTime: string; bootId: string }): string | null {
  const now = readIdentity(pid);
  if (!now || now.zombie) return `process ${pid} is no longer running`;
  if (now.bootId !== expected.bootId) return `the machine has restarted since the job started (boot ${expected.bootId}, now ${now.bootId})`;
  if (now.startTime !== expected.startTime)
    return `pid ${pid} is another process now (it started at tick ${now.startTime}, the job at tick ${expected.startTime})`;
  return null;
}

/**
 * A warm engine was started before its run existed, so its environment cannot name the run: the
 * worker writes, before handing it the run, a record `<pid>-<start time>-<boot id>` holding the
 * run's id in a folder only the worker's user can write (0700, checked to be its own and no
 * link). The start time and boot id in the name make a record name one process only, as the
 * infrastructure id does; a record outlives its process harmlessly (no later process matches).
 */
function handoffDir(): string | undefined {
  const dir = join(tmpdir(), `drover-warm-${process.getuid?.() ?? 'user'}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = lstatSync(dir);
    if (!stat.isDirectory() || (process.getuid && stat.uid !== process.getuid()) || (stat.mode & 0o077) !== 0) return undefined;
    return dir;
  } catch {
    return undefined;
  }
}

function handoffRecord(dir: string, pid: number, identity: { startTime: string; bootId: string }): string {
  return join(dir, `${pid}-${identity.startTime}-${identity.bootId}`);
}

/** Whether `pid` is a warm engine (its environment says so) that a worker handed run `flowRunId`. */
function handedRun(pid: number, identity: { startTime: string; bootId: string }, flowRunId: string): boolean {
  const dir = handoffDir();
  if (!dir || !environmentHas(pid, 'DROVER_ENGINE_WAIT=ipc')) return false;
  try {
    return readFileSync(handoffRecord(dir, pid, identity), 'utf8') === flowRunId;
  } catch {
    return false;
  }
}

/** Removes the records of processes that no longer exist (a worker that died could not). */
function pruneHandoffRecords(dir: string): void {
  try {
    for (const name of readdirSync(dir)) {
      const [pid, startTime, ...boot] = name.split('-');
      const bootId = boot.join('-');
      const now = pid && /^\d+$/.test(pid) ? readIdentity(Number(pid)) : undefined;
      if (!now || now.bootId !== bootId || now.startTime !== startTime) rmSync(join(dir, name), { force: true });
    }
  } catch {
    // nothing to prune
  }
}

/**
 * Sends SIGTERM, then SIGKILL if the process is still there after `graceMs`. Before each signal
 * the pid is checked to still be the job: once it exits its pid can be given to a stranger.
 */
async function terminate(pid: number, expected: { startTime: string; bootId: string }, graceMs: number): Promise<void> {
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(pid, name);
    } catch {
      // it exited between the check and the signal
    }
  };
  if (notTheJob(pid, expected) !== null) return;
  signal('SIGTERM');
  const deadline = performance.now() + graceMs;
  while (performance.now() < deadline) {
    if (notTheJob(pid, expected) !== null) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (notTheJob(pid, expected) === null) signal('SIGKILL');
}

export interface ProcessLauncherOptions {
  /**
   * Engine processes kept started and waiting for a run (default 2; 0: every job starts cold).
   * Each holds 65–85 MB (85 with tsx). Two keep a worker warm through runs that come one after another; a
   * burst larger than the pool waits for the engines being started, or starts cold.
   */
  readonly warmProcesses?: number;
  /**
   * With `reuseProcess`, how long an engine whose run is over waits for its deployment's next run
   * before it ends (default 60). A worker keeps one such engine per run it ran at once.
   */
  readonly keptIdleSeconds?: number;
}

/** The defaults of `ProcessLauncherOptions`. */
export const PROCESS_LAUNCHER_DEFAULTS = { warmProcesses: 2, keptIdleSeconds: 60 } as const;

/**
 * Variables of a job's environment that every job of a worker has alike (and the collector's
 * `OTEL_*` settings): a warm engine starts with them. Every other variable Drover gives a job is
 * the run's own (its id, its trace parent), handed over with the run.
 */
const SHARED_DROVER_ENV = new Set(['DROVER_API_URL', 'DROVER_LOG_ECHO', 'DROVER_API_KEY']);

/**
 * Runs each job as a child process on this machine: `node` with the engine (or the configured
 * command) in the configured working directory, with the worker's environment plus the job's.
 *
 * A job that runs the engine goes to a warm engine when one of its shape waits (see warmPool.ts):
 * the same directory and environment a cold job would start with, the run's own variables and
 * claim token handed over on the IPC channel. A job with a `command` always starts cold: what it
 * runs, and when it would be ready, is the command's. With `reuseProcess`, an engine whose run
 * is over stays for the next run of the same deployment, with the flow it loaded.
 */
export class ProcessLauncher implements Launcher {
  readonly #pool: WarmPool;
  readonly #records: string | undefined;

  constructor(options: ProcessLauncherOptions = {}) {
    this.#pool = new WarmPool(
      ENGINE_ENTRY,
      options.warmProcesses ?? PROCESS_LAUNCHER_DEFAULTS.warmProcesses,
      (options.keptIdleSeconds ?? PROCESS_LAUNCHER_DEFAULTS.keptIdleSeconds) * 1000,
    );
    this.#records = this.#pool.size > 0 ? handoffDir() : undefined;
    if (this.#records) pruneHandoffRecords(this.#records);
  }

  /** The pids of the engines waiting for a run, once each has started (for tests and the benchmark). */
  warmPids(): Promise<number[]> {
    return this.#pool.ready();
  }

  /** Starts warm engines for jobs of the shapes of `specs` (most likely first) before the first run comes. */
  prepare(specs: readonly PreparedJob[]): void {
    if (this.#pool.size === 0) return;
    this.#pool.fill(specs.filter((spec) => !configuredCommand(spec.configuration)).map((spec) => this.#shapeOf(spec).shape));
  }

  /** Ends the engines waiting for a run. */
  close(): Promise<void> {
    return this.#pool.close();
  }

  #cwd(spec: Pick<JobSpec, 'configuration'>): string {
    return typeof spec.configuration.workingDir === 'string' ? spec.configuration.workingDir : process.cwd();
  }

  /** The job's shape (what its process must start with), and its own variables for the handoff. */
  #shapeOf(spec: PreparedJob): { shape: Shape; runEnv: Record<string, string> } {
    const shared: Record<string, string> = {};
    const runEnv: Record<string, string> = {};
    const configured = jobEnv({ ...spec, droverEnv: {} } as JobSpec);
    for (const [name, value] of Object.entries({ ...spec.droverEnv, ...spec.secretEnv })) {
      if (SHARED_DROVER_ENV.has(name) || (name.startsWith('OTEL_') && !name.startsWith('OTEL_TRACE'))) shared[name] = value;
      else if (name !== 'DROVER_CLAIM_TOKEN') runEnv[name] = value;
    }
    return { shape: shapeOf(resolve(this.#cwd(spec)), { ...configured, ...shared }, spec.entrypoint !== undefined && isTypeScript(spec.entrypoint)), runEnv };
  }

  async launch(spec: JobSpec): Promise<Job> {
    if (this.#pool.size === 0 || configuredCommand(spec.configuration) || !this.#records) return this.#launchCold(spec);
    const { shape, runEnv } = this.#shapeOf(spec);
    const reuse = spec.configuration.reuseProcess === true && spec.run.deploymentId ? spec.run.deploymentId : undefined;
    for (;;) {
      const engine = await this.#pool.take(shape, reuse);
      if (!engine) break;
      const job = await this.#handOff(engine, spec, runEnv, reuse);
      if (job) {
        // A fresh engine taken: start its replacement (a kept one comes back by itself).
        if (engine.runs === 1) this.#pool.add(shape);
        return job;
      }
      void engine.kill(2000);
    }
    // No warm engine of this shape: this run starts cold, and the next one finds engines of its shape.
    const job = await this.#launchCold(spec);
    this.#pool.add(shape);
    return job;
  }

  async #handOff(engine: WarmEngine, spec: JobSpec, runEnv: Record<string, string>, reuse: string | undefined): Promise<Job | undefined> {
    const identity = readIdentity(engine.pid);
    if (!identity || identity.zombie) return undefined;
    const record = handoffRecord(this.#records as string, engine.pid, identity);
    // Written before the run is handed over: from then on a restarted worker can prove the process is the run's.
    writeFileSync(record, spec.run.id, { mode: 0o600 });
    const handed = await engine.handOff(spec, runEnv, spec.secretEnv.DROVER_CLAIM_TOKEN, reuse !== undefined);
    if (!handed) {
      rmSync(record, { force: true });
      return undefined;
    }
    let over = false;
    const exited = handed.exited.then((exit) => {
      over = true;
      rmSync(record, { force: true });
      if (reuse && engine.usable) this.#pool.keep(engine, reuse);
      return exit;
    });
    return {
      infrastructureId: processId(engine.pid),
      exited,
      // As a cold job's: SIGTERM to its process (the engine cancels the run), SIGKILL after the grace.
      // Once its run is over a kept engine is no longer this job: it is not signalled.
      stop: async (graceMs) => {
        if (over) return;
        if (!engine.child.kill('SIGTERM')) return;
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => {
          timer = setTimeout(() => resolve('late'), graceMs);
        });
        if ((await Promise.race([exited, late])) === 'late' && !over) engine.child.kill('SIGKILL');
        clearTimeout(timer);
      },
    };
  }

  async #launchCold(spec: JobSpec): Promise<Job> {
    const argv = configuredCommand(spec.configuration) ?? [process.execPath, ENGINE_ENTRY];
    const cwd = this.#cwd(spec);
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd,
      env: { ...process.env, ...jobEnv(spec), ...spec.secretEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<JobExit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
    // once() rejects with the 'error' event when the spawn fails.
    const started = await once(child, 'spawn').then(
      () => null,
      (error: NodeJS.ErrnoException) => error,
    );
    if (started) {
      // spawn says ENOENT for a missing working directory as for a missing program, naming the program.
      if (started.code === 'ENOENT' && !existsSync(cwd)) {
        throw droverErrorOf(
          'JOB_VARIABLES_INVALID',
          `The working directory "${cwd}" of ${describeRun(spec.run)} does not exist on worker host ${hostname()}: create it there, or set the "workingDir" job variable of the deployment or pool to a folder that exists`,
          { workingDir: cwd, flowRunId: spec.run.id },
        );
      }
      throw droverErrorOf('INFRASTRUCTURE_ERROR', `Could not start ${argv[0]} in ${cwd}: ${started.message}`, { argv });
    }
    forwardLines(child, spec.onOutput);
    const infrastructureId = processId(child.pid as number);
    return {
      infrastructureId,
      exited,
      // The worker's own child: its handle knows when it has exited, so no stranger can get the signal.
      stop: async (graceMs) => {
        if (!child.kill('SIGTERM')) return;
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => {
          timer = setTimeout(() => resolve('late'), graceMs);
        });
        if ((await Promise.race([exited, late])) === 'late') child.kill('SIGKILL');
        clearTimeout(timer);
      },
    };
  }

  async stopById(infrastructureId: string, flowRunId: string, graceMs: number): Promise<StopOutcome> {
    if (!infrastructureId.startsWith(PREFIX)) return { outcome: 'skipped' };
    const [host, pidText, startTime, bootId, ...rest] = infrastructureId.slice(PREFIX.length).split(':');
    if (host !== hostname()) return { outcome: 'skipped' };
    if (!pidText || !/^[1-9]\d*$/.test(pidText) || !startTime || !bootId || rest.length > 0) {
      return { outcome: 'absent', reason: 'it is not process:<host>:<pid>:<start time>:<boot id>, so nothing proves which process it names' };
    }
    const pid = Number(pidText);
    const changed = notTheJob(pid, { startTime, bootId });
    if (changed !== null) return { outcome: 'absent', reason: changed };
    // The start time proves the pid was not reused; the environment proves this run launched it,
    // or, for a warm engine, the record its worker wrote when it handed the run over.
    if (!environmentHas(pid, `DROVER_FLOW_RUN_ID=${flowRunId}`) && !handedRun(pid, { startTime, bootId }, flowRunId)) {
      return { outcome: 'absent', reason: `process ${pid} is not a job of this run (its environment has no DROVER_FLOW_RUN_ID=${flowRunId})` };
    }
    await terminate(pid, { startTime, bootId }, graceMs);
    return { outcome: 'stopped' };
  }
}
