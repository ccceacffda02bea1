import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { DroverError } from '@drover/schemas';
import { configuredCommand, describeRun, forwardLines, type Job, type JobExit, type JobSpec, jobEnv, type Launcher, type StopOutcome } from './launcher.js';

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

/**
 * Runs each job as a child process on this machine: `node` with the engine (or the configured
 * command) in the configured working directory, with the worker's environment plus the job's.
 */
export class ProcessLauncher implements Launcher {
  async launch(spec: JobSpec): Promise<Job> {
    const argv = configuredCommand(spec.configuration) ?? [process.execPath, ENGINE_ENTRY];
    const cwd = typeof spec.configuration.workingDir === 'string' ? spec.configuration.workingDir : process.cwd();
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
        throw new DroverError(
          'JOB_VARIABLES_INVALID',
          `The working directory "${cwd}" of ${describeRun(spec.run)} does not exist on worker host ${hostname()}: create it there, or set the "workingDir" job variable of the deployment or pool to a folder that exists`,
          { workingDir: cwd, flowRunId: spec.run.id },
        );
      }
      throw new DroverError('INFRASTRUCTURE_ERROR', `Could not start ${argv[0]} in ${cwd}: ${started.message}`, { argv });
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
    // The start time proves the pid was not reused; the environment proves this run launched it.
    if (!environmentHas(pid, `DROVER_FLOW_RUN_ID=${flowRunId}`)) {
      return { outcome: 'absent', reason: `process ${pid} is not a job of this run (its environment has no DROVER_FLOW_RUN_ID=${flowRunId})` };
    }
    await terminate(pid, { startTime, bootId }, graceMs);
    return { outcome: 'stopped' };
  }
}
