import { existsSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DroverClient } from '@drover/client';
import type { DeploymentCreate, FlowRun } from '@drover/schemas';
import { describe, expect, it } from 'vitest';
import { ENGINE_ENTRY, ProcessLauncher } from './launchers/process.js';
import { allFinal, packageDir, withSdkServer, working } from './testHelpers.js';
import { shapeOf, WarmPool } from './warmPool.js';

const FLOWS = join(packageDir, 'src/testFixtures/warmFlows.mjs');

/**
 * A deployment of a warm fixture flow (an absolute entrypoint, so any working directory does). Its
 * jobs run in the worker's own working directory, the shape of the engines the worker warms at
 * start, wherever vitest runs from (the package, or the repository root in CI).
 */
function deployment(name: string, exportName: string, jobVariables: Record<string, unknown> = {}): DeploymentCreate {
  const flowName = exportName === 'whereAmI' ? 'where-am-i' : 'waits';
  return { flowName, name, entrypoint: `${FLOWS}:${exportName}`, workPoolName: 'local', jobVariables: { workingDir: process.cwd(), ...jobVariables } };
}

/** The pid in `process:<host>:<pid>:<start time>:<boot id>`. */
const pidOf = (run: FlowRun) => Number(run.infrastructureId?.split(':')[2]);
/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks after boot. */
function startTime(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string;
}

/** Whether `pid`'s environment, from its start, holds `entry` (`NAME=value`). */
const startedWith = (pid: number, entry: string) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(entry);

