// Runs that really run: a `drover worker start` process launches them, `drover deployment run
// --watch` and `drover flow-run logs --follow` stream their states and logs as they happen, and
// the exit code says whether the run COMPLETED.
import { FlowRun, LogRecord } from '@drover/schemas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOWS, makeProject, type RunningCli, startTestServer, type TestServer, warmEngines } from './testCli.js';

let srv: TestServer;
let project: { dir: string; remove(): void };
let worker: RunningCli;

beforeAll(async () => {
  srv = await startTestServer();
  project = makeProject(FLOWS);
  const cwd = project.dir;
  expect((await srv.run(['work-pool', 'create', 'work', '--type', 'process'])).code).toBe(0);
  const deployed = await Promise.all([
    srv.run(['deploy', 'flows/hello.ts:hello', '--name', 'greet', '--pool', 'work'], { cwd }),
    srv.run(['deploy', 'flows/boom.ts:boom', '--name', 'fail', '--pool', 'work'], { cwd }),
  ]);
  expect(deployed.map((d) => d.code)).toEqual([0, 0]);
  // The worker runs from elsewhere: the deployments' pull steps take the jobs to the project.
  worker = srv.start(['worker', 'start', '--pool', 'work', '--name', 'w1']);
  await worker.waitFor(/Worker w1 started on process pool "work" \(all queues\)/);
}, 180_000);

afterAll(async () => {
  if (worker && worker.child.exitCode === null) {
    worker.child.kill('SIGKILL');
    await worker.exited;
  }
  project?.remove();
  await srv?.close();
});

/** The lines of `text` that match, in order, each pattern once: proves the order of events. */
function inOrder(text: string, patterns: RegExp[]): void {
  let rest = text;
  for (const pattern of patterns) {
    const match = pattern.exec(rest);
    expect(match, `${pattern} after:\n${rest}`).not.toBeNull();
    rest = rest.slice((match?.index ?? 0) + (match?.[0].length ?? 0));
  }
}

