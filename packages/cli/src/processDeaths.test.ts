// One death at a time, through real processes: a worker SIGKILLed under a running job, and a
// server down for longer than the heartbeat timeout. Each once ran the run twice or crashed it.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { getClient } from '@drover/client';
import type { FlowRun } from '@drover/schemas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, killHard, spawnDrover, untilAnswered, warmEngines } from './testCli.js';

const requireHere = createRequire(import.meta.url);
const clientEntry = requireHere.resolve('@drover/client');
const zodEntry = join(dirname(requireHere.resolve('zod')), 'index.js');

/** `steady` logs a line every 100 ms for `lines` lines and records each start in `record`. */
const FLOWS = `import { appendFileSync } from 'node:fs';
import { flow } from '${clientEntry}';
import { z } from '${zodEntry}';
export const steady = flow({ name: 'steady', parameters: z.object({ record: z.string(), lines: z.number() }), retries: 2 }, async ({ record, lines }, ctx) => {
  appendFileSync(record, process.pid + '\\n');
  for (let i = 1; i <= lines; i++) {
    ctx.logger.info('line ' + i);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { lines };
});
`;

const home = mkdtempSync(join(tmpdir(), 'drover-deaths-'));
const children = new Set<ChildProcess>();
beforeAll(() => {
  writeFileSync(join(home, 'flows.mjs'), FLOWS);
});
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(home, { recursive: true, force: true });
});

/** A server and a worker as processes, a process pool, and a deployment of `steady`. */
async function start(name: string, serverEnv: Record<string, string> = {}) {
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const env = { DROVER_HOME: join(home, name), DROVER_API_URL: apiUrl, DROVER_LOG_LEVEL: 'warn', DROVER_RUN_HEARTBEAT_SECONDS: '0.5', ...serverEnv };
  const spawnTracked = (args: string[]) => {
    const child = spawnDrover(args, env, home);
    children.add(child);
    return child;
  };
  const client = getClient({ apiUrl });
  const startServer = async () => {
    const server = spawnTracked(['server', 'start', '--port', String(port)]);
    await untilAnswered(() => client.health());
    return server;
  };
  const server = await startServer();
  await client.workPools.create({ name: 'pool', type: 'process' });
  await client.deployments.upsert({
    flowName: 'steady',
    name: 'steady',
    entrypoint: 'flows.mjs:steady',
    workPoolName: 'pool',
    jobVariables: { workingDir: home },
  });
  const worker = spawnTracked(['worker', 'start', '--pool', 'pool']);
  const record = join(home, `${name}.pids`);
  writeFileSync(record, '');
  return { client, server, worker, startServer, record };
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, seconds = 60): Promise<T> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > end) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Whether `pid` is a process that has not exited (a zombie has). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const final = (run: FlowRun) => ['COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED'].includes(run.state.type);

describe('a job', () => {
  it('outlives its SIGKILLed worker: it goes on logging and completes its run, once', { timeout: 120_000 }, async () => {
    const { client, worker, record } = await start('worker-killed');
    const run = await client.flowRuns.create({ deployment: 'steady/steady', parameters: { record, lines: 30 } });
    const running = await until(
      () => client.flowRuns.read(run.id),
      (r) => r.state.type === 'RUNNING',
    );
    // The worker's warm engines that wait for a run: they end with their worker, leaving no process behind.
    const jobPid = Number(running.infrastructureId?.split(':')[2]);
    const waiting = warmEngines(worker.pid as number).filter((pid) => pid !== jobPid);
    expect(waiting.length).toBeGreaterThan(0);
    await killHard(worker);
    const ended = await until(() => untilAnswered(() => client.flowRuns.read(run.id)), final);
    expect(ended, ended.state.message ?? '').toMatchObject({ state: { type: 'COMPLETED' }, runCount: 1, result: { lines: 30 } });
    expect(
      await until(
        async () => waiting.filter(isRunning),
        (left) => left.length === 0,
        10,
      ),
    ).toEqual([]);
    const logs = await client.flowRuns.logs({ flowRunId: run.id });
    expect(logs.map((l) => l.message)).toEqual(Array.from({ length: 30 }, (_, i) => `line ${i + 1}`));
    expect(readFileSync(record, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('outlives a server outage longer than the heartbeat timeout, and runs once', { timeout: 120_000 }, async () => {
    const { client, server, startServer, record } = await start('server-down', { DROVER_RUN_HEARTBEAT_TIMEOUT_SECONDS: '2' });
    const run = await client.flowRuns.create({ deployment: 'steady/steady', parameters: { record, lines: 60 } });
    await until(
      () => client.flowRuns.read(run.id),
      (r) => r.state.type === 'RUNNING',
    );
    await killHard(server);
    await new Promise((resolve) => setTimeout(resolve, 4000));
    await startServer();
    const ended = await until(() => untilAnswered(() => client.flowRuns.read(run.id)), final);
    expect(ended, ended.state.message ?? '').toMatchObject({ state: { type: 'COMPLETED' }, runCount: 1 });
    expect((await client.flowRuns.history(run.id)).map((s) => s.type)).toEqual(['SCHEDULED', 'PENDING', 'RUNNING', 'COMPLETED']);
    expect(readFileSync(record, 'utf8').trim().split('\n')).toHaveLength(1);
  });
});
