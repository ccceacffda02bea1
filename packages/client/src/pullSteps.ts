/**
 * Pull steps: how a job gets its deployment's code before the flow loads. They run in the job
 * (so the same steps work in a process, a container or a pod), in order, each from the
 * directory the previous one left; their output goes to the run's logs. A step with an `id` gives
 * its outputs to the steps after it (`{{ clone.directory }}`, `{{ version.stdout }}`).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { assertNever, droverErrorOf, fillStepOutputs, type LogLevel, type PullStep } from '@drover/schemas';

type Log = (level: LogLevel, message: string) => void;

/** Most of a step's stdout or stderr kept as its output (the log gets every line). */
const MAX_OUTPUT_CHARS = 1024 * 1024;

/**
 * Runs a command, logging its output line by line; resolves with its stdout and stderr (their
 * first MiB, trimmed), rejects with its exit code and last lines. Every `secrets` value is
 * replaced by `***` in what it logs, reports and returns.
 */
function run(
  command: string,
  args: readonly string[],
  cwd: string,
  log: Log,
  env: Record<string, string> = {},
  secrets: readonly string[] = [],
): Promise<{ stdout: string; stderr: string }> {
  const redact = (text: string) => secrets.reduce((t, secret) => (secret ? t.split(secret).join('***') : t), text);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const kept = { stdout: [] as string[], stderr: [] as string[] };
    const keptChars = { stdout: 0, stderr: 0 };
    // readline joins a line written in several chunks, and gives the last one without its newline.
    for (const [name, stream] of [
      ['stdout', child.stdout],
      ['stderr', child.stderr],
    ] as const) {
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (raw) => {
        const line = redact(raw);
        if (keptChars[name] < MAX_OUTPUT_CHARS) {
          kept[name].push(line);
          keptChars[name] += line.length + 1;
        }
        if (line.trim() === '') return;
        log('info', line);
        tail.push(line);
        if (tail.length > 5) tail.shift();
      });
    }
    child.on('error', (error) => reject(droverErrorOf('FLOW_LOAD_ERROR', `Pull step could not start ${command}: ${error.message}`, { command })));
    child.on('close', (code) => {
      const output = (lines: string[]) => lines.join('\n').slice(0, MAX_OUTPUT_CHARS).trim();
      if (code === 0) resolvePromise({ stdout: output(kept.stdout), stderr: output(kept.stderr) });
      else
        reject(droverErrorOf('FLOW_LOAD_ERROR', `Pull step \`${[command, ...args].join(' ')}\` exited with ${code}: ${tail.join(' | ')}`, { command, code }));
    });
  });
}

/**
 * The environment that gives git a `git_clone` step's token, and the values to redact. The token is
 * named by reference (`{{ env.NAME }}`) and read from this job's environment, so the server never
 * holds it; git gets it as an HTTP header through `GIT_CONFIG_*` variables, never on its command
 * line, where `ps` would show it.
 */
function gitCredentials(accessToken: string | undefined, repository: string): { env: Record<string, string>; secrets: string[] } {
  if (accessToken === undefined) return { env: {}, secrets: [] };
  const name = /env\.([A-Za-z_][A-Za-z0-9_]*)/.exec(accessToken)?.[1] as string;
  const token = process.env[name];
  if (!token) {
    throw droverErrorOf(
      'FLOW_LOAD_ERROR',
      `Pull step git_clone of ${repository}: its accessToken names the environment variable ${name}, which is not set where the job runs: set it on the worker (or in the pool's env job variable)`,
      { variable: name },
    );
  }
  const header = `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
  return {
    env: { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: header, GIT_TERMINAL_PROMPT: '0' },
    secrets: [token, header],
  };
}

/** Runs `steps` from `cwd`; returns the directory the flow should load from. */
export async function runPullSteps(steps: readonly PullStep[], cwd: string, log: Log): Promise<string> {
  let directory = cwd;
  const outputs = new Map<string, Record<string, string>>();
  for (const given of steps) {
    const step = fillStepOutputs(given, outputs);
    let output: Record<string, string>;
    let id: string | undefined;
    if ('set_working_directory' in step) {
      id = step.set_working_directory.id;
      directory = resolve(directory, step.set_working_directory.directory);
      if (!existsSync(directory)) {
        throw droverErrorOf('FLOW_LOAD_ERROR', `Pull step set_working_directory: ${directory} does not exist`, { directory });
      }
      log('info', `Working directory: ${directory}`);
      output = { directory };
    } else if ('git_clone' in step) {
      id = step.git_clone.id;
      const { repository, branch, commit, submodules } = step.git_clone;
      const target = resolve(directory, step.git_clone.directory ?? basename(repository).replace(/\.git$/, ''));
      const ref = commit ?? branch;
      const { env, secrets } = gitCredentials(step.git_clone.accessToken, repository);
      const git = (args: string[], cwd: string) => run('git', args, cwd, log, env, secrets);
      log('info', `Cloning ${repository}${ref ? ` at ${ref}` : ''} into ${target}`);
      if (!existsSync(target)) {
        await git(['clone', '--quiet', ...(branch && !commit ? [`--branch=${branch}`, '--depth=1'] : []), '--', repository, target], directory);
      } else {
        await git(['fetch', '--quiet', 'origin', ...(ref ? [ref] : [])], target);
        if (!commit) await git(['checkout', '--quiet', '--force', 'FETCH_HEAD'], target);
      }
      if (commit) await git(['checkout', '--quiet', '--force', commit], target);
      if (submodules) await git(['submodule', 'update', '--quiet', '--init', '--recursive'], target);
      directory = target;
      output = { directory };
    } else if ('run_shell_script' in step) {
      id = step.run_shell_script.id;
      const { script, env } = step.run_shell_script;
      const where = step.run_shell_script.directory ? resolve(directory, step.run_shell_script.directory) : directory;
      log('info', `Running: ${script}`);
      output = await run('/bin/sh', ['-c', script], where, log, env);
    } else {
      assertNever(step);
    }
    if (id !== undefined) outputs.set(id, output);
  }
  return directory;
}