async function untilRunning(client: DroverClient, run: FlowRun): Promise<FlowRun> {
  for (;;) {
    const now = await client.flowRuns.read(run.id);
    if (now.state.type === 'RUNNING') return now;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Warm engines of a process worker', { timeout: 60_000 }, () => {
  it('hands a run to an engine started before the run was created, with the job’s env, working directory and claim', async () => {
    await withSdkServer(async (_server, client) => {
      const launcher = new ProcessLauncher({ warmProcesses: 1 });
      await working(client, { launchers: { process: launcher } }, async () => {
        const dir = realpathSync(mkdtempSync(join(tmpdir(), 'drover-warm-cwd-')));
        await client.deployments.upsert(deployment('warm', 'whereAmI', { workingDir: dir, env: { WARM_TEST: 'yes' } }));
        // The first run of a shape the pool has not seen starts cold; the pool then starts an engine of that shape.
        const [first] = await allFinal(client, [await client.flowRuns.create({ deployment: 'where-am-i/warm' })]);
        expect(first?.state.type).toBe('COMPLETED');
        const waiting = await launcher.warmPids();
        expect(waiting).not.toContain(pidOf(first as FlowRun));
        const engine = waiting.find((pid) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes('WARM_TEST=yes')) as number;
        expect(engine).toBeDefined();
        const startedAt = startTime(engine);
        // Nothing of a run is in the engine's environment from its start: no run id, no claim token.
        const environ = readFileSync(`/proc/${engine}/environ`, 'utf8').split('\0');
        expect(environ.some((entry) => entry.startsWith('DROVER_FLOW_RUN_ID=') || entry.startsWith('DROVER_CLAIM_TOKEN='))).toBe(false);

        const [run] = await allFinal(client, [await client.flowRuns.create({ deployment: 'where-am-i/warm' })]);
        expect(run?.state.type).toBe('COMPLETED');
        expect(run?.result).toEqual({ pid: engine, cwd: dir, warmTest: 'yes', runIdInEnv: true, hasClaimToken: true, loads: 1, calls: 1 });
        expect(run?.infrastructureId?.split(':')[3]).toBe(startedAt);
        const logs = await client.flowRuns.logs({ flowRunId: run?.id as string });
        expect(logs.map((l) => l.message)).toEqual([`running ${run?.name} in ${engine}`]);
      });
    });
  });

  it('starts a job with a command cold, and leaves the waiting engine alone', async () => {
    await withSdkServer(async (_server, client) => {
      const launcher = new ProcessLauncher({ warmProcesses: 1 });
      await working(client, { launchers: { process: launcher } }, async () => {
        await client.deployments.upsert(deployment('cmd', 'whereAmI', { command: `exec ${process.execPath} ${ENGINE_ENTRY}` }));
        const waiting = await launcher.warmPids();
        expect(waiting).toHaveLength(1);
        const [run] = await allFinal(client, [await client.flowRuns.create({ deployment: 'where-am-i/cmd' })]);
        expect(run?.state.type).toBe('COMPLETED');
        expect(waiting).not.toContain(pidOf(run as FlowRun));
        expect(run?.result).toMatchObject({ pid: pidOf(run as FlowRun), runIdInEnv: true, hasClaimToken: true });
        expect(await launcher.warmPids()).toEqual(waiting);
      });
    });
  });

  it('cancels a warm job as a cold one: SIGTERM to its engine, CANCELLED; a stop by id proves the engine is the run’s', async () => {
    await withSdkServer(async (_server, client) => {
      const launcher = new ProcessLauncher({ warmProcesses: 1 });
      await working(client, { launchers: { process: launcher } }, async () => {
        await client.deployments.upsert(deployment('long', 'waits'));
        const waiting = await launcher.warmPids();
        const run = await untilRunning(client, await client.flowRuns.create({ deployment: 'waits/long', parameters: { ms: 60_000 } }));
        expect(waiting).toContain(pidOf(run));
        // A worker that knows the run only by its id (as after a restart) proves the engine is the run's, and only for that run.
        const other = new ProcessLauncher({ warmProcesses: 0 });
        expect(await other.stopById(run.infrastructureId as string, '0190f3a0-0000-7000-8000-000000000001', 1000)).toMatchObject({ outcome: 'absent' });
        await client.flowRuns.cancel(run.id);
        const [final] = await allFinal(client, [run]);
        expect(final?.state).toMatchObject({ type: 'CANCELLED', message: 'The job was stopped (SIGTERM)' });
      });
    });
  });

  it('stops a warm job by its infrastructure id alone', async () => {
    await withSdkServer(async (_server, client) => {
      const launcher = new ProcessLauncher({ warmProcesses: 1 });
      await working(client, { launchers: { process: launcher } }, async () => {
        await client.deployments.upsert(deployment('long', 'waits'));
        await launcher.warmPids();
        const run = await untilRunning(client, await client.flowRuns.create({ deployment: 'waits/long', parameters: { ms: 60_000 } }));
        const other = new ProcessLauncher({ warmProcesses: 0 });
        expect(await other.stopById(run.infrastructureId as string, run.id, 5000)).toEqual({ outcome: 'stopped' });
        const [final] = await allFinal(client, [run]);
        expect(final?.state.type).toBe('CANCELLED');
      });
    });
  });

  it('reports a SIGKILLed warm engine’s run CRASHED, as a cold job’s', async () => {
    await withSdkServer(async (_server, client) => {
      const launcher = new ProcessLauncher({ warmProcesses: 1 });
      await working(client, { launchers: { process: launcher } }, async () => {
        await client.deployments.upsert(deployment('long', 'waits'));
        const waiting = await launcher.warmPids();
        const run = await untilRunning(client, await client.flowRuns.create({ deployment: 'waits/long', parameters: { ms: 60_000 } }));
        expect(waiting).toContain(pidOf(run));
        // Killed once its line is out, so the worker has it as the last output.
        while ((await client.flowRuns.logs({ flowRunId: run.id })).length === 0) await new Promise((r) => setTimeout(r, 20));
        process.kill(pidOf(run), 'SIGKILL');
        const [final] = await allFinal(client, [run]);
        expect(final?.state).toMatchObject({
          type: 'CRASHED',
          message: `The job was killed by SIGKILL without reporting a final state; last output: waiting in ${pidOf(run)}`,
        });
      });
    });
  });

  it('with reuseProcess, runs the next run of the deployment in the same engine, with the flow still loaded', async () => {
    await withSdkServer(async (_server, client) => {
      const launcher = new ProcessLauncher({ warmProcesses: 1 });
      await working(client, { launchers: { process: launcher } }, async () => {
        await client.deployments.upsert(deployment('again', 'whereAmI', { reuseProcess: true }));
        // (That a first run lands on an engine started before it is the first test's.)
        const [first] = await allFinal(client, [await client.flowRuns.create({ deployment: 'where-am-i/again' })]);
        const [second] = await allFinal(client, [await client.flowRuns.create({ deployment: 'where-am-i/again' })]);
        expect(pidOf(second as FlowRun)).toBe(pidOf(first as FlowRun));
        expect(first?.result).toMatchObject({ loads: 1, calls: 1, runIdInEnv: true, hasClaimToken: true });
        expect(second?.result).toMatchObject({ loads: 1, calls: 2, runIdInEnv: true, hasClaimToken: true });
        // Each run's output is its own.
        const logs = await client.flowRuns.logs({ flowRunId: second?.id as string });
        expect(logs.map((l) => l.message)).toEqual([`running ${second?.name} in ${pidOf(second as FlowRun)}`]);
        // A redeployed deployment's next run gets a new process: the kept one holds the old code.
        await client.deployments.upsert({ ...deployment('again', 'whereAmI', { reuseProcess: true }), description: 'v2' });
        const [third] = await allFinal(client, [await client.flowRuns.create({ deployment: 'where-am-i/again' })]);
        expect(third?.state.type).toBe('COMPLETED');
        expect(pidOf(third as FlowRun)).not.toBe(pidOf(first as FlowRun));
      });
    });
  });

  it('starts engines for the deployments of its pool before their first run, with tsx loaded for a TypeScript one only', async () => {
    // A TypeScript flow in an ES module package of its own, importing the SDK the engine runs (by path: the folder is outside the workspace).
    const project = realpathSync(mkdtempSync(join(tmpdir(), 'drover-warm-ts-')));
    const sdk = createRequire(import.meta.url).resolve('@drover/client');
    writeFileSync(join(project, 'package.json'), '{ "type": "module" }');
    writeFileSync(
      join(project, 'typed.ts'),
      `import { flow } from ${JSON.stringify(sdk)};\nconst pid: number = process.pid;\nexport const typed = flow({ name: 'typed' }, () => ({ pid }));\n`,
    );
    try {
      await withSdkServer(async (_server, client) => {
        await client.workPools.create({ name: 'local', type: 'process' });
        await client.deployments.upsert(deployment('js', 'whereAmI'));
        await client.deployments.upsert({
          flowName: 'typed',
          name: 'ts',
          entrypoint: 'typed.ts:typed',
          workPoolName: 'local',
          jobVariables: { workingDir: project },
        });
        const launcher = new ProcessLauncher({ warmProcesses: 2 });
        await working(client, { launchers: { process: launcher } }, async () => {
          // Ready with the worker: one engine per deployment's shape (two shapes share the pool's two places).
          const waiting = await launcher.warmPids();
          expect(waiting).toHaveLength(2);
          const tsEngine = waiting.find((pid) => readlinkSync(`/proc/${pid}/cwd`) === project) as number;
          const jsEngine = waiting.find((pid) => pid !== tsEngine) as number;
          expect(startedWith(tsEngine, 'DROVER_ENGINE_PRELOAD=typescript')).toBe(true);
          expect(startedWith(jsEngine, 'DROVER_ENGINE_PRELOAD=typescript')).toBe(false);
          expect(readlinkSync(`/proc/${jsEngine}/cwd`)).toBe(process.cwd());

          const [js, ts] = await allFinal(client, [
            await client.flowRuns.create({ deployment: 'where-am-i/js' }),
            await client.flowRuns.create({ deployment: 'typed/ts' }),
          ]);
          expect(js?.result).toMatchObject({ pid: jsEngine, loads: 1 });
          expect(ts?.result).toEqual({ pid: tsEngine });
        });
      });
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  it('with reuseProcess, keeps an engine for each run that ran at once, until it has waited keptIdleSeconds', async () => {
    await withSdkServer(async (_server, client) => {
      const launcher = new ProcessLauncher({ warmProcesses: 1, keptIdleSeconds: 1.5 });
      await working(client, { launchers: { process: launcher } }, async () => {
        await client.deployments.upsert(deployment('kept', 'waits', { reuseProcess: true }));
        // Three runs at once, each in a warm engine: the next starts once the pool's replacement is ready.
        const together: FlowRun[] = [];
        for (let i = 0; i < 3; i++) {
          const waiting = await launcher.warmPids();
          const run = await untilRunning(client, await client.flowRuns.create({ deployment: 'waits/kept', parameters: { ms: 1500 } }));
          expect(waiting).toContain(pidOf(run));
          together.push(run);
        }
        const first = await allFinal(client, together);
        expect(first.map((run) => run.state.type)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED']);
        const engines = new Set(first.map(pidOf));
        expect(engines.size).toBe(3);
        // All three stay (more than the pool's one place): the next three runs at once take them.
        const again = await allFinal(
          client,
          await Promise.all([1, 2, 3].map(() => client.flowRuns.create({ deployment: 'waits/kept', parameters: { ms: 200 } }))),
        );
        expect(new Set(again.map(pidOf))).toEqual(engines);
        // Kept without a run for 1.5 s, they end.
        const deadline = Date.now() + 10_000;
        while ([...engines].some((pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100));
        }
        expect([...engines].filter((pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '))).toEqual([]);
      });
    });
  });

  it('gives an engine to one launch only, when two ask at once while it starts', async () => {
    // No server: the engine's warm-up call fails at once, and it says it is ready anyway.
    const pool = new WarmPool(ENGINE_ENTRY, 1, 60_000);
    const shape = shapeOf(process.cwd(), { DROVER_API_URL: 'http://127.0.0.1:9' }, false);
    try {
      pool.fill([shape]);
      const taken = await Promise.all([pool.take(shape, undefined), pool.take(shape, undefined)]);
      expect(taken.filter((engine) => engine !== undefined)).toHaveLength(1);
      expect(taken[0]?.isReady).toBe(true);
      await taken[0]?.kill(2000);
    } finally {
      await pool.close();
    }
  });
});
