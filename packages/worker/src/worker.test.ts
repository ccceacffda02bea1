import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DroverClient } from '@drover/client';
import type { ClaimedFlowRun, FlowRun } from '@drover/schemas';
import { type DroverServer, startServer } from '@drover/server';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ENGINE_ENTRY } from './launchers/process.js';
import { allFinal, fixtureDeployment, packageDir, withSdkServer, working } from './testHelpers.js';
import { Worker } from './worker.js';

/**
 * A job command that ignores SIGTERM (exec: its pid is the shell's) and would run for a minute.
 * It writes `readyFile` once its handler is on: a SIGTERM sent before that (node takes tens of
 * ms to start) would still end it as SIGTERM does.
 */
const ignoresSigterm = (readyFile: string) =>
  `exec ${process.execPath} -e "process.on('SIGTERM', () => {}); require('node:fs').writeFileSync('${readyFile}', ''); setTimeout(() => {}, 60000)"`;

/** A fresh path for a job's ready file, and a wait for the job to write it. */
function readyFile(): { path: string; written(): Promise<void> } {
  const path = join(mkdtempSync(join(tmpdir(), 'drover-ready-')), 'ready');
  return {
    path,
    written: async () => {
      while (!existsSync(path)) await new Promise((r) => setTimeout(r, 10));
    },
  };
}

/** The pid in `process:<host>:<pid>:<start time>:<boot id>`. */
const pidOf = (infrastructureId: string) => Number(infrastructureId.split(':')[2]);
const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks after boot. */
function startTime(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string;
}

