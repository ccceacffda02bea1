import { mkdtempSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DroverClient } from '@drover/client';
import type { DeploymentCreate, FlowRun } from '@drover/schemas';
import { describe, expect, it } from 'vitest';
import { ENGINE_ENTRY, ProcessLauncher } from './launchers/process.js';
import { allFinal, packageDir, withSdkServer, working } from './testHelpers.js';

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
});