describe('runs through a worker', { timeout: 180_000 }, () => {
  it('deployment run --watch streams states and logs, and exits 0 when the run COMPLETED', async () => {
    const result = await srv.run(['deployment', 'run', 'hello/greet', '--param', 'name=ada', '--param', 'times=2', '--watch', '--timeout', '150s']);
    expect(result.code).toBe(0);
    inOrder(result.stdout, [
      /^Created flow run (\S+) \(\S+\) of hello\/greet, scheduled for \S+Z\n/,
      /\S+Z {2}state {2}SCHEDULED\n/,
      /\S+Z {2}state {2}PENDING\n/,
      /\S+Z {2}state {2}RUNNING\n/,
      /\S+Z {2}info {3}Hello, ada!\n/,
      /\S+Z {2}info {3}Hello, ada!\n/,
      /\S+Z {2}state {2}COMPLETED\n/,
      /Flow run \S+ finished: COMPLETED\nResult: \{"greeted":"ada"\}\n$/,
    ]);
    // Piped: the wait prints one plain line on stderr, no spinner frames.
    expect(result.stderr).toMatch(/^Watching flow run \S+ \(\S+\)\.\.\.\n$/);
  });

  it('exits 1 when the watched run FAILED, with the failure on the last line', async () => {
    const result = await srv.run(['deployment', 'run', 'boom/fail', '--watch', '--timeout', '150s']);
    expect(result.code).toBe(1);
    inOrder(result.stdout, [
      /\S+Z {2}state {2}RUNNING\n/,
      /\S+Z {2}warn {3}about to fail\n/,
      /\S+Z {2}state {2}FAILED: Error: kaboom\n/,
      /Flow run \S+ finished: FAILED: Error: kaboom\n$/,
    ]);
  });

  it('flow-run retry runs a FAILED run again through the worker, keeping its history; a COMPLETED one is refused (exit 1)', async () => {
    const failed = FlowRun.parse(JSON.parse((await srv.run(['deployment', 'run', 'boom/fail', '--watch', '--json'])).stdout));
    expect(failed.state.type).toBe('FAILED');
    const retried = await srv.run(['flow-run', 'retry', failed.id]);
    expect([retried.code, retried.stdout]).toEqual([0, `Flow run ${failed.id} is SCHEDULED (AwaitingRetry): a worker will run it again\n`]);
    const watched = FlowRun.parse(JSON.parse((await srv.run(['flow-run', 'inspect', failed.id, '--json'])).stdout));
    expect(watched.id).toBe(failed.id);
    // The worker runs it again: it fails again (the flow always does), a second attempt in its history.
    let history: { type: string; name: string }[] = [];
    for (let i = 0; i < 300 && history.filter((s) => s.type === 'FAILED').length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      history = (await srv.server.store.flowRuns.history(failed.id)).map(({ type, name }) => ({ type, name }));
    }
    expect(history.map((s) => s.name)).toEqual(['Scheduled', 'Pending', 'Running', 'Failed', 'AwaitingRetry', 'Pending', 'Running', 'Failed']);
    const done = FlowRun.parse(JSON.parse((await srv.run(['deployment', 'run', 'hello/greet', '--watch', '--json'])).stdout));
    const refused = await srv.run(['flow-run', 'retry', done.id]);
    expect([refused.code, refused.stderr]).toEqual([
      1,
      `Error: Flow run ${done.id} was not retried: Run is COMPLETED; only a FAILED, CRASHED or CANCELLED run can be retried\n`,
    ]);
  });

  it('--watch --json prints only the run as it ended', async () => {
    const result = await srv.run(['deployment', 'run', 'hello/greet', '--watch', '--json']);
    expect(result.code).toBe(0);
    const run = FlowRun.parse(JSON.parse(result.stdout));
    expect([run.state.type, run.result]).toEqual(['COMPLETED', { greeted: 'world' }]);
  });

  it('flow-run logs --follow prints lines until the run ends; logs prints them afterwards', async () => {
    const created = FlowRun.parse(JSON.parse((await srv.run(['deployment', 'run', 'hello/greet', '--param', 'name=bo', '--json'])).stdout));
    const [text, lines] = await Promise.all([
      srv.run(['flow-run', 'logs', created.id, '--follow']),
      srv.run(['flow-run', 'logs', created.id, '--follow', '--json']),
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/\S+Z {2}info {3}Hello, bo!\n$/);
    const records = lines.stdout
      .trim()
      .split('\n')
      .map((line) => LogRecord.parse(JSON.parse(line)));
    expect(records.at(-1)?.message).toBe('Hello, bo!');
    const after = await srv.run(['flow-run', 'logs', created.id]);
    expect(after.stdout).toBe(text.stdout);
    const listed = await srv.run(['flow-run', 'ls', '--state', 'completed', '--deployment', 'hello/greet', '--json']);
    expect((JSON.parse(listed.stdout) as { id: string }[]).map((r) => r.id)).toContain(created.id);
  });

  it('stops watching on SIGINT, leaving the run to go on', async () => {
    const watch = srv.start(['deployment', 'run', 'hello/greet', '--start-in', '1h', '--watch']);
    await watch.waitFor(/state {2}SCHEDULED\n/);
    watch.child.kill('SIGINT');
    const result = await watch.exited;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/\nStopped watching; flow run \S+ \(\S+\) is SCHEDULED and goes on without you\.\n$/);
  });

  it('shows the worker ONLINE on its pool, and stops it gracefully on SIGTERM', async () => {
    const pool = await srv.run(['work-pool', 'inspect', 'work']);
    expect(pool.stdout).toMatch(/status: +READY\n/);
    expect(pool.stdout).toMatch(/WORKER +STATUS +LAST HEARTBEAT\nw1 +ONLINE +\S+Z\n/);
    worker.child.kill('SIGTERM');
    const result = await worker.exited;
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('Stopping worker w1: running jobs get their grace period, then are stopped...\n');
    expect(result.stdout).toMatch(/\nWorker w1 stopped\n$/);
  });

  it('worker start --warm-processes keeps that many engines waiting; a value out of range is refused (exit 2)', async () => {
    /** The worker's warm engines, once `count` of them exist (or after 5 s). */
    const engines = async (pid: number, count: number) => {
      for (let tries = 0; ; tries++) {
        const warm = warmEngines(pid).length;
        if (warm === count || tries === 50) return warm;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    for (const count of [3, 0]) {
      const tuned = srv.start(['worker', 'start', '--pool', 'warm', '--type', 'process', '--name', `warm-${count}`, '--warm-processes', String(count)]);
      try {
        await tuned.waitFor(/Worker warm-\d started on process pool "warm"/);
        expect(await engines(tuned.child.pid as number, count)).toBe(count);
      } finally {
        tuned.child.kill('SIGTERM');
        await tuned.exited;
      }
    }
    const refused = await srv.run(['worker', 'start', '--pool', 'warm', '--warm-processes', '65']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--warm-processes');
  });
});