/** Whether the process runs. A killed orphan can stay a zombie until its new parent reaps it: that is dead too. */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('Worker on a process pool', () => {
  it('rejects ready (and start) with the reason when it cannot start, and ends stopped', async () => {
    await withSdkServer(async (_server, client) => {
      const worker = new Worker({ workPoolName: 'missing', client, print: () => {} });
      const started = worker.start();
      const reason = 'Work pool "missing" not found';
      await expect(worker.ready).rejects.toMatchObject({ code: 'WORK_POOL_NOT_FOUND' });
      await expect(started).rejects.toThrow(reason);
      expect(worker.state).toBe('stopped');
      await worker.stop();
    });
  });

  it('creates its pool when missing, runs a deployment to COMPLETED with its logs, and stores where the job ran', async () => {
    await withSdkServer(async (_server, client) => {
      const lines: string[] = [];
      await working(client, { print: (l) => lines.push(l) }, async (worker) => {
        await client.deployments.upsert(fixtureDeployment('hello', 'quick'));
        const launched = once(worker, 'launched');
        const run = await client.flowRuns.create({ deployment: 'quick/hello' });
        const [, infrastructureId] = await launched;
        const [final] = await allFinal(client, [run]);
        expect(final).toMatchObject({ state: { type: 'COMPLETED' }, result: 'done', workerName: worker.name, infrastructureId });
        // The job has exited: its start time is checked in launchers.test.ts.
        expect(infrastructureId).toMatch(new RegExp(`^process:${hostname()}:\\d+:\\d+:${bootId}$`));
        const logs = await client.flowRuns.logs({ flowRunId: run.id });
        expect(logs.map((l) => [l.level, l.message])).toEqual([
          ['info', `hello from ${run.name}`],
          ['warn', 'a warning'],
        ]);
      });
      expect(lines[0]).toBe('Created work pool "local" of type process with its default job template');
      expect(lines).toContain(`${(await client.flowRuns.list())[0]?.name} | hello from ${(await client.flowRuns.list())[0]?.name}`);
    });
  });

  it('works through a server list whose first server is down: the worker and its jobs, warm and cold, go to the next', async () => {
    await withSdkServer(async (server, client) => {
      // A port nothing listens on, first in the list the worker and its jobs are given.
      const closed = createServer().listen(0, '127.0.0.1');
      await once(closed, 'listening');
      const { port } = closed.address() as AddressInfo;
      closed.close();
      await once(closed, 'close');
      const listed = new DroverClient({ apiUrl: `http://127.0.0.1:${port},${server.url}`, apiKey: '' });
      await client.workPools.create({ name: 'local', type: 'process' });
      await client.deployments.upsert(fixtureDeployment('hello', 'quick'));
      await client.deployments.upsert(fixtureDeployment('cold', 'quick', { jobVariables: { command: `exec ${process.execPath} ${ENGINE_ENTRY}` } }));
      await working(listed, {}, async () => {
        const runs = await Promise.all([client.flowRuns.create({ deployment: 'quick/hello' }), client.flowRuns.create({ deployment: 'quick/cold' })]);
        const finals = await allFinal(client, runs);
        expect(finals.map((run) => run.state.type)).toEqual(['COMPLETED', 'COMPLETED']);
        for (const run of finals) expect((await client.flowRuns.logs({ flowRunId: run.id })).map((l) => l.message)).toContain(`hello from ${run.name}`);
      });
    });
  });

  it('marks a job killed with SIGKILL CRASHED at once, with the exit and the last output', async () => {
    await withSdkServer(async (_server, client) => {
      await working(client, {}, async () => {
        await client.deployments.upsert(fixtureDeployment('die', 'suicide'));
        const [final] = await allFinal(client, [await client.flowRuns.create({ deployment: 'suicide/die' })]);
        expect(final?.state).toMatchObject({
          type: 'CRASHED',
          message: 'The job was killed by SIGKILL without reporting a final state; last output: about to die',
        });
      });
    });
  });

  it('stops the job of a run cancelled through the server, which ends CANCELLED', async () => {
    await withSdkServer(async (_server, client) => {
      await working(client, {}, async () => {
        await client.deployments.upsert(fixtureDeployment('long', 'sleepy'));
        const run = await client.flowRuns.create({ deployment: 'sleepy/long', parameters: { ms: 60_000 } });
        while ((await client.flowRuns.read(run.id)).state.type !== 'RUNNING') await new Promise((r) => setTimeout(r, 50));
        await client.flowRuns.cancel(run.id);
        const [final] = await allFinal(client, [run]);
        expect(final?.state).toMatchObject({ type: 'CANCELLED', message: 'The job was stopped (SIGTERM)' });
        expect(final?.infrastructureId).toMatch(/^process:/);
      });
    });
  });

  it('kills a job that ignores SIGTERM once the stop grace period is over; the run ends CANCELLED', async () => {
    await withSdkServer(async (_server, client) => {
      await working(client, { stopGraceSeconds: 0.5 }, async (worker) => {
        const ready = readyFile();
        await client.deployments.upsert(fixtureDeployment('deaf', 'quick', { jobVariables: { command: ignoresSigterm(ready.path) } }));
        const launched = once(worker, 'launched');
        const run = await client.flowRuns.create({ deployment: 'quick/deaf' });
        const pid = pidOf((await launched)[1] as string);
        while ((await client.flowRuns.read(run.id)).infrastructureId === null) await new Promise((r) => setTimeout(r, 20));
        await ready.written();
        expect((await client.flowRuns.cancel(run.id)).state.type).toBe('CANCELLING');
        const [final] = await allFinal(client, [run], 20);
        expect(final?.state).toMatchObject({ type: 'CANCELLED', message: `Cancelled: worker ${worker.name} stopped the job (it was killed by SIGKILL)` });
        expect(alive(pid)).toBe(false);
      });
    });
  });

  it('ends a job at once when its flow is done, even if the flow left a timer running', async () => {
    await withSdkServer(async (_server, client) => {
      await working(client, {}, async (worker) => {
        await client.deployments.upsert(fixtureDeployment('leaky', 'leaky'));
        const launched = once(worker, 'launched');
        const exited = once(worker, 'released');
        const run = await client.flowRuns.create({ deployment: 'leaky/leaky' });
        const pid = pidOf((await launched)[1] as string);
        const [final] = await allFinal(client, [run], 20);
        expect(final?.state.type).toBe('COMPLETED');
        await exited;
        expect(alive(pid)).toBe(false);
      });
    });
  });

  it('gives the job its claim token in its environment, never on its command line', async () => {
    await withSdkServer(async (_server, client) => {
      await working(client, { stopGraceSeconds: 0.5 }, async (worker) => {
        const ready = readyFile();
        await client.deployments.upsert(fixtureDeployment('deaf', 'quick', { jobVariables: { command: ignoresSigterm(ready.path) } }));
        const launched = once(worker, 'launched');
        const run = await client.flowRuns.create({ deployment: 'quick/deaf' });
        const [claimed, infrastructureId] = (await launched) as [ClaimedFlowRun, string];
        await ready.written();
        const pid = pidOf(infrastructureId);
        expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain(`DROVER_CLAIM_TOKEN=${claimed.claimToken}`);
        expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(claimed.claimToken);
        await client.flowRuns.cancel(run.id);
        await allFinal(client, [run], 20);
      });
    });
  });

  it('stops the job of a run no longer its own, and writes nothing more to the run', async () => {
    await withSdkServer(async (_server, client) => {
      await working(client, { stopGraceSeconds: 0.5 }, async (worker) => {
        const ready = readyFile();
        await client.deployments.upsert(fixtureDeployment('deaf', 'quick', { jobVariables: { command: ignoresSigterm(ready.path) } }));
        const launched = once(worker, 'launched');
        const released = once(worker, 'released');
        const run = await client.flowRuns.create({ deployment: 'quick/deaf' });
        const pid = pidOf((await launched)[1] as string);
        while ((await client.flowRuns.read(run.id)).infrastructureId === null) await new Promise((r) => setTimeout(r, 20));
        await ready.written();
        // Ended by someone else: the worker's claim is over, and its next heartbeat learns so.
        await client.flowRuns.setState({ flowRunId: run.id, state: { type: 'FAILED', message: 'Ended by an operator' } });
        const [, state] = await released;
        expect(state).toMatchObject({ type: 'FAILED', message: 'Ended by an operator' });
        expect(alive(pid)).toBe(false);
        expect((await client.flowRuns.history(run.id)).map((s) => s.type)).toEqual(['SCHEDULED', 'PENDING', 'FAILED']);
        expect(worker.held).toBe(0);
      });
    });
  });

  it('never lets a job variable reach the shared prototype: the server refuses the run, the worker stays clean and later runs run their own command', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'drover-pwned-')), 'pwned');
    try {
      await withSdkServer(async (_server, client) => {
        await working(client, {}, async () => {
          await client.deployments.upsert(fixtureDeployment('hello', 'quick'));
          await client.deployments.upsert(fixtureDeployment('other', 'quick'));
          // Refused before any run exists (the worker's own check, for keys a pool's template might
          // let through, is in jobConfiguration.test.ts).
          for (const key of ['__proto__.command', 'constructor.prototype.command']) {
            await expect(client.flowRuns.create({ deployment: 'quick/other', jobVariables: { [key]: `touch ${marker}` } })).rejects.toMatchObject({
              code: 'JOB_VARIABLES_INVALID',
              message: expect.stringContaining(`unknown variable "${key}"`),
            });
          }
          expect(await client.flowRuns.list({ deploymentId: (await client.deployments.read('quick/other')).id })).toEqual([]);
          expect(({} as Record<string, unknown>).command).toBeUndefined();
          const [later] = await allFinal(client, [await client.flowRuns.create({ deployment: 'quick/hello' })]);
          expect(later).toMatchObject({ state: { type: 'COMPLETED' }, result: 'done' });
          expect(existsSync(marker)).toBe(false);
        });
      });
    } finally {
      // Had the worker been polluted, the rest of this file must not run with it.
      delete (Object.prototype as Record<string, unknown>).command;
    }
  }, 30_000);

  it('fails a run whose working directory does not exist, saying so and how to fix it', async () => {
    await withSdkServer(async (_server, client) => {
      await working(client, {}, async () => {
        await client.deployments.upsert(fixtureDeployment('nowhere', 'quick', { jobVariables: { workingDir: '/nonexistent/drover-project' } }));
        const run = await client.flowRuns.create({ deployment: 'quick/nowhere' });
        const [final] = await allFinal(client, [run]);
        const message = `The working directory "/nonexistent/drover-project" of run ${run.name} of quick/nowhere does not exist on worker host ${hostname()}: create it there, or set the "workingDir" job variable of the deployment or pool to a folder that exists`;
        expect(final?.state).toMatchObject({ type: 'FAILED', message });
        expect((await client.flowRuns.logs({ flowRunId: run.id })).map((l) => [l.level, l.message])).toEqual([['error', message]]);
      });
    });
  });

  it('refuses a deployment whose job variables the pool does not know, naming them, before any run exists', async () => {
    await withSdkServer(async (_server, client) => {
      await working(client, {}, async () => {
        await expect(
          client.deployments.upsert(fixtureDeployment('bad', 'quick', { jobVariables: { colour: 'red', streamOutput: 'yes' } })),
        ).rejects.toMatchObject({
          code: 'JOB_VARIABLES_INVALID',
          message:
            'Invalid job variables for deployment "quick/bad" in work pool "local": unknown variable "colour" (pool "local" has: command, env, labels, name, streamOutput, workingDir, reuseProcess); streamOutput is "yes", which must be boolean',
        });
      });
    });
  });

  it('serves queues in priority order and skips a paused queue', async () => {
    await withSdkServer(async (_server, client) => {
      await client.workPools.create({ name: 'local', type: 'process' });
      await client.workQueues.create({ workPoolName: 'local', name: 'urgent', priority: 1 });
      await client.workQueues.create({ workPoolName: 'local', name: 'held', isPaused: true });
      await client.deployments.upsert(fixtureDeployment('hello', 'quick'));
      const low = await client.flowRuns.create({ deployment: 'quick/hello' }); // default queue, now priority 2
      const high = await client.flowRuns.create({ deployment: 'quick/hello', workQueueName: 'urgent' });
      const paused = await client.flowRuns.create({ deployment: 'quick/hello', workQueueName: 'held' });
      const order: string[] = [];
      await working(client, { limit: 1 }, async (worker) => {
        worker.on('launched', (run) => order.push(run.id));
        await allFinal(client, [low, high]);
      });
      expect(order).toEqual([high.id, low.id]);
      expect((await client.flowRuns.read(paused.id)).state.type).toBe('SCHEDULED');
    });
  });

  it('never holds more than its limit, nor the pool, queue or deployment limits, over 200 runs', async () => {
    await withSdkServer(async (_server, client) => {
      await client.workPools.create({ name: 'local', type: 'process', concurrencyLimit: 6 });
      // Each limit can bind on its own: two queues of 5 could hold 10, the pool caps them at 6; the
      // workers' 4 + 4 could hold 8; the capped deployment never holds more than its 3.
      await client.workQueues.update({ workPoolName: 'local', name: 'default' }, { concurrencyLimit: 5 });
      await client.workQueues.create({ workPoolName: 'local', name: 'other', concurrencyLimit: 5 });
      // A bare-fetch job instead of the engine: 200 real processes, cheap enough for a test.
      const jobVariables = { command: `node ${packageDir}src/testFixtures/lightJob.mjs` };
      await client.deployments.upsert(fixtureDeployment('capped', 'quick', { concurrencyLimit: 3, jobVariables }));
      await client.deployments.upsert(fixtureDeployment('free', 'quick', { workQueueName: 'other', jobVariables }));
      const runs = await Promise.all(Array.from({ length: 200 }, (_, i) => client.flowRuns.create({ deployment: i % 2 ? 'quick/capped' : 'quick/free' })));
      const held = { a: 0, b: 0 };
      const peakHeld = { a: 0, b: 0 };
      const track = (worker: { on: (e: 'launched' | 'released', f: () => void) => void }, name: 'a' | 'b') => {
        worker.on('launched', () => {
          held[name]++;
          peakHeld[name] = Math.max(peakHeld[name], held[name]);
        });
        worker.on('released', () => {
          held[name]--;
        });
      };
      let finals: FlowRun[] = [];
      await working(client, { limit: 4, name: 'a' }, async (a) => {
        track(a, 'a');
        await working(client, { limit: 4, name: 'b' }, async (b) => {
          track(b, 'b');
          finals = await allFinal(client, runs, 240);
        });
      });
      expect(finals.filter((r) => r.state.type === 'COMPLETED')).toHaveLength(200);
      expect(Math.max(peakHeld.a, peakHeld.b)).toBeLessThanOrEqual(4);
      // The server's truth: from its history, how many runs held a slot (PENDING until final) at once.
      const slots = await Promise.all(
        finals.map(async (run) => {
          const history = await client.flowRuns.history(run.id);
          const from = history.find((s) => s.type === 'PENDING')?.timestamp as string;
          const to = history.find((s) => s.type === 'COMPLETED')?.timestamp as string;
          return { from, to, capped: run.deploymentName === 'capped' };
        }),
      );
      const peak = (intervals: typeof slots) => {
        const edges = intervals.flatMap((i) => [[i.from, 1] as const, [i.to, -1] as const]).sort((x, y) => x[0].localeCompare(y[0]) || x[1] - y[1]);
        let now = 0;
        let max = 0;
        for (const [, step] of edges) {
          now += step;
          max = Math.max(max, now);
        }
        return max;
      };
      expect(peak(slots)).toBeLessThanOrEqual(6);
      expect(peak(slots.filter((s) => !s.capped))).toBeLessThanOrEqual(5);
      expect(peak(slots.filter((s) => s.capped))).toBeLessThanOrEqual(3);
      expect(peak(slots)).toBeGreaterThan(1);
    });
  }, 300_000);
});

