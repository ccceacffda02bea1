// The pull steps as the engine runs them, without a worker: each step from the directory the
// previous one left, output line by line into the run's logs (lines written in pieces joined,
// the last without its newline kept), failures named. Through a real worker and a real git
// repository: packages/worker/src/pullStepsOnWorkers.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogLevel } from '@drover/schemas';
import { PullStep } from '@drover/schemas';
import { afterAll, describe, expect, it } from 'vitest';
import { runPullSteps } from './pullSteps.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'drover-pull-')));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function collect(): { lines: string[]; log: (level: LogLevel, message: string) => void } {
  const lines: string[] = [];
  return { lines, log: (_level, message) => lines.push(message) };
}

describe('runPullSteps', () => {
  it('runs each step from where the previous one left, logging whole lines', async () => {
    mkdirSync(join(root, 'project', 'flows'), { recursive: true });
    const { lines, log } = collect();
    // printf writes "one" and "two" in separate writes, and "last" without a newline.
    const script = "printf 'o'; sleep 0.05; printf 'ne\\n'; printf 'two\\nla'; sleep 0.05; printf 'st'";
    const directory = await runPullSteps(
      [{ set_working_directory: { directory: 'project' } }, { run_shell_script: { script, directory: 'flows', env: {} } }],
      root,
      log,
    );
    expect(directory).toBe(join(root, 'project'));
    expect(lines).toEqual([`Working directory: ${join(root, 'project')}`, `Running: ${script}`, 'one', 'two', 'last']);
  });

  it('clones a local repository at a commit', async () => {
    const origin = join(root, 'origin');
    mkdirSync(origin);
    const git = (...args: string[]) => execFileSync('git', ['-C', origin, ...args], { encoding: 'utf8' }).trim();
    git('init', '--quiet', '--initial-branch', 'main');
    git('-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '--quiet', '--allow-empty', '-m', 'first');
    const commit = git('rev-parse', 'HEAD');
    const { lines, log } = collect();
    const directory = await runPullSteps([{ git_clone: { repository: origin, commit, directory: 'clone' } }], root, log);
    expect(directory).toBe(join(root, 'clone'));
    expect(execFileSync('git', ['-C', directory, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()).toBe(commit);
    expect(lines[0]).toBe(`Cloning ${origin} at ${commit} into ${join(root, 'clone')}`);
  });

  it('names the step that failed, its exit code and its last lines', async () => {
    const { log } = collect();
    await expect(runPullSteps([{ run_shell_script: { script: 'echo almost; exit 3', env: {} } }], root, log)).rejects.toMatchObject({
      code: 'FLOW_LOAD_ERROR',
      message: 'Pull step `/bin/sh -c echo almost; exit 3` exited with 3: almost',
    });
    await expect(runPullSteps([{ set_working_directory: { directory: 'nowhere' } }], root, log)).rejects.toMatchObject({
      message: `Pull step set_working_directory: ${join(root, 'nowhere')} does not exist`,
    });
  });

  it('refuses a repository or branch that git would read as an option', () => {
    for (const step of [{ git_clone: { repository: '--upload-pack=touch /tmp/pwned' } }, { git_clone: { repository: 'repo', branch: '-x' } }]) {
      expect(PullStep.safeParse(step).success, JSON.stringify(step)).toBe(false);
    }
  });
});
