import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { DroverError } from '@drover/schemas';
import { configuredCommand, forwardLines, type Job, type JobExit, type JobSpec, jobEnv, type Launcher } from './launcher.js';

/** The engine program of @drover/client, which a process job runs by default. */
export const ENGINE_ENTRY = createRequire(import.meta.url).resolve('@drover/client/engine');

const PREFIX = 'process:';

function signalPid(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false; // already gone
  }
}

/** Sends SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
async function terminate(pid: number, graceMs: number, exited?: Promise<unknown>): Promise<void> {
  if (!signalPid(pid, 'SIGTERM')) return;
  const gone = exited ?? new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (!signalPid(pid, 0)) {
        clearInterval(timer);
        resolve();
      }
    }, 100);
  });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), graceMs);
  });
  if ((await Promise.race([gone, late])) === 'late') signalPid(pid, 'SIGKILL');
  clearTimeout(timer);
}

/**
 * Runs each job as a child process on this machine: `node` with the engine (or the configured
 * command) in the configured working directory, with the worker's environment plus the job's.
 */
export class ProcessLauncher implements Launcher {
  async launch(spec: JobSpec): Promise<Job> {
    const argv = configuredCommand(spec.configuration) ?? [process.execPath, ENGINE_ENTRY];
    const cwd = typeof spec.configuration.workingDir === 'string' ? spec.configuration.workingDir : process.cwd();
    const child = spawn(argv[0] as string, argv.slice(1), { cwd, env: { ...process.env, ...jobEnv(spec) }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<JobExit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
    const started = await Promise.race([once(child, 'spawn').then(() => null), once(child, 'error').then(([error]) => error as Error)]);
    if (started) throw new DroverError('INFRASTRUCTURE_ERROR', `Could not start ${argv[0]} in ${cwd}: ${started.message}`, { argv });
    forwardLines(child, spec.onOutput);
    const pid = child.pid as number;
    return {
      infrastructureId: `${PREFIX}${hostname()}:${pid}`,
      exited,
      stop: (graceMs) => terminate(pid, graceMs, exited),
    };
  }

  async stopById(infrastructureId: string, graceMs: number): Promise<boolean> {
    const [kind, host, pid] = infrastructureId.split(':');
    if (`${kind}:` !== PREFIX || host !== hostname() || !pid) return false;
    await terminate(Number(pid), graceMs);
    return true;
  }
}
