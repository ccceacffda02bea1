/**
 * Pull steps: how a job gets its deployment's code before the flow loads. They run in the job
 * (so the same steps work in a process, a container or a pod), in order, each from the
 * directory the previous one left; their output goes to the run's logs.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { assertNever, DroverError, type LogLevel, type PullStep } from '@drover/schemas';

type Log = (level: LogLevel, message: string) => void;

/** Runs a command, logging its output line by line; rejects with its exit code and last lines. */
function run(command: string, args: readonly string[], cwd: string, log: Log, env: Record<string, string> = {}): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    // readline joins a line written in several chunks, and gives the last one without its newline.
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
        if (line.trim() === '') return;
        log('info', line);
        tail.push(line);
        if (tail.length > 5) tail.shift();
      });
    }
    child.on('error', (error) => reject(new DroverError('FLOW_LOAD_ERROR', `Pull step could not start ${command}: ${error.message}`, { command })));
    child.on('close', (code) => {
      if (code === 0) resolvePromise();
      else
        reject(new DroverError('FLOW_LOAD_ERROR', `Pull step \`${[command, ...args].join(' ')}\` exited with ${code}: ${tail.join(' | ')}`, { command, code }));
    });
  });
}

/** Runs `steps` from `cwd`; returns the directory the flow should load from. */
export async function runPullSteps(steps: readonly PullStep[], cwd: string, log: Log): Promise<string> {
  let directory = cwd;
  for (const step of steps) {
    if ('set_working_directory' in step) {
      directory = resolve(directory, step.set_working_directory.directory);
      if (!existsSync(directory)) {
        throw new DroverError('FLOW_LOAD_ERROR', `Pull step set_working_directory: ${directory} does not exist`, { directory });
      }
      log('info', `Working directory: ${directory}`);
    } else if ('git_clone' in step) {
      const { repository, branch, commit } = step.git_clone;
      const target = resolve(directory, step.git_clone.directory ?? basename(repository).replace(/\.git$/, ''));
      const ref = commit ?? branch;
      log('info', `Cloning ${repository}${ref ? ` at ${ref}` : ''} into ${target}`);
      if (!existsSync(target)) {
        await run('git', ['clone', '--quiet', ...(branch && !commit ? [`--branch=${branch}`, '--depth=1'] : []), '--', repository, target], directory, log);
      } else {
        await run('git', ['fetch', '--quiet', 'origin', ...(ref ? [ref] : [])], target, log);
        if (!commit) await run('git', ['checkout', '--quiet', '--force', 'FETCH_HEAD'], target, log);
      }
      if (commit) await run('git', ['checkout', '--quiet', '--force', commit], target, log);
      directory = target;
    } else if ('run_shell_script' in step) {
      const { script, env } = step.run_shell_script;
      const where = step.run_shell_script.directory ? resolve(directory, step.run_shell_script.directory) : directory;
      log('info', `Running: ${script}`);
      await run('/bin/sh', ['-c', script], where, log, env);
    } else {
      assertNever(step);
    }
  }
  return directory;
}
