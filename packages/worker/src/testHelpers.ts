// Test helpers (not exported): a server, an SDK client, and deployments of the fixture flows.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DroverClient } from '@drover/client';
import { type DeploymentCreate, type FlowRun, isTerminal } from '@drover/schemas';
import { type DroverServer, withTemporaryServer } from '@drover/server';
import { Worker, type WorkerOptions } from './worker.js';

export const packageDir = fileURLToPath(new URL('..', import.meta.url));

/** A real server over a fresh SQLite file, and an SDK client for it, for `run`; both gone afterwards. */
export function withSdkServer<T>(run: (server: DroverServer, client: DroverClient) => Promise<T>): Promise<T> {
  return withTemporaryServer((server) => run(server, new DroverClient({ apiUrl: server.url, apiKey: '' })));
}

/** A deployment of a fixture flow, run from this package's folder. */
export function fixtureDeployment(name: string, exportName: string, extra: Partial<DeploymentCreate> = {}): DeploymentCreate {
  return {
    flowName: exportName,
    name,
    entrypoint: `src/testFixtures/flows.mjs:${exportName}`,
    workPoolName: 'local',
    ...extra,
    jobVariables: { workingDir: packageDir, ...(extra.jobVariables ?? {}) },
  };
}

/** Runs a worker while `body` runs, then stops it. */
export async function working<T>(client: DroverClient, options: Partial<WorkerOptions>, body: (worker: Worker) => Promise<T>): Promise<T> {
  const worker = new Worker({ workPoolName: 'local', type: 'process', client, pollWaitSeconds: 5, runHeartbeatSeconds: 0.2, print: () => {}, ...options });
  const stopped = worker.start();
  stopped.catch(() => {}); // a failed start rejects `ready` below, with the same error
  await worker.ready;
  try {
    return await body(worker);
  } finally {
    await worker.stop();
    await stopped;
  }
}

/** Waits (long-polls, up to `seconds`) until every run is final; returns them as they are then. */
export async function allFinal(client: DroverClient, runs: readonly FlowRun[], seconds = 60): Promise<FlowRun[]> {
  const deadline = Date.now() + seconds * 1000;
  return Promise.all(
    runs.map(async (run) => {
      let current = run;
      while (!isTerminal(current.state.type) && Date.now() < deadline) current = await client.flowRuns.wait(run.id, Math.min(60_000, deadline - Date.now()));
      return current;
    }),
  );
}

/** The children of `pid` started as warm engines (DROVER_ENGINE_WAIT=ipc in their environment). */
export function warmEngines(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((child) => {
      try {
        return readFileSync(`/proc/${child}/environ`, 'utf8').split('\0').includes('DROVER_ENGINE_WAIT=ipc');
      } catch {
        return false; // ended meanwhile
      }
    });
}