describe('worker processes', () => {
  it('two workers on one pool never run the same run', async () => {
    await withSdkServer(async (server, client) => {
      await client.workPools.create({ name: 'local', type: 'process' });
      await client.deployments.upsert(fixtureDeployment('hello', 'quick'));
      const start = (name: string) => {
        const child = spawn(process.execPath, [`${packageDir}/dist/testWorkerMain.js`], {
          env: { ...process.env, DROVER_API_URL: server.url, WORKER_NAME: name, WORKER_LIMIT: '2' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        child.stdout.on('data', (c) => {
          output += c;
        });
        child.stderr.on('data', (c) => {
          output += c;
        });
        return { child, output: () => output, ready: new Promise<void>((r) => child.stdout.on('data', () => output.includes('started') && r())) };
      };
      const workers = [start('w1'), start('w2')];
      await Promise.all(workers.map((w) => w.ready));
      const runs = await Promise.all(Array.from({ length: 24 }, () => client.flowRuns.create({ deployment: 'quick/hello' })));
      const finals = await allFinal(client, runs);
      for (const w of workers) w.child.kill('SIGTERM');
      const codes = await Promise.all(workers.map((w) => once(w.child, 'exit').then(([code]) => code)));
      expect(codes).toEqual([0, 0]);
      expect(finals.map((r) => [r.state.type, r.runCount])).toEqual(runs.map(() => ['COMPLETED', 1]));
      for (const run of finals) {
        const history = await client.flowRuns.history(run.id);
        expect(history.filter((s) => s.type === 'PENDING')).toHaveLength(1);
        expect(history.filter((s) => s.type === 'RUNNING')).toHaveLength(1);
      }
      const byWorker = new Set(finals.map((r) => r.workerName));
      expect([...byWorker].sort()).toEqual(['w1', 'w2']);
    });
  }, 60_000);

  it('a worker started after another died stops the job of a run cancelled meanwhile, by its infrastructure id', async () => {
    await withSdkServer(async (server, client) => {
      await client.workPools.create({ name: 'local', type: 'process' });
      const ready = readyFile();
      await client.deployments.upsert(fixtureDeployment('deaf', 'quick', { jobVariables: { command: ignoresSigterm(ready.path) } }));
      const first = spawn(process.execPath, [`${packageDir}/dist/testWorkerMain.js`], {
        env: { ...process.env, DROVER_API_URL: server.url, WORKER_NAME: 'w1' },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const run = await client.flowRuns.create({ deployment: 'quick/deaf' });
      let infrastructureId: string | null = null;
      while (!infrastructureId) {
        await new Promise((r) => setTimeout(r, 20));
        infrastructureId = (await client.flowRuns.read(run.id)).infrastructureId;
      }
      await ready.written();
      // The worker dies without a word; its job lives on (a child outlives a SIGKILLed parent).
      first.kill('SIGKILL');
      await once(first, 'exit');
      const pid = pidOf(infrastructureId);
      expect(alive(pid)).toBe(true);
      expect((await client.flowRuns.cancel(run.id)).state.type).toBe('CANCELLING');
      await working(client, { name: 'w2', stopGraceSeconds: 0.5 }, async () => {
        const [final] = await allFinal(client, [run], 20);
        expect(final?.state).toMatchObject({ type: 'CANCELLED', message: `Cancelled: worker w2 stopped its job ${infrastructureId}` });
      });
      expect(alive(pid)).toBe(false);
    });
  }, 60_000);

  it("never stops a process its run did not launch, whatever the run's infrastructure id says; the run still ends CANCELLED", async () => {
    await withSdkServer(async (_server, client) => {
      await client.workPools.create({ name: 'local', type: 'process' });
      await client.deployments.upsert(fixtureDeployment('hello', 'quick'));
      const stranger = spawn('sleep', ['60'], { stdio: 'ignore' });
      await once(stranger, 'spawn');
      const pid = stranger.pid as number;
      try {
        // The id names the stranger exactly (pid, start time, boot): only its environment tells it is no job of the run.
        const forged = `process:${hostname()}:${pid}:${startTime(pid)}:${bootId}`;
        const run = await client.flowRuns.create({ deployment: 'quick/hello' });
        const [claimed] = await client.workPools.claimRuns({
          workPoolName: 'local',
          workerName: 'intruder',
          scheduledBefore: new Date(Date.now() + 10_000).toISOString(),
        });
        await client.flowRuns.setInfrastructure({ id: run.id, infrastructureId: forged, claimToken: (claimed as ClaimedFlowRun).claimToken });
        expect((await client.flowRuns.cancel(run.id)).state.type).toBe('CANCELLING');
        await working(client, { name: 'w2', stopGraceSeconds: 0.5 }, async () => {
          const [final] = await allFinal(client, [run], 20);
          expect(alive(pid)).toBe(true);
          expect(final?.state).toMatchObject({
            type: 'CANCELLED',
            message: `Cancelled: worker w2 did not stop ${forged}: process ${pid} is not a job of this run (its environment has no DROVER_FLOW_RUN_ID=${run.id})`,
          });
        });
      } finally {
        stranger.kill('SIGKILL');
      }
    });
  }, 60_000);

  it('on SIGTERM lets a running job finish within the grace period, and reports one that does not as CRASHED', async () => {
    await withSdkServer(async (server, client) => {
      await client.workPools.create({ name: 'local', type: 'process' });
      await client.deployments.upsert(fixtureDeployment('long', 'sleepy'));
      const child = spawn(process.execPath, [`${packageDir}/dist/testWorkerMain.js`], {
        env: { ...process.env, DROVER_API_URL: server.url, WORKER_NAME: 'w1', SHUTDOWN_GRACE: '1' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const short = await client.flowRuns.create({ deployment: 'sleepy/long', parameters: { ms: 300 } });
      const long = await client.flowRuns.create({ deployment: 'sleepy/long', parameters: { ms: 60_000 } });
      for (const run of [short, long]) while ((await client.flowRuns.read(run.id)).state.type !== 'RUNNING') await new Promise((r) => setTimeout(r, 50));
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      expect(code).toBe(0);
      expect((await client.flowRuns.read(short.id)).state.type).toBe('COMPLETED');
      expect((await client.flowRuns.read(long.id)).state).toMatchObject({
        type: 'CRASHED',
        message: 'Worker w1 shut down before the job finished (grace period 1 s)',
      });
    });
  }, 60_000);
});

describe('Worker when its server goes away', () => {
  it('retries polling after short, growing, jittered waits, comes back soon after the server does, and starts over after a success', async () => {
    const home = mkdtempSync(join(tmpdir(), 'drover-restart-'));
    const serve = (port: number) =>
      startServer({ databaseFile: join(home, 'drover.db'), port, logger: pino({ level: 'silent' }), checkpointIntervalMs: 0, services: { enabled: [] } });
    let server: DroverServer = await serve(0);
    const { port } = server;
    const client = new DroverClient({ apiUrl: server.url, apiKey: '' });
    const lines: string[] = [];
    /** The waits the worker announced, in seconds, from line `from` on. */
    const waits = (from = 0) =>
      lines.slice(from).flatMap((line) => /could not poll \(.*\); retrying in (\d+(?:\.\d)?) s$/.exec(line)?.slice(1).map(Number) ?? []);
    const untilWaits = async (count: number, from = 0) => {
      while (waits(from).length < count) await new Promise((r) => setTimeout(r, 10));
    };
    try {
      await working(client, { print: (line) => lines.push(line), pollWaitSeconds: 1 }, async (worker) => {
        await client.deployments.upsert(fixtureDeployment('hello', 'quick'));
        await server.close();
        // Four failed polls: the worker now waits at most 250 ms × 2^3 before its fifth.
        await untilWaits(4);
        server = await serve(port);
        const back = Date.now();
        const launched = once(worker, 'launched');
        const run = await client.flowRuns.create({ deployment: 'quick/hello' });
        await launched;
        expect(Date.now() - back).toBeLessThan(4000);
        expect((await allFinal(client, [run]))[0]?.state.type).toBe('COMPLETED');
        // Each wait is a draw up to its attempt's ceiling (shown rounded to 0.1 s), not a fixed 5 s.
        const ceilings = [0.25, 0.5, 1, 2, 4, 5];
        for (const [attempt, wait] of waits().entries()) expect(wait).toBeLessThanOrEqual((ceilings[attempt] ?? 5) + 0.05);

        // The polls since succeeded: the next outage starts again from the shortest waits.
        const seen = lines.length;
        await server.close();
        await untilWaits(1, seen);
        expect(waits(seen)[0]).toBeLessThanOrEqual(0.3);
        server = await serve(port);
      });
    } finally {
      await server.close();
      rmSync(home, { recursive: true, force: true });
    }
  }, 60_000);
});
