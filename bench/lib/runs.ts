/**
 * Shared by the served-runner benchmarks (client.ts, scaleOut.ts): server processes on one fresh
 * database, a runner serving the bench flows in this process, the time each run's first line ran
 * (on this process's monotonic clock, as the triggers are taken), the open-loop trigger generator,
 * and the check that every run completed. Not a benchmark itself.
 */
import { type DroverClient, Runner, RunnerDeployment } from '@drover/client';
import type { FlowRun } from '@drover/schemas';
import { nap, noop } from '../flows/flows.mjs';
import { type ServerProcess, sleep, startServerProcess } from './harness.js';
import { type StoreKind, withDatabase } from './postgres.js';

/** performance.now() of each run's first line, by run id (set by flows/flows.mjs). */
export const firstLines = new Map<string, number>();
(globalThis as { droverBenchFirstLine?: (id: string) => void }).droverBenchFirstLine = (id) => {
  if (!firstLines.has(id)) firstLines.set(id, performance.now());
};

export const NOOP = 'bench-noop/noop';
export const NAP = 'bench-nap/nap';

/** The bench flows as a runner serves them; `suffix` names another pair of deployments of the same flows. */
export const deployments = (suffix = '') => [
  RunnerDeployment.fromFlow(noop, { name: `noop${suffix}`, entrypoint: 'flows/flows.mjs:noop' }),
  RunnerDeployment.fromFlow(nap, { name: `nap${suffix}`, entrypoint: 'flows/flows.mjs:nap' }),
];

/** At least one server. */
export type Servers = readonly [ServerProcess, ...ServerProcess[]];

/**
 * `count` server processes (lib/serverMain.mjs) on one fresh database, stopped after `body`
 * (except those `body` killed). On PostgreSQL they are replicas sharing the database, started one
 * after another so that the first one alone migrates it; SQLite has one server per file.
 */
export async function withServers<T>(store: StoreKind, count: number, options: { services?: boolean }, body: (servers: Servers) => Promise<T>): Promise<T> {
  const serve = async (postgresUrl?: string) => {
    const servers: ServerProcess[] = [];
    try {
      for (let i = 0; i < count; i++) servers.push(await startServerProcess({ postgresUrl, services: options.services }));
      const [first, ...rest] = servers;
      if (!first) throw new Error(`withServers needs at least one server, not ${count}`);
      return await body([first, ...rest]);
    } finally {
      await Promise.all(servers.filter(({ child }) => child.process.exitCode === null && child.process.signalCode === null).map((server) => server.close()));
    }
  };
  if (store === 'postgres') return withDatabase('drover_bench_runs', [], serve);
  if (count !== 1) throw new Error(`${count} servers cannot share a SQLite file: use --store=postgres for replicas`);
  return serve();
}

/** Starts a runner of the bench flows (limit 1000, `serve()`'s other defaults) and resolves once it serves. */
export async function startRunner(client: DroverClient, suffix = ''): Promise<{ runner: Runner; stopped: Promise<void> }> {
  const lines: string[] = [];
  const runner = new Runner(deployments(suffix), { client, limit: 1000, handleSignals: false, printStartingMessage: false, print: (l) => lines.push(l) });
  const stopped = runner.start().then(() => {
    if (lines.length > 0) console.log(`  runner said: ${lines.slice(0, 5).join(' | ')}`);
  });
  await Promise.race([runner.ready, stopped]);
  return { runner, stopped };
}

/** Waits until `count()` reaches `expected` and `runner` holds nothing (bounded by `seconds`). */
export async function untilDone(runner: Runner, count: () => number, expected: number, seconds: number): Promise<void> {
  const deadline = performance.now() + seconds * 1000;
  while (count() < expected || runner.running > 0) {
    if (performance.now() > deadline) throw new Error(`only ${count()} of ${expected} runs started (${runner.running} still running) after ${seconds} s`);
    await sleep(2);
  }
}

/** Every run of `deploymentId` COMPLETED, and a sample's history in full. */
export async function checkCompleted(client: DroverClient, deploymentId: string, expected: number): Promise<void> {
  let completed = 0;
  const sample: FlowRun[] = [];
  for (let offset = 0; offset < expected + 1000; offset += 1000) {
    const page = await client.flowRuns.list({ deploymentId, states: ['COMPLETED'], page: { limit: 1000, offset } });
    completed += page.length;
    if (sample.length < 20) sample.push(...page.slice(0, 20 - sample.length));
    if (page.length < 1000) break;
  }
  if (completed !== expected) throw new Error(`${completed} of ${expected} runs COMPLETED`);
  for (const run of sample) {
    const types = (await client.flowRuns.history(run.id)).map((s) => s.type).join(' → ');
    if (types !== 'SCHEDULED → PENDING → RUNNING → COMPLETED') throw new Error(`run ${run.name} has history ${types}`);
  }
}

export async function deploymentId(client: DroverClient, name: string): Promise<string> {
  return (await client.deployments.read(name)).id;
}

/**
 * Creates a run with `create` every 1000/`rate` ms for `seconds`, open loop (not waiting for
 * answers, catching up if a timer fires late), and waits for every run's first line. Each run's
 * trigger → first line is measured from the time its create was due to be sent, so a late
 * generator counts against us; `lag` is the generator's worst lateness.
 */
export async function openLoop(runner: Runner, create: () => Promise<FlowRun>, rate: number, seconds: number): Promise<{ latencies: number[]; lag: number }> {
  const interval = 1000 / rate;
  const total = Math.round(rate * seconds);
  const triggers = new Map<string, number>();
  const creates: Promise<void>[] = [];
  let lag = 0;
  const t0 = performance.now() + 5;
  for (let sent = 0; sent < total; ) {
    const now = performance.now();
    // Send every create whose time has come (a late timer sends several), then sleep to the next.
    while (sent < total && t0 + sent * interval <= now) {
      const due = t0 + sent * interval;
      lag = Math.max(lag, now - due);
      creates.push(create().then((run) => void triggers.set(run.id, due)));
      sent++;
    }
    await sleep(Math.max(0, t0 + sent * interval - performance.now()));
  }
  await Promise.all(creates);
  // Bounded generously: a store slower than `rate` leaves a backlog for the runner to work off.
  await untilDone(runner, () => [...triggers.keys()].filter((id) => firstLines.has(id)).length, total, 300);
  return { latencies: [...triggers].map(([id, due]) => (firstLines.get(id) as number) - due), lag };
}
