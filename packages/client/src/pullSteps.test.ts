// The pull steps as the engine runs them, without a worker: each step from the directory the
// previous one left, output line by line into the run's logs (lines written in pieces joined,
// the last without its newline kept), failures named. Through a real worker and a real git
// repository: packages/worker/src/pullStepsOnWorkers.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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

  it("fills in earlier steps' outputs: a directory, a script's stdout", async () => {
    mkdirSync(join(root, 'outputs', 'nested'), { recursive: true });
    const { lines, log } = collect();
    const directory = await runPullSteps(
      [
        { set_working_directory: { id: 'base', directory: 'outputs' } },
        { run_shell_script: { id: 'name', script: "printf 'nes'; printf 'ted\\n\\n'", env: {} } },
        { run_shell_script: { script: 'echo "$WHERE"', env: { WHERE: '{{ base.directory }}/{{ name.stdout }}' } } },
        { set_working_directory: { directory: '{{ base.directory }}/{{name.stdout}}' } },
      ],
      root,
      log,
    );
    expect(directory).toBe(join(root, 'outputs', 'nested'));
    expect(lines).toContain(join(root, 'outputs', 'nested'));
    // Steps saved before ids existed, or by hand into the database: a reference to nothing fails the step, named.
    await expect(runPullSteps([{ set_working_directory: { directory: '{{ nothing.directory }}' } }], root, log)).rejects.toMatchObject({
      code: 'FLOW_LOAD_ERROR',
      message: 'Pull step set_working_directory.directory: {{ nothing.directory }} names no output of an earlier step',
    });
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

  it('sends an access token named by reference as a header, never in arguments, and redacts it', async () => {
    const seen: (string | undefined)[] = [];
    const http = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(404).end('not a repository');
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/team/flows.git`;
    process.env.DROVER_TEST_GIT_TOKEN = 's3cret-t0ken';
    try {
      const { lines, log } = collect();
      const error = await runPullSteps(
        [{ git_clone: { repository: url, accessToken: '{{ env.DROVER_TEST_GIT_TOKEN }}', directory: 'private' } }],
        root,
        log,
      ).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(error).toMatchObject({ code: 'FLOW_LOAD_ERROR' });
      expect(seen).toContain(`Basic ${Buffer.from('x-access-token:s3cret-t0ken').toString('base64')}`);
      expect(`${error?.message} ${lines.join('\n')}`).not.toContain('s3cret-t0ken');
      expect(error?.message).toMatch(/^Pull step `git clone --quiet -- http:\/\/127\.0\.0\.1:\d+\/team\/flows\.git .+private` exited with 128: /);
    } finally {
      delete process.env.DROVER_TEST_GIT_TOKEN;
      http.close();
    }
    await expect(runPullSteps([{ git_clone: { repository: url, accessToken: '{{ env.DROVER_TEST_GIT_TOKEN }}' } }], root, () => {})).rejects.toMatchObject({
      message: `Pull step git_clone of ${url}: its accessToken names the environment variable DROVER_TEST_GIT_TOKEN, which is not set where the job runs: set it on the worker (or in the pool's env job variable)`,
    });
    expect(PullStep.safeParse({ git_clone: { repository: url, accessToken: 'ghp_literal' } }).success).toBe(false);
  });

  it('checks out submodules when asked', async () => {
    const lib = join(root, 'lib');
    const app = join(root, 'app');
    const git = (dir: string, ...args: string[]) =>
      execFileSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', '-c', 'protocol.file.allow=always', '-C', dir, ...args], { encoding: 'utf8' });
    for (const dir of [lib, app]) {
      mkdirSync(dir);
      git(dir, 'init', '--quiet', '--initial-branch', 'main');
    }
    writeFileSync(join(lib, 'util.mjs'), 'export const x = 1;\n');
    git(lib, 'add', '.');
    git(lib, 'commit', '--quiet', '-m', 'lib');
    git(app, 'submodule', '--quiet', 'add', lib, 'lib');
    git(app, 'commit', '--quiet', '-m', 'app');
    // git refuses file:// submodules by default; a real repository's submodules are remote.
    process.env.GIT_CONFIG_COUNT = '1';
    process.env.GIT_CONFIG_KEY_0 = 'protocol.file.allow';
    process.env.GIT_CONFIG_VALUE_0 = 'always';
    try {
      const directory = await runPullSteps([{ git_clone: { repository: app, submodules: true, directory: 'with-lib' } }], root, () => {});
      expect(readFileSync(join(directory, 'lib', 'util.mjs'), 'utf8')).toBe('export const x = 1;\n');
    } finally {
      delete process.env.GIT_CONFIG_COUNT;
      delete process.env.GIT_CONFIG_KEY_0;
      delete process.env.GIT_CONFIG_VALUE_0;
    }
  });

  it('refuses a repository or branch that git would read as an option', () => {
    for (const step of [{ git_clone: { repository: '--upload-pack=touch /tmp/pwned' } }, { git_clone: { repository: 'repo', branch: '-x' } }]) {
      expect(PullStep.safeParse(step).success, JSON.stringify(step)).toBe(false);
    }
  });
});
